"""Tables whose extraction starts during the facts step (readers.base.EarlyTables, CsvReader.prepare,
ParquetReader.prepare, OrcReader.prepare): the early result is taken only for a table with exactly
the files it was read for, work not started is cancelled, failed work is done again by the table
step (a decoder crash excepted: that is the table's verdict), and an extraction gives what it gives
without early tables (a folder the schema split divides, a sample left to Spark, early work that fails)."""

from __future__ import annotations

import threading
from concurrent.futures import wait
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from executor.metadata import extractor as extractor_module
from executor.metadata.extractor import MetadataExtractor
from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.readers.base import EarlyTables
from executor.metadata.readers.csv import CsvReader
from executor.settings import Settings
from executor.sources.base import FileInfo

SETTINGS = Settings(io_threads=4, infer_sample_files=3, infer_sample_records=40, profile_max_rows=60)


def plan(*uris: str) -> TablePlan:
    return TablePlan(folder="t", file_format="csv", partition_keys=(), name="t",
                     files=[PlannedFile(FileInfo(relative=u, uri=u, size=1)) for u in uris])


def test_a_result_is_taken_once_and_only_for_the_same_files():
    with EarlyTables(workers=1) as early:
        early.offer(plan("a", "b"), lambda: 42)
        assert early.take(plan("a")) is None and early.take(plan("b", "a")) is None  # other files: not this table
        assert early.take(plan("a", "b")) == 42 and early.taken == 1
        assert early.take(plan("a", "b")) is None  # taken: the table step of another run does its own


def test_work_not_started_is_cancelled_and_failed_work_gives_none():
    gate = threading.Event()
    ran: list[str] = []
    with EarlyTables(workers=1) as early:
        early.offer(plan("slow"), lambda: (gate.wait(10), ran.append("slow"))[1])
        early.offer(plan("queued"), lambda: ran.append("queued"))
        early.offer(plan("broken"), lambda: 1 / 0)
        assert early.take(plan("queued")) is None  # behind the running one: cancelled, the table step does it
        gate.set()
        assert early.take(plan("slow")) is None  # ran (append gives None): nothing to use
        assert early.take(plan("broken")) is None  # failed: done again where its error fails the table
        assert early.taken == 0
    assert ran == ["slow"]


def test_close_cancels_what_was_not_taken_and_refuses_more():
    gate = threading.Event()
    ran: list[str] = []
    early = EarlyTables(workers=1)
    early.offer(plan("running"), lambda: (gate.wait(10), ran.append("running")))
    early.offer(plan("never"), lambda: ran.append("never"))
    # the gate opens only after close() has cancelled the queued work (it then waits for the running one)
    threading.Timer(0.2, gate.set).start()
    early.close()
    early.offer(plan("late"), lambda: ran.append("late"))
    assert ran == ["running"] and early.take(plan("late")) is None


# ---------------------------------------------------------------------- whole extractions


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


def lake(root: Path) -> None:
    for t in range(4):  # plain tables of 5 files, their windows read early
        for f in range(5):
            rows = "".join(f"{t * 1000 + f * 20 + r},n{r % 7},{r * 1.5},2024-01-{r % 28 + 1:02d}\n" for r in range(20))
            write(root / f"t{t}" / f"part-{f}.csv", "id,name,amount,day\n" + rows)
    # one folder, two headers: the schema split makes two tables, each read early on its own files
    for f in range(3):
        write(root / "mixed" / f"a-{f}.csv", "id,x\n" + "".join(f"{f}{r},{r}\n" for r in range(10)))
        write(root / "mixed" / f"b-{f}.csv", "key;y;z\n" + "".join(f"k{r};{r};{r % 2 == 0}\n" for r in range(10)))
    # a time zone the ported rules leave to Spark (no Spark here: the table fails, early or not)
    write(root / "zoned" / "z.csv", "ts\n2021-01-16 15:12:51 Mars/Olympus\n")


class Recording(EarlyTables):
    made: list[Recording] = []

    def __init__(self, workers: int | None = None) -> None:
        super().__init__(workers)
        self.offered: list[tuple[str, ...]] = []
        Recording.made.append(self)

    def offer(self, plan: TablePlan, work):  # type: ignore[no-untyped-def]
        self.offered.append(self.key(plan))
        super().offer(plan, work)

    def take(self, plan: TablePlan):  # type: ignore[no-untyped-def]
        fut = self._futures.get(self.key(plan))
        if fut is not None:  # each table's early work runs to its end first (the test does not race it)
            wait([fut])
        return super().take(plan)


def comparable(result):  # type: ignore[no-untyped-def]
    out = []
    for t in result.tables:
        d = asdict(t)
        d.pop("extraction_duration_ms", None)
        out.append(d)
    return out


def test_an_extraction_with_early_tables_equals_one_without(tmp_path, monkeypatch):
    lake(tmp_path)
    real = CsvReader._read_window

    def read_window(self, ctx, plan, dialect, files):  # type: ignore[no-untyped-def]
        if plan.folder == "t1" and threading.current_thread().name.startswith("nuvyn-early"):
            raise RuntimeError("early work failed")  # the table step reads the window again
        return real(self, ctx, plan, dialect, files)

    monkeypatch.setattr(CsvReader, "_read_window", read_window)
    monkeypatch.setattr(extractor_module, "EarlyTables", Recording)
    Recording.made.clear()
    early = MetadataExtractor(None, SETTINGS).extract_metadata(str(tmp_path))
    made = Recording.made[-1]
    monkeypatch.setattr(CsvReader, "prepare", lambda self, ctx, plan, facts: None)
    plain = MetadataExtractor(None, SETTINGS).extract_metadata(str(tmp_path))
    assert comparable(early) == comparable(plain)
    by_name = {t.table_name: t for t in early.tables}
    assert [n for n, t in by_name.items() if t.status != "ok"] == ["zoned"]
    assert "Spark" in (by_name["zoned"].error_message or "")  # left to Spark early too: no Spark here
    assert sum(1 for n in by_name if n.startswith("mixed")) == 2  # the schema split: two tables
    # every table the schema split makes was offered (`mixed` as its two tables, each of its own
    # files); t0, t2, t3 and both `mixed` tables were taken; t1 failed early; `zoned` was left to Spark
    assert len(made.offered) == 7 and made.taken == 5


@pytest.mark.parametrize("change", [
    {"inference": "spark"},  # Spark infers: nothing early (no Spark in the facts step)
    {"infer_sample_records": 0},  # the full-scan path: Spark reads every record
])
def test_nothing_starts_early_when_spark_infers(tmp_path, monkeypatch, change):
    lake(tmp_path)
    monkeypatch.setattr(extractor_module, "EarlyTables", Recording)
    Recording.made.clear()
    MetadataExtractor(None, replace(SETTINGS, **change)).extract_metadata(str(tmp_path / "t0"))
    assert Recording.made[-1].offered == []


def test_a_big_file_in_the_sample_is_left_to_the_table_step(tmp_path, monkeypatch):
    # its first range is shared by its count and its sample, and its count starts in the table step
    monkeypatch.setattr("executor.metadata.readers.csv.COUNT_WITH_FACTS_BYTES", 100)
    write(tmp_path / "big" / "a.csv", "id,v\n" + "".join(f"{i},{i}\n" for i in range(100)))
    monkeypatch.setattr(extractor_module, "EarlyTables", Recording)
    Recording.made.clear()
    result = MetadataExtractor(None, SETTINGS).extract_metadata(str(tmp_path))
    assert result.tables[0].row_count == 100 and Recording.made[-1].offered == []


def footer_lake(root: Path, fmt: str = "parquet") -> None:
    """Tables whose types come from their footers (Parquet or ORC): plain ones, a folder of two
    schemas, a partitioned one."""
    import pyarrow as pa
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    def put(table: pa.Table, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        (pq.write_table if fmt == "parquet" else orc.write_table)(table, path.with_suffix(f".{fmt}"))

    for t in range(3):  # plain tables, their windows read early (the first files' 60 rows)
        for f in range(4):
            n = 25 + 5 * f
            put(pa.table({"id": list(range(t * 1000 + f * 100, t * 1000 + f * 100 + n)),
                          "name": [f"n{i % 9}" if i % 6 else None for i in range(n)],
                          "score": [i / 4 for i in range(n)]}), root / f"p{t}" / f"part-{f}")
    for f in range(2):  # one folder, two schemas: two tables, each read early on its own files
        put(pa.table({"a": [f, f + 1]}), root / "mixed" / f"a-{f}")
        put(pa.table({"b": ["x", "y"], "c": [1.5, None]}), root / "mixed" / f"b-{f}")
    for day in ("2024-01-01", "2024-01-02"):  # partitioned: data columns early, partition columns after
        put(pa.table({"v": [1, 2, 3]}), root / "events" / f"day={day}" / "part-0")


@pytest.mark.parametrize("fmt", ["parquet", "orc"])
def test_footer_windows_read_early_equal_the_table_steps(tmp_path, monkeypatch, fmt):
    """ParquetReader.prepare and OrcReader.prepare: each table's samples and profiles read during
    the facts step are what the table step reads (also the table whose early read fails, read
    again there)."""
    from executor.metadata.readers import arrow as arrow_reader
    from executor.metadata.readers.orc import OrcReader
    from executor.metadata.readers.parquet import ParquetReader

    footer_lake(tmp_path, fmt)
    real = arrow_reader.read_window

    def read_window(ctx, table_name, uris, *args, **kwargs):  # type: ignore[no-untyped-def]
        if "/p1/" in uris[0] and threading.current_thread().name.startswith("nuvyn-early"):
            raise RuntimeError("early work failed")  # the table step reads the window again
        return real(ctx, table_name, uris, *args, **kwargs)

    monkeypatch.setattr(arrow_reader, "read_window", read_window)
    monkeypatch.setattr(extractor_module, "EarlyTables", Recording)
    Recording.made.clear()
    early = MetadataExtractor(None, SETTINGS).extract_metadata(str(tmp_path))
    made = Recording.made[-1]
    monkeypatch.setattr(ParquetReader if fmt == "parquet" else OrcReader, "prepare",
                        lambda self, ctx, plan, facts: None)
    plain = MetadataExtractor(None, SETTINGS).extract_metadata(str(tmp_path))
    assert comparable(early) == comparable(plain)
    assert all(t.status == "ok" for t in early.tables) and len(early.tables) == 6
    by_name = {t.table_name: t for t in early.tables}
    assert [c.distinct_count for c in by_name["p0"].columns] == [60, 9, 30]  # the window: the first 60 rows
    assert [c.column_name for c in by_name["events"].columns] == ["v", "day"]
    # p0, p2, both `mixed` tables and `events` taken; p1 failed early
    assert len(made.offered) == 6 and made.taken == 5


def test_a_parquet_window_read_early_is_not_used_for_other_notes(tmp_path, monkeypatch):
    """The early read is used only when it answers what the table step would ask (the same files,
    columns, rows and notes before the read): a note the table got meanwhile makes it read again."""
    from executor.metadata.readers.arrow import ArrowWindowRead

    read = ArrowWindowRead(["u1"], [("a", "int")], 10, {})
    assert read.answers(["u1"], [("a", "int")], 10, {})
    assert not read.answers(["u1"], [("a", "int")], 10, {"*": "a table note"})
    assert not read.answers(["u1", "u2"], [("a", "int")], 10, {})
    assert not read.answers(["u1"], [("a", "bigint")], 10, {})
    assert not read.answers(["u1"], [("a", "int")], 11, {})


def test_a_decoder_crash_in_an_early_read_fails_the_table_without_a_second_crash(tmp_path, monkeypatch):
    """A window read early whose decoder crashes (a hostile file: a sandbox worker killed by a signal)
    fails its table with that verdict; the table step does not read the same bytes again (another
    worker crashed and restarted for nothing). The other tables are untouched."""
    from executor.metadata.readers import arrow as arrow_reader
    from executor.sandbox.pool import ReaderCrashed

    footer_lake(tmp_path)
    real = arrow_reader.read_window
    reads: list[str] = []
    verdict = ("the Parquet reader crashed (SIGSEGV) reading p1/part-0.parquet; the file is corrupt or hostile "
               "(it killed the decoder)")

    def read_window(ctx, table_name, uris, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(uris[0])
        if "/p1/" in uris[0]:
            raise ReaderCrashed(verdict, path="p1/part-0.parquet", reader="Parquet reader", signal_name="SIGSEGV")
        return real(ctx, table_name, uris, *args, **kwargs)

    monkeypatch.setattr(arrow_reader, "read_window", read_window)  # the early read and the table step's
    monkeypatch.setattr(extractor_module, "EarlyTables", Recording)
    Recording.made.clear()
    result = MetadataExtractor(None, SETTINGS).extract_metadata(str(tmp_path))
    by_name = {t.table_name: t for t in result.tables}
    assert by_name["p1"].status == "failed" and by_name["p1"].error_message == verdict
    assert sum("/p1/" in u for u in reads) == 1  # read once, early; the table step took the verdict
    assert all(t.status == "ok" for n, t in by_name.items() if n != "p1") and len(by_name) == 6
    assert Recording.made[-1].taken == 6
