"""A file deleted, or refused by the file system, after the facts step read it and before its table's
own read fails that table, not the run, with the facts step's message: the file named by its path in
the source (never the machine's path), "disappeared after listing" or "not readable"."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest

from executor.metadata.extractor import MetadataExtractor
from executor.metadata.grouping import PlannedFile
from executor.metadata.plan import default_store_factory, file_named, read_error
from executor.settings import Settings
from executor.sources.base import FileInfo
from executor.sources.local import ConfinedRoot, LocalFileStore


def _lake(root: Path) -> Path:
    for name in ("gone_csv", "locked_csv", "kept_csv"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            (root / name / f"part-{i}.csv").write_text("id,name\n" + "".join(f"{j},n{j}\n" for j in range(5)))
    for name in ("gone_pq", "kept_pq"):
        (root / name).mkdir()
        for i in range(3):
            pq.write_table(pa.table({"x": [i, i + 1]}), root / name / f"part-{i}.parquet")
    (root / "gone_orc").mkdir()
    (root / "gone_avro").mkdir()
    for i in range(3):
        orc.write_table(pa.table({"x": pa.array([i, i + 1], pa.int64())}), root / "gone_orc" / f"part-{i}.orc")
        with (root / "gone_avro" / f"part-{i}.avro").open("wb") as fh:
            fastavro.writer(fh, {"type": "record", "name": "r", "fields": [{"name": "x", "type": "long"}]},
                            [{"x": i}, {"x": i + 1}])
    return root


def _watched(store, root: Path, before_open):
    """`store` whose open() first calls before_open(path below root, its open count so far + 1, uri)."""
    real = store.open
    opens: Counter = Counter()

    def open_(uri):
        rel = os.path.relpath(uri, root)
        opens[rel] += 1
        before_open(rel, opens[rel], uri)
        return real(uri)

    store.open = open_
    return store


def _second_open_fails(root: Path):
    """The store's open(): from its second open on (the first is the facts step's), part-1 of a
    gone_* table is deleted, of a locked_* table refused (the tests run as root: the refusal is
    simulated)."""
    def before_open(rel, n, uri):
        if n >= 2 and rel.rsplit("/", 1)[-1].startswith("part-1."):
            if rel.startswith("gone_") and n == 2:
                (root / rel).unlink()
            elif rel.startswith("locked_"):
                raise PermissionError(13, "Permission denied", uri)

    return lambda location, settings: _watched(default_store_factory(location, settings), root, before_open)


def test_a_file_gone_or_refused_after_its_facts_fails_its_table_by_name(tmp_path):
    root = _lake(tmp_path / "lake")
    result = MetadataExtractor(None, Settings(io_threads=4),
                               store_factory=_second_open_fails(root)).extract_metadata(str(root))
    tables = {t.table_name: t for t in result.tables}
    failed = {n: t.error_message for n, t in tables.items() if t.status == "failed"}
    assert failed == {"gone_csv": "gone_csv/part-1.csv disappeared after listing",
                      "gone_pq": "gone_pq/part-1.parquet disappeared after listing",
                      "gone_orc": "gone_orc/part-1.orc disappeared after listing",
                      "gone_avro": "gone_avro/part-1.avro disappeared after listing",
                      "locked_csv": "locked_csv/part-1.csv is not readable (permission denied)"}
    assert all(str(tmp_path) not in m for m in failed.values())
    assert tables["kept_csv"].row_count == 15 and tables["kept_pq"].row_count == 6


def _planned(relative: str, uri: str) -> PlannedFile:
    return PlannedFile(FileInfo(relative, uri, 10))


@pytest.mark.parametrize("filename, where", [
    ("/data/lake/t/a.csv", "t/a.csv"),  # the uri the store's open was given
    ("a.csv", None),  # not a uri of the table's files
    ("/data/lake/u", None),  # a folder on the way
    (None, None),  # the store's own error (its message names the file)
])
def test_an_os_error_names_the_file_by_its_path_in_the_source(filename, where):
    files = [_planned("t/a.csv", "/data/lake/t/a.csv"), _planned("u/a.csv", "/data/lake/u/a.csv")]
    assert file_named(files, FileNotFoundError(2, "No such file or directory", filename)) == where


def test_a_confined_store_names_a_gone_partition_file_by_its_path(tmp_path):
    """A job of the API reads through a store confined to its root, whose open walks the path with
    openat: the file it cannot open is named by the path asked for, not by the last component it
    reached (a name every partition's files share here)."""
    root = tmp_path / "lake"
    for day in ("d=1", "d=2"):
        (root / "events" / day).mkdir(parents=True)
        pq.write_table(pa.table({"x": [1, 2]}), root / "events" / day / "part-0.parquet")

    def before_open(rel, n, uri):
        if rel == "events/d=2/part-0.parquet" and n == 2:  # the facts step's open, then the window's
            (root / rel).unlink()

    def factory(location, settings):
        return _watched(LocalFileStore(str(root), confined=ConfinedRoot(str(root))), root, before_open)

    result = MetadataExtractor(None, Settings(io_threads=2, profile_max_rows=3),
                               store_factory=factory).extract_metadata(str(root))
    (events,) = result.tables
    assert (events.status, events.error_message) == ("failed", "events/d=2/part-0.parquet disappeared after listing")
    with pytest.raises(FileNotFoundError) as gone:
        LocalFileStore(str(root), confined=ConfinedRoot(str(root))).open(str(root / "events/d=3/part-0.parquet"))
    assert gone.value.filename == str(root / "events/d=3/part-0.parquet")


def test_read_error_says_gone_or_unreadable_and_nothing_for_other_errors():
    assert read_error(FileNotFoundError(2, "x"), "t/a.csv") == "t/a.csv disappeared after listing"
    assert read_error(PermissionError(13, "x"), "t/a.csv") == "t/a.csv is not readable (permission denied)"
    assert read_error(IsADirectoryError(21, "x"), "t/a.csv") is None
    assert read_error(ValueError("x"), "t/a.csv") is None
