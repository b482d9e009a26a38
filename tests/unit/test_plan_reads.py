"""How plan_source reads file facts: started while the listing goes on (a few waiting for the pool at
a time, not one future per listed file), then collected in order with a bounded window submitted ahead."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from executor.metadata import plan as plan_module
from executor.metadata.plan import plan_source
from executor.settings import Settings
from executor.sources.local import LocalFileStore
from tests.servers import wait_budget


def _lake(root: Path, files: int) -> None:
    (root / "t").mkdir(parents=True)
    for i in range(files):
        pq.write_table(pa.table({"id": [i, i + 1]}), root / "t" / f"part-{i:04d}.parquet")


class _Calls:
    """plan.file_facts wrapped: the files whose facts were asked for, in order (any thread)."""

    def __init__(self, monkeypatch, before=None) -> None:
        self.names: list[str] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        real = plan_module.file_facts

        def wrapped(reader, ctx, pf, file_format, sample_rows):
            with self.lock:
                self.names.append(pf.info.name)
                self.changed.notify_all()
            if before is not None:
                before(pf.info.name)
            return real(reader, ctx, pf, file_format, sample_rows)

        monkeypatch.setattr(plan_module, "file_facts", wrapped)

    def wait_for(self, predicate) -> bool:
        with self.lock:
            return self.changed.wait_for(lambda: predicate(self.names), timeout=wait_budget(30))


def test_facts_start_while_the_listing_goes_on(tmp_path, monkeypatch):
    """The listing yields its last file only once the first file's facts have started: with reads
    that wait for the whole listing, it would wait in vain."""
    _lake(tmp_path, 5)
    calls = _Calls(monkeypatch)
    started_during_listing: list[bool] = []

    class Store(LocalFileStore):
        def list_files(self, prune):
            files = list(super().list_files(prune))
            yield from files[:-1]
            started_during_listing.append(calls.wait_for(lambda names: len(names) > 0))
            yield files[-1]

    source = plan_source(str(tmp_path), settings=Settings(io_threads=2),
                         store_factory=lambda location, settings: Store(str(tmp_path)))
    assert started_during_listing == [True]
    assert sorted(calls.names) == [f"part-{i:04d}.parquet" for i in range(5)]  # each file read once
    assert [t.name for t in source.tables] == ["t"] and all(f.rows == 2 for f in source.facts.values())


def test_early_facts_wait_for_room_and_the_rest_are_read_a_window_ahead(tmp_path, monkeypatch):
    """One pool thread, held on the first file: the listing starts as many facts as may wait for it
    (max(16, 2 x threads) = 16, plus the one running), not one per listed file; read_file_facts then
    submits at most its window (max(64, 4 x threads) = 64) beyond the file it collects."""
    files = 120
    _lake(tmp_path, files)
    gate = threading.Event()
    calls = _Calls(monkeypatch, before=lambda name: name == "part-0000.parquet" and gate.wait(wait_budget(30)))
    submitted = [0]
    early: list[int] = []

    class CountingPool(plan_module.ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            submitted[0] += 1
            return super().submit(fn, *args, **kwargs)

    real_unused = plan_module.EarlyReads.unused

    def unused(self, used):  # called once the listing is grouped: what it started is known
        early.append(len(self.facts))
        return real_unused(self, used)

    monkeypatch.setattr(plan_module, "ThreadPoolExecutor", CountingPool)
    monkeypatch.setattr(plan_module.EarlyReads, "unused", unused)
    done: list[object] = []
    t = threading.Thread(target=lambda: done.append(plan_source(str(tmp_path), settings=Settings(io_threads=1))),
                         daemon=True)
    t.start()
    deadline = time.monotonic() + wait_budget(30)
    while submitted[0] < 65 and time.monotonic() < deadline:  # files 0-64: the first one and its window
        time.sleep(0.01)
    time.sleep(0.3)  # the collector waits for file 0: nothing more is submitted (without a window: all 120)
    assert early[:1] in ([16], [17]) and submitted[0] == 65, (early, submitted)
    gate.set()
    t.join(wait_budget(60))
    assert done and sorted(calls.names) == [f"part-{i:04d}.parquet" for i in range(files)]  # each read once
    assert submitted[0] == files and len(done[0].facts) == files  # type: ignore[attr-defined]
