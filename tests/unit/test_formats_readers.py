"""Without a JVM: format detection, JSON / Avro / ORC / Delta-log readers, profiles, drift,
and a whole generated lake extracted with a stand-in Spark (no Spark job may run), compared with
independent readers (json, gzip, bz2, fastavro, pyarrow)."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import sys
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.metadata.drift import diff_tables, has_changes, render_diff  # noqa: E402
from executor.metadata.grouping import plan_tables, prune_listing  # noqa: E402
from executor.metadata.model import schema_fingerprint  # noqa: E402
from executor.metadata.profile import ColumnProfiler, profile_rows  # noqa: E402
from executor.metadata.readers import avro as avro_reader  # noqa: E402
from executor.metadata.readers import delta as delta_reader  # noqa: E402
from executor.metadata.readers import json as json_reader  # noqa: E402
from executor.metadata.readers.registry import READERS  # noqa: E402
from executor.metadata.types.algebra import DOUBLE, INT, LONG, STRING, MapType, StructType  # noqa: E402
from executor.metadata.types.json_inference import root_columns  # noqa: E402
from executor.sources.base import FileInfo  # noqa: E402
from tests.formats_lake import AVRO_SCHEMA, avro_records, build_lake  # noqa: E402

# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("name,fmt", [
    ("a.csv", "csv"), ("a.csv.gz", "csv"), ("a.TSV.bz2", "tsv"), ("a.jsonl", "json"), ("a.json.gz", "json"),
    ("a.ndjson", "json"), ("a.avro", "avro"), ("a.orc", "orc"), ("a.parquet", "parquet"),
    ("a.parquet.gz", None), ("a.avro.gz", None), ("a.txt", None), ("README", None), ("a.gz", None)])
def test_detect_format(name, fmt):
    assert READERS.detect(name)[0] == fmt


@pytest.mark.parametrize("head,fmt", [
    (b"PAR1\x15\x00", "parquet"), (b"Obj\x01\x04", "avro"), (b"ORC\x0a", "orc"), (b'  {"a": 1}\n', "json"),
    (b"[1, 2]", "json"), (b"a,b\n1,2\n", "csv"), (b"a\tb\n1\t2\n", "tsv"), (b"a;b\n", "csv"),
    (b"\x00\x01binary", None), (b"just words\n", None), (b"", None)])
def test_sniff_format(head, fmt):
    assert READERS.sniff_format(head) == fmt


def test_sniff_file_sees_through_gzip():
    raw = io.BytesIO(gzip.compress(b'{"a": 1}\n'))
    assert READERS.sniff_file(raw) == ("json", "gzip")
    assert READERS.sniff_file(io.BytesIO(gzip.compress(b"PAR1xxxx"))) == (None, None)  # only text formats


# ----------------------------------------------------------------------------- JSON


def _types(lines: list[str]) -> dict[str, str]:
    scan = json_reader.scan_json(io.BytesIO("\n".join(lines).encode()))
    return {n: t.simple_string() for n, t in root_columns(scan.root)}


def test_json_inference_follows_spark_rules():
    t = _types(['{"a": 1, "b": "x", "c": [1, 2.5], "d": {"y": 1, "x": null}, "e": null, "f": {}}',
                '{"a": 2.5, "b": 3, "c": [], "g": true, "h": 123456789012345678901234}',
                '{"h": 1.5, "i": [{"k": 1}, {"k": "s"}], "j": [[1], [2]]}'])
    assert t == {"a": "double", "b": "string", "c": "array<double>", "d": "struct<x:string,y:bigint>",
                 "e": "string", "g": "boolean", "h": "double", "i": "array<struct<k:string>>",
                 "j": "array<array<bigint>>"}  # f: an empty struct is dropped, as Spark drops it


def test_json_decimals_and_corrupt_records():
    t = _types(['{"a": 123456789012345678901}', '{"a": 1}'])
    assert t == {"a": "decimal(21,0)"}
    scan = json_reader.scan_json(io.BytesIO(b'{"a": 1}\nnot json\n\n  \n7\n[{"a": 2}, {"a": 3}]\n'))
    assert scan.mode == "lines" and scan.rows == 5 and scan.malformed == 2
    assert {n: str(t) for n, t in root_columns(scan.root)} == {"_corrupt_record": "string", "a": "bigint"}


def test_json_documents():
    doc = json.dumps([{"a": i, "b": {"c": [i]}} for i in range(4)], indent=2).encode()
    scan = json_reader.scan_json(io.BytesIO(doc), sample_rows=2)
    assert (scan.mode, scan.rows, scan.malformed, len(scan.sample)) == ("document", 4, 0, 2)
    assert {n: str(t) for n, t in root_columns(scan.root)} == {"a": "bigint", "b": "struct<c:array<bigint>>"}
    one = json_reader.scan_json(io.BytesIO(b'{\n  "x": 1\n}\n'))
    assert (one.mode, one.rows) == ("document", 1)
    broken = json_reader.scan_json(io.BytesIO(b'{\n  "x": \n'))
    assert (broken.rows, broken.malformed) == (1, 1)


# ----------------------------------------------------------------------------- Avro


def test_avro_counts_from_block_headers_match_fastavro(tmp_path):
    path = tmp_path / "u.avro"
    records = avro_records(333)
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(AVRO_SCHEMA), records, codec="deflate", sync_interval=300)
    with open(path, "rb") as fh:
        facts = avro_reader.read_avro_facts(fh)
    with open(path, "rb") as fh:
        independent = sum(1 for _ in fastavro.reader(fh))
    assert facts.rows == independent == 333 and facts.blocks > 5 and facts.codec == "deflate"
    assert avro_reader.spark_columns(facts.schema) == [
        ("user_id", "bigint", False), ("email", "string", True), ("kind", "string", False),
        ("signed_up", "timestamp", False), ("balance", "decimal(10,2)", False), ("scores", "array<int>", False),
        ("home", "struct<city:string>", True)]
    data = path.read_bytes()
    (tmp_path / "cut.avro").write_bytes(data[: len(data) - 40])
    with open(tmp_path / "cut.avro", "rb") as fh, pytest.raises((ValueError, EOFError)):
        avro_reader.read_avro_facts(fh)


def test_avro_unions():
    assert avro_reader.to_spark(["int", "long"]) == (LONG, False)
    assert avro_reader.to_spark(["null", "float", "double"]) == (DOUBLE, True)
    assert avro_reader.to_spark(["int", "string"]) == (StructType.of([("member0", INT), ("member1", STRING)]), False)
    assert avro_reader.to_spark({"type": "map", "values": "long"}) == (MapType(STRING, LONG, False), False)


# ----------------------------------------------------------------------------- Delta log


def _write_log(root: Path, commits: list[list[dict]]) -> list[FileInfo]:
    log = root / "_delta_log"
    log.mkdir(parents=True)
    for v, actions in enumerate(commits):
        (log / f"{v:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    return [FileInfo(f"t/_delta_log/{p.name}", str(p), p.stat().st_size) for p in sorted(log.iterdir())]


def test_delta_log_replay(tmp_path):
    schema = {"type": "struct", "fields": [
        {"name": "id", "type": "long", "nullable": False, "metadata": {}},
        {"name": "tags", "type": {"type": "array", "elementType": "string", "containsNull": True},
         "nullable": True, "metadata": {}},
        {"name": "p", "type": "integer", "nullable": True, "metadata": {}}]}
    pq.write_table(pa.table({"id": [1, 2, 3, 4, 5, 6, 7]}), tmp_path / "nostats.parquet")

    def add(path, n, lo, hi, nulls=0, dv=None):
        a = {"path": path, "size": 10, "partitionValues": {"p": "1"}, "dataChange": True,
             "stats": json.dumps({"numRecords": n, "minValues": {"id": lo}, "maxValues": {"id": hi},
                                  "nullCount": {"id": nulls, "tags": 1}}) if n is not None else None}
        if dv:
            a["deletionVector"] = dv
        return {"add": a}
    infos = _write_log(tmp_path, [
        [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
         {"metaData": {"id": "x", "format": {"provider": "parquet"}, "schemaString": json.dumps(schema),
                       "partitionColumns": ["p"], "configuration": {}}},
         add("a.parquet", 10, 1, 10), add("b.parquet", 5, 11, 15)],
        [{"remove": {"path": "a.parquet", "dataChange": True}},
         add("c.parquet", 8, 20, 30, dv={"storageType": "i", "pathOrInlineDv": "x", "cardinality": 2}),
         add("nostats.parquet", None, None, None)],
    ])
    facts = delta_reader.read_delta_log(infos, lambda uri: open(uri, "rb"))
    assert facts.version == 1 and facts.partition_columns == ["p"]
    assert facts.columns == [("id", "bigint", False), ("tags", "array<string>", True), ("p", "int", True)]
    assert [f.path for f in facts.files] == ["b.parquet", "c.parquet", "nostats.parquet"]
    assert facts.row_count(lambda f: pq.ParquetFile(tmp_path / f.path).metadata.num_rows) == 5 + 8 - 2 + 7
    with pytest.raises(delta_reader.DeltaLogError):
        facts.row_count()
    assert facts.column_stats("id") == (None, None, None)  # one file without stats, one with a DV


def test_delta_folder_is_one_table_and_its_files_are_not_tables():
    infos = [FileInfo(p, p, 10) for p in (
        "d/_delta_log/00000000000000000000.json", "d/region=1/part-0.parquet", "d/part-1.parquet",
        "d/_delta_log/_last_checkpoint", "other/x.parquet")]
    plan = plan_tables(infos, detect=READERS.detect)
    by = {(t.folder, t.file_format): t for t in plan.tables}
    assert set(by) == {("d", "delta"), ("other", "parquet")}
    assert len(by[("d", "delta")].files) == 2 and len(by[("d", "delta")].log_files) == 2
    assert plan.files_found == 3
    assert prune_listing("_delta_log") is None and prune_listing("_temporary")


def test_files_without_extension_are_sniffed():
    infos = [FileInfo("a/blob", "blob", 10), FileInfo("a/notes.txt", "n", 10), FileInfo("a/junk", "junk", 3)]
    plan = plan_tables(infos, detect=READERS.detect, sniff=lambda i: {"blob": ("parquet", None), "junk": (None, None)}[i.uri])
    assert [(t.folder, t.file_format) for t in plan.tables] == [("a", "parquet")]
    assert sorted(s.reason for s in plan.skipped) == ["unsupported format", "unsupported format"]


# ----------------------------------------------------------------------------- profiles and drift


def test_profiles():
    p = ColumnProfiler("int", text=True).add_all(["10", "9", "", "10", None, "x"]).result("exact")
    assert (p.null_count, p.distinct_count, p.min_value, p.max_value) == (2, 3, "9", "10")
    got = profile_rows([("a", "string"), ("b", "array<int>")], [{"a": "z", "b": [1]}, {"a": "b"}, {}], "sampled")
    assert (got["a"].null_count, got["a"].min_value, got["a"].max_value, got["a"].profile_scope) == (1, "b", "z", "sampled")
    assert (got["b"].null_count, got["b"].distinct_count, got["b"].min_value) == (2, 1, None)


def test_schema_drift():
    fp = schema_fingerprint
    t_from = [{"table_name": "a", "status": "ok", "schema_fingerprint": fp([("x", "int", True)])},
              {"table_name": "gone", "status": "ok", "schema_fingerprint": "1"},
              {"table_name": "same", "status": "ok", "schema_fingerprint": "s"}]
    c_from = [{"table_name": "a", "column_name": n, "data_type": t, "is_nullable": nl, "position": i}
              for i, (n, t, nl) in enumerate([("x", "int", True), ("y", "string", True), ("z", "int", True)], 1)]
    t_to = [{"table_name": "a", "status": "ok", "schema_fingerprint": "2"},
            {"table_name": "new", "status": "ok", "file_type": "json", "column_count": 1},
            {"table_name": "same", "status": "ok", "schema_fingerprint": "s"}]
    c_to = [{"table_name": "a", "column_name": n, "data_type": t, "is_nullable": nl, "position": i}
            for i, (n, t, nl) in enumerate([("x", "bigint", True), ("z", "int", False), ("w", "date", True)], 1)]
    d = diff_tables(t_from, c_from, t_to, c_to)
    assert [t["table_name"] for t in d["tables_added"]] == ["new"]
    assert [t["table_name"] for t in d["tables_removed"]] == ["gone"]
    (a,) = d["tables_changed"]
    assert [c["column_name"] for c in a["columns_added"]] == ["w"]
    assert [c["column_name"] for c in a["columns_removed"]] == ["y"]
    assert a["columns_retyped"] == [{"column_name": "x", "from_type": "int", "to_type": "bigint"}]
    assert a["nullability_changed"] == [{"column_name": "z", "from_nullable": True, "to_nullable": False}]
    assert d["tables_unchanged"] == 1 and has_changes(d)
    text = render_diff({"from_run_id": "r1", "to_run_id": "r2", "changes": d})
    assert "~ x: int -> bigint" in text and "+ table new" in text and "- table gone" in text
    assert fp([("x", "int", True)]) != fp([("x", "int", False)]) and len(fp([])) == 64


# ----------------------------------------------------------------------------- the whole lake, no Spark


class NoSpark:
    """Stands in for the session: any Spark call fails the test (no Spark job is allowed)."""

    version = "3.5.7"

    def __getattr__(self, name):
        raise AssertionError(f"Spark used: {name}")


def _csv_rows(data: bytes, delimiter: str) -> tuple[list[str], list[list[str]]]:
    rows = [r for r in csv.reader(io.StringIO(data.decode()), delimiter=delimiter) if r]
    return rows[0], rows[1:]


def test_generated_lake_without_spark_matches_independent_readers(tmp_path):
    from executor.metadata.extractor import MetadataExtractor
    from executor.settings import Settings

    lake = tmp_path / "lake"
    expected = build_lake(lake)
    result = MetadataExtractor(NoSpark(), Settings(io_threads=2, profile_max_rows=1000)).extract_metadata(
        str(lake))
    tables = {t.table_name: t for t in result.tables}
    assert set(tables) == set(expected), sorted(tables)
    assert all(t.status == "ok" for t in tables.values()), [(t.table_name, t.error_message) for t in tables.values()]
    assert sorted(s.path for s in result.skipped) == ["blob.bin", "mystery", "notes.txt"]
    for name, e in expected.items():
        t = tables[name]
        assert (t.file_type, t.row_count) == (e["format"], e["rows"]), name
        if "malformed" in e:
            assert t.malformed_records == e["malformed"], name
        if "columns" in e:
            assert [c.column_name for c in t.columns] == e["columns"], name
        assert all(c.profile_scope in ("exact", "sampled") for c in t.columns), name
        assert t.schema_fingerprint and len(t.schema_fingerprint) == 64

    # compressed CSV: count and profile against gzip + csv (profile over the first 1000 rows: sampled)
    header, rows = _csv_rows(gzip.decompress((lake / "compressed/logs.csv.gz").read_bytes()), ",")
    logs = {c.column_name: c for c in tables["compressed/logs"].columns}
    assert tables["compressed/logs"].row_count == len(rows)
    assert logs["level"].profile_scope == "sampled" and logs["level"].distinct_count == 2
    assert logs["ts"].data_type == "date" and logs["ts"].min_value == min(r[0] for r in rows[:1000])
    header, rows = _csv_rows(bz2.decompress((lake / "compressed/metrics.tsv.bz2").read_bytes()), "\t")
    metrics = {c.column_name: c for c in tables["compressed/metrics"].columns}
    assert metrics["v"].data_type == "double" and metrics["v"].profile_scope == "exact"
    assert float(metrics["v"].max_value) == max(float(r[1]) for r in rows)

    # JSON: independent count with json + gzip
    clicks = [json.loads(x) for x in gzip.decompress((lake / "compressed/clicks.json.gz").read_bytes()).splitlines()]
    assert tables["compressed/clicks"].row_count == len(clicks)
    ev = {c.column_name: c for c in tables["events"].columns}
    assert ev["address"].data_type == "struct<city:string,zip:bigint>" and ev["tags"].data_type == "array<string>"
    assert ev["_corrupt_record"].null_count == 4 and ev["id"].null_count == 1 and ev["id"].max_value == "4"
    assert "empty" not in ev and ev["none"].data_type == "string"

    # Avro: fastavro decodes every record for the check
    recs = []
    for p in sorted((lake / "users").glob("*.avro")):
        with open(p, "rb") as fh:
            recs.extend(fastavro.reader(fh))
    users = {c.column_name: c for c in tables["users"].columns}
    assert tables["users"].row_count == len(recs)
    assert users["email"].null_count == sum(r["email"] is None for r in recs)
    assert users["email"].profile_scope == "exact" and users["user_id"].is_nullable is False
    assert users["balance"].max_value == str(max(r["balance"] for r in recs))

    # ORC and Parquet against pyarrow; Parquet beyond the bound: footer statistics stay exact
    items = orc.ORCFile(str(lake / "items/items.orc")).read()
    it = {c.column_name: c for c in tables["items"].columns}
    assert tables["items"].row_count == items.num_rows and it["price"].null_count == items["price"].null_count
    assert it["when"].data_type == "timestamp" and it["attrs"].data_type == "struct<a:bigint,b:string>"
    sales = pq.read_table(lake / "sales.parquet")
    qty = {c.column_name: c for c in tables["sales"].columns}["qty"]
    assert qty.profile_scope == "sampled" and qty.null_count == sales["qty"].null_count
    assert (qty.min_value, qty.max_value) == ("0", "49")


def test_dry_run_reads_every_format_without_spark(tmp_path):
    from executor.ops.dry_run import plan_extraction
    from executor.settings import Settings

    lake = tmp_path / "lake"
    expected = build_lake(lake)
    report = plan_extraction(str(lake), settings=Settings(io_threads=2))
    assert {t.name for t in report.tables} == set(expected)
    assert [t.problem for t in report.tables if t.problem] == []


def test_bad_files_of_new_formats_fail_their_table_not_the_run(tmp_path):
    from executor.metadata.extractor import MetadataExtractor
    from executor.settings import Settings

    lake = tmp_path / "bad"
    lake.mkdir()
    good = io.BytesIO()
    fastavro.writer(good, fastavro.parse_schema(AVRO_SCHEMA), avro_records(50), sync_interval=100)
    (lake / "cut.avro").write_bytes(good.getvalue()[:-30])
    (lake / "fake.orc").write_bytes(b"ORC not really")
    (lake / "broken.json.gz").write_bytes(gzip.compress(b'{"a": 1}\n')[:-6])
    (lake / "dt" / "_delta_log").mkdir(parents=True)
    (lake / "dt" / "_delta_log" / "00000000000000000000.json").write_text('{"protocol": {}}\n')
    (lake / "ok.jsonl").write_text('{"a": 1}\n')
    result = MetadataExtractor(NoSpark(), Settings(io_threads=2)).extract_metadata(str(lake))
    status = {t.table_name: (t.status, t.error_message) for t in result.tables}
    assert status["ok"] == ("ok", None)
    for name in ("cut", "fake", "broken", "dt"):
        assert status[name][0] == "failed" and status[name][1], (name, status)
    assert "metaData" in status["dt"][1]
    assert result.status == "partial"
