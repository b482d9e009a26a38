"""executor.gc_scope: during an extraction the objects alive at its start are out of the cyclic
collector's passes (gc.freeze), and after it nothing stays frozen."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from executor.gc_scope import startup_heap_frozen
from executor.metadata.extractor import MetadataExtractor
from executor.settings import Settings


@pytest.fixture(autouse=True)
def _unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_an_extraction_runs_with_the_startup_heap_frozen_and_leaves_nothing_frozen(tmp_path: Path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.csv").write_text("id,name\n1,a\n2,b\n")
    startup = [[]]  # tracked by the collector, alive before the run
    seen: list[int] = []
    result = MetadataExtractor(None, Settings(io_threads=2)).extract_metadata(
        str(tmp_path), progress=lambda *_args: seen.append(gc.get_freeze_count()))
    assert result.tables[0].row_count == 2
    assert seen and min(seen) > 0  # frozen while the tables were extracted
    assert gc.get_freeze_count() == 0 and gc.is_tracked(startup)


def test_the_last_of_concurrent_extractions_unfreezes():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    counts: dict[str, int] = {}

    def first() -> None:
        with startup_heap_frozen():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with startup_heap_frozen():
            second_in.set()
            first_out.wait(10)
            counts["after the first left"] = gc.get_freeze_count()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert counts["after the first left"] > 0
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_the_process_itself_is_left_frozen():
    gc.freeze()
    frozen = gc.get_freeze_count()
    with startup_heap_frozen():
        pass
    assert gc.get_freeze_count() == frozen > 0
