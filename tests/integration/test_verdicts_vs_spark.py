"""Issue 21's odd files (tests/verdict_files.py): the executor's verdict (status, row count, column
names and types) against the lane's real Spark reading the same file (spark.read...: its schema
and count(), or its error). Where the executor says in the table's notes that a Spark scan of the
values fails, that scan is run and must fail; where it says nothing, the scan must succeed.
The extraction itself runs no Spark job."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.metadata.extractor import MetadataExtractor  # noqa: E402
from executor.metadata.model import TABLE_NOTE  # noqa: E402
from executor.metadata.readers import parquet_footer as pf  # noqa: E402
from executor.metadata.types.csv_inference import make_safe_header  # noqa: E402
from executor.spark_jobs import job_group  # noqa: E402
from tests import verdict_files as vf  # noqa: E402


def spark_verdict(spark, fmt: str, path: Path, **options: str) -> dict[str, Any]:
    """What Spark makes of a table folder: ok with its columns and count(), or failed and why."""
    try:
        df = spark.read.options(**options).format(fmt).load(str(path))
        cols = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
        rows = df.count()
    except Exception as exc:  # noqa: BLE001 - Spark's refusal is the verdict under test
        return {"status": "failed", "error": str(exc).splitlines()[0][:300], "df": None}
    return {"status": "ok", "columns": cols, "rows": rows, "df": df}


def scan_fails(df) -> bool:
    """Whether Spark's scan of every value fails (run in the JVM: no Python conversion of values)."""
    try:
        df.write.format("noop").mode("overwrite").save()
        return False
    except Exception:  # noqa: BLE001 - any failure of the scan
        return True


def extract(spark, settings, root: Path):
    with job_group(spark, "verdicts", "issue 21 files") as jobs:
        result = MetadataExtractor(spark, settings).extract_metadata(str(root))
    assert jobs.count == 0
    return {t.table_name: t for t in result.tables}


def compare(spark, settings, root: Path, fmt: str, names: list[str], report: list[str], scans: bool = True,
            **options: str) -> dict:
    """Every table of `root` against Spark; returns the tables and Spark's verdicts. `scans`: where
    the table's notes say a Spark scan of its values fails (or is likely to), Spark's scan fails;
    where they say nothing of the kind, it succeeds."""
    tables = extract(spark, settings, root)
    assert set(names) <= set(tables), (names, list(tables))
    verdicts = {}
    for name in names:
        t, s = tables[name], spark_verdict(spark, fmt, root / name, **options)
        verdicts[name] = s
        report.append(f"{fmt} {name}: ours {t.status} {t.row_count} | Spark {s['status']} "
                      f"{s.get('rows', s.get('error'))}")
        assert t.status == s["status"], (name, t.error_message, s)
        if s["status"] == "ok":
            assert [(c.column_name, c.data_type) for c in t.columns] == s["columns"], name
            assert t.row_count == s["rows"], name
            note = t.column_notes.get(TABLE_NOTE, "")
            if scans and "may fail or return other rows" not in note:  # a corrupt footer's garbage: no claim
                note = t.column_notes.get(TABLE_NOTE, "")
                says_fails = "Spark scan of their values fails" in note or "is likely to fail" in note
                assert scan_fails(s["df"]) == says_fails, (name, note)
    return {"tables": tables, "spark": verdicts}


@pytest.fixture(scope="module")
def report():
    lines: list[str] = []
    yield lines
    print("\n" + "\n".join(lines))


def test_parquet_maps_footers_and_names(spark, settings, tmp_path, report):
    root = tmp_path / "pq"
    names = vf.write_impala_maps(root)
    names += vf.write_group_annotations(root)
    names += list(vf.write_corrupt_footers(root))
    vf.write_bad_utf8_name(root)
    names.append("bad_utf8_name")
    got = compare(spark, settings, root, "parquet", names, report)
    assert got["tables"]["impala_map"].status == "ok"  # Spark reads it: so do we now
    assert got["spark"]["bad_utf8_name"]["columns"][1][0] == pf.java_utf8(vf.BAD_NAME)


def test_parquet_row_counts_and_truncation(spark, settings, tmp_path, report):
    root = tmp_path / "pq"
    counts = vf.write_row_counts(root)
    cuts = vf.write_truncated(root)
    got = compare(spark, settings, root, "parquet", list(counts) + list(cuts), report)
    for name, rows in {**counts, **cuts}.items():
        assert got["tables"][name].row_count == rows, name  # the figures tests/unit/test_verdicts.py uses
    assert "a Spark scan of their values fails" in got["tables"]["cut_in_second"].column_notes[TABLE_NOTE]


def test_orc_decimals_versions_and_truncation(spark, settings, tmp_path, report):
    root = tmp_path / "orc"
    names = vf.write_orc_classes(root) + list(vf.write_orc_truncated(root))
    got = compare(spark, settings, root, "orc", names, report)
    assert got["spark"]["decimal_bare"]["columns"][1] == ("d", "decimal(38,10)")
    assert got["spark"]["version_future"]["status"] == "failed"


def test_avro_schemas(spark, settings, tmp_path, report):
    root = tmp_path / "avro"
    names = vf.write_avro_classes(root)
    got = compare(spark, settings, root, "avro", names, report)
    assert got["spark"]["top_level_int"]["status"] == "failed"
    assert got["spark"]["decimal_fixed_too_small"]["columns"] == [("d", "binary")]


def test_json_pretty_printed_objects(spark, settings, tmp_path, report):
    root = tmp_path / "json"
    names = vf.write_json_classes(root)
    got = compare(spark, settings, root, "json", names, report, scans=False, multiLine="true")
    assert got["spark"]["pretty_objects"]["rows"] == 1
    lines = tmp_path / "jsonl"
    got = compare(spark, settings, lines, "json", vf.write_json_lines(lines), report, scans=False)
    assert got["spark"]["lines_with_trailing_text"]["rows"] == 5


def test_csv_blank_header_cells(spark, settings, tmp_path, report):
    root = tmp_path / "csv"
    names = vf.write_csv_classes(root)
    tables = extract(spark, settings, root)
    for name in names:
        t = tables[name]
        s = spark_verdict(spark, "csv", root / name, header="true", inferSchema="true", multiLine="true", escape='"')
        report.append(f"csv {name}: ours {t.status} {[c.column_name for c in t.columns]} | Spark {s['status']} "
                      f"{[n for n, _ in s.get('columns', [])] or s.get('error')}")
        assert t.status == s["status"], (name, t.error_message, s)
        if s["status"] != "ok":
            continue
        ours = [c.column_name for c in t.columns]
        spark_names = [n for n, _ in s["columns"]]
        header = vf.CSV_HEADERS[name].split(b"\n")[0].decode().split(",")
        assert [ours[i] for i, h in enumerate(header) if h in ("", '""')] == \
            [spark_names[i] for i, h in enumerate(header) if h in ("", '""')], name  # blanks: _c<index>
        assert make_safe_header(ours, len(ours)) == spark_names, name  # duplicates keep the header's spelling
        assert [c.data_type for c in t.columns] == [ty for _, ty in s["columns"]], name
        assert t.row_count == s["rows"], name
