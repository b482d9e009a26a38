"""The cyclic garbage collector during an extraction: the objects alive when it starts are left out.

A job process imports pyarrow, pandas, numpy, the Azure SDK and pyspark before it extracts: a few
hundred thousand objects the collector tracks and that live as long as the process. A run allocates
enough to trigger full (generation 2) collections, and each one traversed all of them with the GIL
held: 30-65 ms a collection in the remote bench's CSV and Parquet parts (`gc.callbacks`, fresh
workers), in which every other Python thread of the run waits. `startup_heap_frozen` moves the
objects alive at the start of the first extraction of the process into the collector's permanent
generation (`gc.freeze`) and back when the last one ends (`gc.unfreeze`): collections during the run
traverse only what the run made, and nothing is kept from collection after it. Reference counting
frees objects as always; only cyclic garbage among the frozen objects waits for the run's end. A
process that froze its heap itself (a pre-forking server) is left as it is.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_LOCK = threading.Lock()
_STATE = {"depth": 0, "ours": False}


@contextlib.contextmanager
def startup_heap_frozen() -> Iterator[None]:
    """Within it (an extraction; usable as a decorator), the objects alive when the outermost one
    started are not traversed by the collector. Safe from many threads at once: the first to enter
    freezes, the last to leave unfreezes."""
    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["ours"] = gc.get_freeze_count() == 0  # someone else's freeze is theirs to undo
            if _STATE["ours"]:
                gc.freeze()
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0 and _STATE["ours"]:
                gc.unfreeze()
                _STATE["ours"] = False
