"""The Delta profile's read-ahead (readers/delta.py _ReadAhead) when the profile opens its files from
several pool threads at once, in any order: every open gets its own file's bytes, whole."""

from __future__ import annotations

import io
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from executor.metadata.readers.delta import _ReadAhead


class SlowStore:
    kind = "memory"

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.opened: list[str] = []
        self._lock = threading.Lock()

    def open(self, uri: str) -> io.BytesIO:
        with self._lock:
            self.opened.append(uri)
        time.sleep(random.random() / 500)  # a fetch that takes a while, so opens overlap
        return io.BytesIO(self.files[uri])


def test_concurrent_opens_in_any_order_each_get_their_own_bytes():
    rnd = random.Random(7)
    files = {f"f{i:03d}": bytes([i % 251]) * (100 + i) for i in range(60)}
    for trial in range(20):
        store = SlowStore(files)
        with ThreadPoolExecutor(8) as pool:
            ahead = _ReadAhead(store, pool, [(u, len(b)) for u, b in files.items()], 4).start()  # type: ignore[arg-type]
            order = list(files)
            rnd.shuffle(order)
            with ThreadPoolExecutor(6) as readers:
                got = dict(zip(order, readers.map(lambda u, a=ahead: a.open(u).read(), order)))
            ahead.close()
        assert got == files, trial
