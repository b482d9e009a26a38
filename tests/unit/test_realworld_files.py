"""Issue 12's real-world file classes through the extractor without Spark (the ported rules);
tests/integration/test_realworld_vs_spark.py reads the same files with real Spark."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.metadata.extractor import MetadataExtractor  # noqa: E402
from executor.metadata.readers import parquet_footer as pf  # noqa: E402
from executor.settings import Settings  # noqa: E402
from tests.realworld_files import write_csv_classes, write_parquet_classes  # noqa: E402


def extract(path: Path):
    return {t.table_name: t for t in MetadataExtractor(spark=None, settings=Settings(io_threads=2))
            .extract_metadata(str(path)).tables}


def test_csv_classes(tmp_path):
    expect = write_csv_classes(tmp_path / "csv")
    tables = extract(tmp_path / "csv")
    assert set(tables) == set(expect)
    for name, e in expect.items():
        t = tables[name]
        assert t.status == "ok", (name, t.error_message)
        assert (t.csv_header, t.row_count) == (e["header"], e["rows"]), (name, t.csv_header_reason)
        if "columns" in e:
            assert len(t.columns) == e["columns"]
    assert [c.column_name for c in tables["pandas_index"].columns] == ["_c0", "name", "amount"]  # Spark: _c<index>
    assert [c.data_type for c in tables["pandas_index"].columns] == ["int", "string", "double"]
    assert [c.column_name for c in tables["year_header"].columns] == ["district", "2022"]
    assert [c.column_name for c in tables["no_header"].columns] == ["_c0", "_c1", "_c2", "_c3"]
    assert tables["mixed_endings"].columns[1].sample_values == ["a", "b", "x\ry", "p\nq", "e"]


def test_parquet_classes(tmp_path):
    expect = write_parquet_classes(tmp_path / "pq")
    tables = extract(tmp_path / "pq")
    assert set(tables) == set(expect)
    for name, e in expect.items():
        t = tables[name]
        assert t.status == e["status"], (name, t.error_message)
        if e["status"] == "failed":
            assert e["error"] in t.error_message and "Spark cannot read this file" in t.error_message
            continue
        assert t.row_count == e["rows"], name
        assert {c.column_name: c.data_type for c in t.columns} == e["types"], name
        assert set(t.column_notes) == e["no_values"], (name, t.column_notes)
        for c in t.columns:
            if c.column_name in e["no_values"]:
                assert c.sample_values == [] and c.distinct_count is None, (name, c)
            else:
                assert c.sample_values, (name, c.column_name)
    # INT96 read at Spark's precision (microseconds): nanosecond values and years past 2262 convert
    ts = {c.column_name: c for c in tables["int96_ns"].columns}
    assert ts["ts_ns"].sample_values == ["2020-01-01 00:00:00.123456", "2020-01-01 00:00:01"]
    assert ts["ts_far"].sample_values == ["3000-01-01 12:00:00", "1500-06-01 00:00:00"]
    # the other columns of a file pyarrow refuses keep their values
    m = {c.column_name: c for c in tables["map_optional_key"].columns}
    assert m["id"].sample_values == ["1", "2", "3", "4", "5"] and m["id"].distinct_count == 6
    assert "Map keys must be annotated as required" in tables["map_optional_key"].column_notes["m"]
    assert "cannot be converted" in tables["far_dates"].column_notes["d"]


def test_footer_codec_round_trips_pyarrow_footers(tmp_path):
    t = pa.table({"a": [1, 2], "s": ["x", None], "l": [[1], []], "st": [{"p": 1.5}, None]})
    path = tmp_path / "f.parquet"
    pq.write_table(t, path, row_group_size=1)
    raw = pf.read_footer_bytes(open(path, "rb"))
    assert pf.encode_struct(pf.decode_struct(raw)) == raw
    facts = pf.footer_facts(raw)
    assert (facts.num_rows, facts.row_group_rows, facts.rows) == (2, [1, 1], 2)
    from executor.metadata.types.parquet_mapping import parquet_schema_to_spark

    assert pf.tree_spark_columns(facts.root) == parquet_schema_to_spark(pq.ParquetFile(path).schema)


def test_projected_file_reads_the_kept_columns(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [[1], [2], [3]]}), path)
    with open(path, "rb") as fh:
        view = pf.projected_file(fh, {"b"})
        assert pq.ParquetFile(view).read().to_pydict() == {"a": [1, 2, 3], "c": [[1], [2], [3]]}


def test_footer_errors_are_clear():
    with pytest.raises(pf.FooterError, match="PAR1"):
        pf.read_footer_bytes(io.BytesIO(b"not a parquet file at all"))


def test_summary_notes_show_header_decisions_and_column_reasons(tmp_path):
    from executor.ops.summary import render_summary
    from executor.run import table_notes

    write_csv_classes(tmp_path / "lake" / "csv")
    write_parquet_classes(tmp_path / "lake" / "pq")
    result = MetadataExtractor(spark=None, settings=Settings(io_threads=2)).extract_metadata(str(tmp_path / "lake"))
    notes = table_notes(result)
    assert {h["table"]: h["header"] for h in notes["csv_headers"]}["csv/no_header"] is False
    assert {(n["table"], n["column"]) for n in notes["column_notes"]} == {
        ("pq/far_dates", "d"), ("pq/far_dates", "nd"), ("pq/map_optional_key", "m")}
    text = render_summary({"run_id": "r1", "status": "partial",
                           "summary": {"tables": len(result.tables), "tables_failed": 1, **notes}})
    assert "csv csv/year_header: header (first-record field 2 ('2022') is a year" in text
    assert "column pq/map_optional_key.m: no samples or profile: pyarrow cannot read this column" in text
