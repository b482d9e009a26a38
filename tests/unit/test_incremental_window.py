"""Incremental runs of changed tables (executor.metadata.window, executor.metadata.incremental): complete
per-file records (Parquet statistics with typed values, ORC facts) and the window rule, proved without a
JVM by extractions of a lake whose tables are larger than their window, each compared with a full run."""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest

from executor.metadata import incremental as inc
from executor.metadata.extractor import MetadataExtractor
from executor.metadata.model import FileRecord, MetadataResult
from executor.metadata.plan import default_store_factory
from executor.metadata.profile import PROFILE_EXACT, PROFILE_SAMPLED, ColumnProfile
from executor.metadata.readers.json import JsonFacts
from executor.metadata.readers.xml import XmlFacts
from executor.metadata.window import WINDOW_FORMAT, Window, WindowSlot
from executor.settings import Settings
from executor.storage import rows as R
from executor.storage import schema as S

# tables larger than their window: 2 files of 30 rows fill a window of 50 rows (Parquet, ORC) and the CSV
# inference sample reads at most 2 files
SMALL_WINDOW = Settings(io_threads=2, profile_max_rows=50, infer_sample_files=2, infer_sample_records=50)


# ---------------------------------------------------------------------- values and records


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**70, "", "text é \u2028", 1.5, -0.0, math.inf, -math.inf, 1e-310,
    b"", b"\x00\xff", Decimal("12.340"), Decimal("-1E+5"), Decimal("0.000001"), date(1, 1, 1), date(9999, 12, 31),
    time(23, 59, 59, 999999), datetime(2024, 2, 29, 1, 2, 3, 4), datetime(2024, 1, 1, tzinfo=timezone.utc),
    datetime(2024, 1, 1, 5, tzinfo=timezone(timedelta(hours=-3))),
])
def test_statistics_values_cross_json_losslessly(value):
    back = inc.decode_value(json.loads(json.dumps(inc.encode_value(value))))
    assert type(back) is type(value) and back == value
    if isinstance(value, (float, Decimal)):
        assert str(back) == str(value)  # -0.0 stays -0.0, Decimal keeps its exponent
    if isinstance(value, datetime):
        assert back.tzinfo == value.tzinfo


def test_a_nan_statistic_crosses_json_and_other_values_are_refused():
    assert math.isnan(inc.decode_value(json.loads(json.dumps(inc.encode_value(math.nan)))))
    with pytest.raises(TypeError):
        inc.encode_value(object())


def test_an_older_record_format_is_read_again():
    r = FileRecord("t", "t/a.parquet", 10, 1, None, "parquet", None, 1, "v", "f",
                   facts_json=inc.dump_facts({"signature": ["parquet", [["a", "int"]]], "rows": 3}))
    assert inc.restore(r) is None  # format 1 held no statistics: read, never half-restored
    r.facts_json = inc.dump_facts({**(r.facts or {}), "format": inc.RECORD_FORMAT})
    assert inc.restore(r) is not None
    for text in ("not json", "[1, 2]"):  # a row whose facts are not an object holds none
        assert replace(r, facts_json=text).facts is None and inc.restore(replace(r, facts_json=text)) is None


# ---------------------------------------------------------------------- the window rule


def window(files: list[str], filled: bool, **over: object) -> Window:
    w = Window(files=files, filled=filled, seen=50, names_types=[("a", "int")], noted=[])
    w.put("a", ColumnProfile(1, 2, "1", "9"), ["1", "9"])
    for k, v in over.items():
        setattr(w, k, v)
    return w


def slot(prior: Window | None, unchanged: set[str], paths: list[str]) -> WindowSlot:
    return WindowSlot(relative={f"/lake/{p}": p for p in paths}, prior=prior, unchanged=frozenset(unchanged))


def uris(*paths: str) -> list[str]:
    return [f"/lake/{p}" for p in paths]


def test_a_filled_window_of_unchanged_first_files_is_the_window_again():
    s = slot(window(["t/0", "t/1"], True), {"t/0", "t/1"}, ["t/0", "t/1", "t/2", "t/9"])
    assert s.usable(uris("t/0", "t/1", "t/2", "t/9"), [("a", "int")], []) is not None  # t/9 added after it


@pytest.mark.parametrize("candidates, unchanged, why", [
    (["t/0", "t/1", "t/2"], {"t/1", "t/2"}, "its first file changed"),
    (["t/00", "t/0", "t/1"], {"t/0", "t/1", "t/00"}, "a new file sorts before it"),
    (["t/1", "t/0"], {"t/0", "t/1"}, "another order"),
    (["t/0"], {"t/0"}, "a file of it was removed"),
])
def test_a_window_whose_files_changed_is_read(candidates, unchanged, why):
    s = slot(window(["t/0", "t/1"], True), unchanged, sorted(set(candidates) | {"t/0", "t/1"}))
    assert s.usable(uris(*candidates), [("a", "int")], []) is None, why


def test_a_window_that_did_not_fill_is_the_window_only_over_the_same_files():
    w = window(["t/0", "t/1"], False)  # every candidate was read: the rows of one more file would count
    s = slot(w, {"t/0", "t/1"}, ["t/0", "t/1", "t/2"])
    assert s.usable(uris("t/0", "t/1"), [("a", "int")], []) is w
    assert s.usable(uris("t/0", "t/1", "t/2"), [("a", "int")], []) is None


def test_a_window_profiled_as_other_columns_or_notes_is_read():
    s = slot(window(["t/0"], True), {"t/0"}, ["t/0"])
    assert s.usable(uris("t/0"), [("a", "bigint")], []) is None  # other types: other profiles
    assert s.usable(uris("t/0"), [("a", "int")], ["a"]) is None  # a column with a note now: no values read
    assert s.usable(uris("t/0"), None, None) is not None  # CSV: the types come from the window itself


def test_a_window_scope_follows_the_table_rows_now():
    w = window(["t/0"], True)
    assert w.profile("a", 50)[0].profile_scope == PROFILE_EXACT  # every row of the table was profiled
    assert w.profile("a", 51)[0].profile_scope == PROFILE_SAMPLED  # a row was added since
    w.put("b", None, [], scoped=False)
    assert w.profile("b", 10)[0] == ColumnProfile(profile_scope=PROFILE_SAMPLED)
    w.notes = {"z": "no samples or profile: z", "a": "no samples or profile: a"}  # in the order the read added them
    back = Window.from_json(json.loads(json.dumps(w.to_json(), sort_keys=True)))  # as the record stores it
    assert back == w and list(back.notes) == ["z", "a"]  # tables.column_notes keeps a full run's order
    assert Window.from_json({**w.to_json(), "format": WINDOW_FORMAT + 1}) is None and Window.from_json(None) is None


# ---------------------------------------------------------------------- extractions


def write_csv(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def parquet_part(start: int, n: int) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": [None if i % 7 == 0 else f"n{i}" for i in ids],
        "amount": pa.array([Decimal(i) / 100 for i in ids], pa.decimal128(10, 2)),
        "day": pa.array([date(2024, 1, 1) + timedelta(days=i) for i in ids], pa.date32()),
        "at": pa.array([datetime(2024, 1, 1) + timedelta(minutes=i) for i in ids], pa.timestamp("us")),
        "raw": pa.array([bytes([i % 256]) for i in ids], pa.binary()),
        "x": pa.array([i / 3 for i in ids], pa.float64()),
    })


AVRO_SCHEMA = {"type": "record", "name": "r", "fields": [
    {"name": "k", "type": "long"}, {"name": "d", "type": ["null", {"type": "int", "logicalType": "date"}]},
    {"name": "s", "type": "string"}]}


def write_avro(path: Path, keys: range) -> None:
    import fastavro

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fastavro.writer(fh, AVRO_SCHEMA, [{"k": k, "d": None if k % 5 == 0 else date(2024, 1, 1) + timedelta(days=k),
                                           "s": f"s{k % 6}"} for k in keys])


def build_lake(root: Path) -> None:
    for f in range(6):
        write_csv(root / "c" / f"part-{f}.csv", ["id,label,v"] + [f"{f * 30 + j},l{j % 5},{j}.5" for j in range(30)])
        (root / "p").mkdir(parents=True, exist_ok=True)
        pq.write_table(parquet_part(f * 30, 30), root / "p" / f"part-{f}.parquet")
    for f in range(4):
        (root / "o").mkdir(parents=True, exist_ok=True)
        orc.write_table(pa.table({"k": pa.array(range(f * 30, f * 30 + 30), pa.int64()),
                                  "s": [f"s{j % 4}" for j in range(30)]}), str(root / "o" / f"part-{f}.orc"))
    for f in range(4):
        write_avro(root / "a" / f"part-{f}.avro", range(f * 30, f * 30 + 30))
    write_csv(root / "gone" / "x.csv", ["q"] + [str(i) for i in range(5)])
    write_csv(root / "tiny" / "a.csv", ["id"] + [str(i) for i in range(5)])  # smaller than its window


def change(root: Path) -> list[Path]:
    """A file added (after the window), a CSV appended to, a folder removed: the issue's Done-when."""
    pq.write_table(parquet_part(1000, 30), root / "p" / "part-9.parquet")  # new extremes: min/max change
    with (root / "c" / "part-4.csv").open("a") as fh:
        fh.write("".join(f"{900 + j},l9,{j}\n" for j in range(10)))
    orc.write_table(pa.table({"k": pa.array(range(500, 510), pa.int64()), "s": ["new"] * 10}),
                    str(root / "o" / "part-9.orc"))
    write_avro(root / "a" / "part-9.avro", range(700, 720))
    shutil.rmtree(root / "gone")
    return [root / "p" / "part-9.parquet", root / "c" / "part-4.csv", root / "o" / "part-9.orc",
            root / "a" / "part-9.avro"]


def comparable(result: MetadataResult) -> list[dict[str, object]]:
    return [asdict(t) for t in sorted(result.tables, key=lambda t: t.table_name)]


def prior_from(result: MetadataResult, run_id: str) -> inc.PriorRun:
    rows = R.metadata_rows(result, "wf", None, run_id)
    return R.prior_run(run_id, [asdict(r) for r in rows[S.TABLES]], [asdict(r) for r in rows[S.COLUMNS]],
                       [asdict(r) for r in rows.get(S.FILE_FACTS, [])])


def test_changed_tables_larger_than_their_window_read_only_their_changed_files(tmp_path):
    opened: list[str] = []

    def factory(location, s):  # the real local store, each open recorded
        store = default_store_factory(location, s)
        real = store.open
        store.open = lambda uri: (opened.append(uri), real(uri))[1]
        return store

    ex = MetadataExtractor(None, SMALL_WINDOW, store_factory=factory)
    build_lake(tmp_path)
    first = ex.extract_metadata(str(tmp_path))
    assert all(t.status == "ok" for t in first.tables), [(t.table_name, t.error_message) for t in first.tables]
    changed = change(tmp_path)
    opened.clear()
    incremental = ex.extract_metadata(str(tmp_path), prior=prior_from(first, "r1"))
    assert {Path(u).resolve() for u in opened} == {p.resolve() for p in changed}  # no other file opened
    full = ex.extract_metadata(str(tmp_path))
    assert comparable(incremental) == comparable(full)
    by_name = {t.table_name: t for t in incremental.tables}
    assert [by_name[n].row_count for n in ("c", "p", "o", "a")] == [190, 210, 130, 140]
    p_cols = {c.column_name: c for c in by_name["p"].columns}
    assert p_cols["id"].max_value == "1029" and p_cols["amount"].max_value == "10.29"  # footers: exact bounds
    assert p_cols["day"].profile_scope == PROFILE_SAMPLED and p_cols["name"].null_count == 26 + 5
    r = incremental.reads
    assert r["tables_removed"] == ["gone"] and set(r["tables_changed"]) == {"c", "p", "o", "a"}
    assert r["windows_reused"] == 4 and r["tables_reused"] == 1  # tiny: unchanged
    assert r["files_read"] == len(changed) and r["files_reused"] == incremental.files_found - len(changed)
    # only the changed files' bytes: a new Parquet/ORC file's tail, a new Avro file's block headers, the
    # appended CSV (dialect, header, count: a small local file is read up to 3 times by its facts step)
    changed_bytes = sum(p.stat().st_size for p in changed)
    assert 0 < r["bytes_read"] <= changed_bytes + 2 * (tmp_path / "c" / "part-4.csv").stat().st_size
    assert full.reads["bytes_read"] > 4 * r["bytes_read"]
    # the record carries the windows forward: the unchanged lake reads nothing, a later change reuses again
    again = ex.extract_metadata(str(tmp_path), prior=prior_from(incremental, "r2"))
    assert comparable(again) == comparable(full) and again.reads["bytes_read"] == 0
    with (tmp_path / "c" / "part-5.csv").open("a") as fh:
        fh.write("1,l1,1.5\n")
    later = ex.extract_metadata(str(tmp_path), prior=prior_from(again, "r3"))
    assert comparable(later) == comparable(ex.extract_metadata(str(tmp_path)))
    assert later.reads["windows_reused"] == 1 and later.reads["files_read"] == 1


def test_a_change_inside_the_window_reads_the_window_as_a_full_run(tmp_path):
    ex = MetadataExtractor(None, SMALL_WINDOW)
    build_lake(tmp_path)
    first = ex.extract_metadata(str(tmp_path))
    pq.write_table(parquet_part(-30, 30), tmp_path / "p" / "part-0a.parquet")  # sorts into the window
    p = tmp_path / "c" / "part-0.csv"  # the first file's rows change: its types too (v -> string)
    p.write_text(p.read_text() + "999,l0,abc\n")
    write_csv(tmp_path / "tiny" / "b.csv", ["id", "5"])  # every row was profiled (exact): a row more is read
    incremental = ex.extract_metadata(str(tmp_path), prior=prior_from(first, "r1"))
    full = ex.extract_metadata(str(tmp_path))
    assert comparable(incremental) == comparable(full)
    assert incremental.reads["windows_reused"] == 0
    by_name = {t.table_name: t for t in full.tables}
    assert {c.column_name: c.profile_scope for c in by_name["tiny"].columns}["id"] == PROFILE_EXACT
    assert {c.column_name: c.data_type for c in by_name["c"].columns}["v"] == "string"


def test_a_window_without_filling_its_budget_is_reused_when_nothing_joins_it(tmp_path):
    # 6 files of 30 rows, window of 100 rows over at most 2 CSV files: 60 rows, not filled, every file read
    settings = replace(SMALL_WINDOW, profile_max_rows=100, infer_sample_records=100)
    ex = MetadataExtractor(None, settings)
    build_lake(tmp_path)
    first = ex.extract_metadata(str(tmp_path))
    with (tmp_path / "c" / "part-3.csv").open("a") as fh:  # outside the 2 sampled files
        fh.write("7,l7,7.5\n")
    os.remove(tmp_path / "o" / "part-3.orc")  # outside its 100 rows (files 0-3 x 30 rows: 4th file partly)
    incremental = ex.extract_metadata(str(tmp_path), prior=prior_from(first, "r1"))
    assert comparable(incremental) == comparable(ex.extract_metadata(str(tmp_path)))
    # c's sample did not fill (60 < 100 records) but its 2 files are the same: reused; o's window read
    # 100 of 120 rows from 4 files, and its 4th file is gone: read again
    assert incremental.reads["windows_reused"] == 1


def test_parquet_statistics_of_every_kind_restored_from_the_record_give_a_full_runs_bounds(tmp_path):
    """Zoned timestamps, float32, booleans, strings, 38-digit decimals, int8: the record's statistics (not the
    files) give the exact null count, min and max of a table that changed after its window."""
    def part(start: int, n: int) -> pa.Table:
        ids = list(range(start, start + n))
        return pa.table({
            "zoned": pa.array([datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(hours=i) for i in ids],
                              pa.timestamp("us", tz="UTC")),
            "f32": pa.array([None if i % 9 == 0 else i / 7 for i in ids], pa.float32()),
            "flag": pa.array([i % 3 == 0 for i in ids], pa.bool_()),
            "s": [None if i % 4 == 0 else f"v{i:05d}" for i in ids],
            "big": pa.array([Decimal(i) * Decimal("1e20") for i in ids], pa.decimal128(38, 0)),
            "tiny": pa.array([i % 100 - 50 for i in ids], pa.int8()),
        })

    ex = MetadataExtractor(None, SMALL_WINDOW)
    for f in range(4):
        (tmp_path / "p").mkdir(exist_ok=True)
        pq.write_table(part(f * 30, 30), tmp_path / "p" / f"part-{f}.parquet")
    first = ex.extract_metadata(str(tmp_path))
    pq.write_table(part(5000, 10), tmp_path / "p" / "part-9.parquet")
    incremental = ex.extract_metadata(str(tmp_path), prior=prior_from(first, "r1"))
    full = ex.extract_metadata(str(tmp_path))
    assert comparable(incremental) == comparable(full) and incremental.reads["windows_reused"] == 1
    cols = {c.column_name: c for c in full.tables[0].columns}
    assert cols["zoned"].max_value is not None and cols["f32"].null_count == 14 + 1
    assert cols["big"].max_value == "5009" + "0" * 20 and cols["s"].max_value == "v05009"


# ---------------------------------------------------------------------- JSON

# 6 files per JSON table and a window of 4 rows: each file gives its share (ceil(4 / files) = 1 row) of the
# sample, so the window is the first 4 files and a 7th file keeps the share (1 row)
JSON_WINDOW = replace(SMALL_WINDOW, profile_max_rows=4)


def json_line(f: int, j: int) -> str:
    """Records of every shape the inference meets: nested structs and arrays, nulls, empty objects, big
    integers (decimal), mixed arrays; a malformed line now and then (_corrupt_record)."""
    if j == 3 and f % 2 == 0:
        return '{"id": 1, broken'
    return json.dumps({"id": f * 10 + j, "v": None if j % 3 == 0 else j / 2, "e": {}, "nil": None,
                       "big": 10**20 + j, "tags": [[j], []], "o": {"x": [{"y": None}, {"y": f}], "n": {}},
                       "m": [1, "a"] if j == 2 else []})


def write_json_lake(root: Path, files: range = range(6)) -> None:
    for f in files:
        write_json(root, f)


def write_json(root: Path, f: int, extra: dict[str, object] | None = None) -> list[Path]:
    (root / "j").mkdir(parents=True, exist_ok=True)
    (root / "d").mkdir(parents=True, exist_ok=True)
    lines = [json_line(f, j) for j in range(5)]
    if extra:
        lines.append(json.dumps(extra))
    (root / "j" / f"part-{f:02d}.json").write_text("\n".join(lines) + "\n")
    doc = [{"k": f * 10 + j, "s": f"s{j}", "deep": {"a": [[{"b": None}]]}} for j in range(3)]
    (root / "d" / f"part-{f:02d}.json").write_text(json.dumps(doc, indent=2))
    return [root / "j" / f"part-{f:02d}.json", root / "d" / f"part-{f:02d}.json"]


def recording_extractor(settings: Settings, opened: list[str]) -> MetadataExtractor:
    def factory(location, s):  # the real local store, each open recorded
        store = default_store_factory(location, s)
        real = store.open
        store.open = lambda uri: (opened.append(uri), real(uri))[1]
        return store

    return MetadataExtractor(None, settings, store_factory=factory)


def test_json_file_records_restore_the_scan_losslessly(tmp_path):
    write_json_lake(tmp_path, range(2))
    first = MetadataExtractor(None, JSON_WINDOW).extract_metadata(str(tmp_path))
    records = [r for r in first.file_records if r.file_format == "json"]
    assert len(records) == 4
    for r in records:
        assert r.facts_json is not None and r.rows == json.loads(r.facts_json)["rows"]
        back = inc.restore(replace(r, facts_json=str(r.facts_json)))
        assert isinstance(back, JsonFacts) and back.scan is not None and not back.scan.sampled
        assert not inc.needs_read(back)
    by_path = {r.path: r for r in records}
    scan = inc.restore(by_path["j/part-00.json"]).scan  # type: ignore[union-attr]
    assert (scan.mode, scan.rows, scan.malformed) == ("lines", 5, 1)
    assert {"_corrupt_record", "nil", "e"} <= set(scan.root.names)  # void and empty-struct fields kept
    assert inc.restore(by_path["d/part-00.json"]).scan.mode == "document"  # type: ignore[union-attr]


def test_json_file_added_beyond_the_window_opens_only_the_new_file(tmp_path):
    opened: list[str] = []
    ex = recording_extractor(JSON_WINDOW, opened)
    write_json_lake(tmp_path)
    first = ex.extract_metadata(str(tmp_path))
    assert all(t.status == "ok" for t in first.tables), [(t.table_name, t.error_message) for t in first.tables]
    added = write_json(tmp_path, 9)  # sorts after the window (files 0-3)
    opened.clear()
    incremental = ex.extract_metadata(str(tmp_path), prior=prior_from(first, "r1"))
    assert {Path(u).resolve() for u in opened} == {p.resolve() for p in added}
    full = ex.extract_metadata(str(tmp_path))
    assert comparable(incremental) == comparable(full)
    by_name = {t.table_name: t for t in incremental.tables}
    assert (by_name["j"].row_count, by_name["j"].malformed_records, by_name["d"].row_count) == (35, 3, 21)
    assert {c.column_name: c.data_type for c in by_name["j"].columns}["big"] == "decimal(21,0)"
    assert incremental.reads["windows_reused"] == 2 and incremental.reads["files_read"] == 2
    # a file beyond the window that adds a column: the columns profiled change, the window is read again
    # (its first rows only) with the new file, and nothing else
    newer = write_json(tmp_path, 10, extra={"id": 5, "added": {"z": 1}})
    opened.clear()
    later = ex.extract_metadata(str(tmp_path), prior=prior_from(incremental, "r2"))
    later_opened = {Path(u).resolve() for u in opened}
    assert comparable(later) == comparable(ex.extract_metadata(str(tmp_path)))
    window = {(tmp_path / "j" / f"part-{f:02d}.json").resolve() for f in range(4)}
    assert later_opened == window | {newer[0].resolve(), (tmp_path / "d" / "part-10.json").resolve()}
    assert later.reads["windows_reused"] == 1  # d: its new file keeps its columns


def test_json_change_inside_the_window_reads_the_window_as_a_full_run(tmp_path):
    opened: list[str] = []
    ex = recording_extractor(JSON_WINDOW, opened)
    write_json_lake(tmp_path)
    first = ex.extract_metadata(str(tmp_path))
    p = tmp_path / "j" / "part-01.json"
    p.write_text(p.read_text().replace('"nil": null', '"nil": "now text"', 1))  # inside the window
    os.remove(tmp_path / "d" / "part-00.json")  # a file of the window removed
    opened.clear()
    incremental = ex.extract_metadata(str(tmp_path), prior=prior_from(first, "r1"))
    j_opened = {Path(u).name for u in opened if "/j/" in u}
    full = ex.extract_metadata(str(tmp_path))
    assert comparable(incremental) == comparable(full)
    assert incremental.reads["windows_reused"] == 0
    assert j_opened == {"part-00.json", "part-01.json", "part-02.json", "part-03.json"}  # the window, no more
    assert {c.column_name: c.data_type for c in {t.table_name: t for t in full.tables}["j"].columns}["nil"] == "string"


def test_json_window_is_read_again_when_a_file_changes_every_files_share(tmp_path):
    # 3 files: each gives ceil(4 / 3) = 2 rows, the window is files 0-1 (filled); a 4th file sorting after it
    # makes the share 1 row per file: the same first files give other rows, so the window is read again
    ex = MetadataExtractor(None, JSON_WINDOW)
    write_json_lake(tmp_path, range(3))
    first = ex.extract_metadata(str(tmp_path))
    write_json(tmp_path, 9)
    incremental = ex.extract_metadata(str(tmp_path), prior=prior_from(first, "r1"))
    assert comparable(incremental) == comparable(ex.extract_metadata(str(tmp_path)))
    assert incremental.reads["windows_reused"] == 0


# ---------------------------------------------------------------------- XML

XML_OPTIONS = {"xml": {"rowTag": "row"}}


def write_xml(root: Path, f: int, extra: str = "") -> Path:
    (root / "x").mkdir(parents=True, exist_ok=True)
    rows = [f'<row id="{f * 10 + j}"><n>{j}</n><s>{"" if j % 3 == 0 else f"s{j}"}</s><t><u>{j / 2}</u><u>x</u></t>'
            f'{"<d>2024-01-0" + str(j + 1) + "</d>" if j % 2 else ""}</row>' for j in range(5)]
    if f % 2 == 0:
        rows.append("<row><broken></row>")  # a corrupt record
    path = root / "x" / f"part-{f:02d}.xml"
    path.write_text('<?xml version="1.0"?>\n<rows>\n' + "\n".join(rows) + extra + "\n</rows>\n")
    return path


def test_xml_types_cross_json_losslessly(tmp_path):
    for f in range(3):
        write_xml(tmp_path, f)
    first = MetadataExtractor(None, JSON_WINDOW).extract_metadata(str(tmp_path), format_options=XML_OPTIONS)
    for r in first.file_records:
        back = inc.restore(r)
        assert isinstance(back, XmlFacts) and back.scan is not None and not inc.needs_read(back)
        assert back.row_tag == "row" and back.scan.root[0] == "struct"
        assert isinstance(back.scan.root[1], tuple) and all(isinstance(x, tuple) for x in back.scan.root[1])
    assert inc.restore(first.file_records[0]).scan.corrupt == 1  # type: ignore[union-attr]


def test_xml_file_added_beyond_the_window_opens_only_the_new_file_and_a_change_inside_reads_it(tmp_path):
    opened: list[str] = []
    ex = recording_extractor(JSON_WINDOW, opened)
    for f in range(6):
        write_xml(tmp_path, f)
    first = ex.extract_metadata(str(tmp_path), format_options=XML_OPTIONS)
    assert [t.status for t in first.tables] == ["ok"], [t.error_message for t in first.tables]
    added = write_xml(tmp_path, 9)
    opened.clear()
    incremental = ex.extract_metadata(str(tmp_path), format_options=XML_OPTIONS, prior=prior_from(first, "r1"))
    assert [Path(u).resolve() for u in opened] == [added.resolve()]
    assert comparable(incremental) == comparable(ex.extract_metadata(str(tmp_path), format_options=XML_OPTIONS))
    assert incremental.reads["windows_reused"] == 1 and incremental.tables[0].row_count == 7 * 5 + 3
    write_xml(tmp_path, 1, extra="<row><n>new</n></row>")  # inside the window: n becomes a string
    opened.clear()
    later = ex.extract_metadata(str(tmp_path), format_options=XML_OPTIONS, prior=prior_from(incremental, "r2"))
    assert {Path(u).name for u in opened} == {f"part-{f:02d}.xml" for f in range(4)}  # the window, no more
    assert comparable(later) == comparable(ex.extract_metadata(str(tmp_path), format_options=XML_OPTIONS))
    assert later.reads["windows_reused"] == 0
