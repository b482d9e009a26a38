"""Run independent reads in the run's thread pool, safely from inside that same pool.

`fan_out(pool, fn, items)` returns `[fn(item) for item in items]`, in order, with the items run
by the pool's idle threads and by the caller at the same time: the caller does not block while
work it waits for sits in the pool's queue. Each item is claimed once, by whichever thread
reaches it first (a pool thread or the caller walking the list), so a caller that is itself a
pool thread (a CSV count fanned out into ranges, a table extracted in the pool) never waits for a
queue that only it could drain: no deadlock whatever the pool size, and the pool's idle threads
add parallelism when there are some. The first item's error (in item order) is raised once
every claimed item has finished; items nobody started yet are dropped after an error.

Pure: threads only (no Spark, Azure or HTTP).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any


class _Item:
    __slots__ = ("arg", "claim", "done", "result", "error")

    def __init__(self, arg: Any) -> None:
        self.arg = arg
        self.claim = threading.Lock()
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


def fan_out(pool: Executor | None, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """[fn(item) for item in items], run concurrently in `pool` and the calling thread."""
    if pool is None or len(items) <= 1:
        return [fn(item) for item in items]
    work = [_Item(item) for item in items]
    failed = threading.Event()

    def run(it: _Item) -> None:
        if not it.claim.acquire(blocking=False):
            return  # another thread has it
        try:
            if not failed.is_set():
                it.result = fn(it.arg)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            it.error = exc
            failed.set()
        finally:
            it.done.set()

    for it in work[1:]:  # the caller starts on the first item at once
        try:
            pool.submit(run, it)
        except RuntimeError:  # the pool is shut down: the caller runs the rest itself
            break
    for it in work:
        run(it)
    for it in work:
        it.done.wait()
    for it in work:
        if it.error is not None:
            raise it.error
    return [it.result for it in work]
