"""The core job on real local Spark + Delta: sample lake in, four tables out, checked against
independent readers (pyarrow, Python's csv module), and read back by query_metadata."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality

from executor.main import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main, run_job
from executor.payload import build_request
from tests.servers import wait_budget

REPO = Path(__file__).resolve().parents[2]


def csv_facts(path: Path, delimiter: str, encoding: str = "utf-8-sig") -> tuple[list[str], int]:
    with open(path, encoding=encoding, newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter=delimiter) if r]
    return rows[0], len(rows) - 1


def expected_tables(lake: Path) -> dict[str, tuple[str, int, list[str]]]:
    """table name -> (file_type, rows, column names), computed without the executor."""
    out = {}
    for name, file, delim, enc in [("customers", "customers.csv", ",", "utf-8"), ("orders", "orders.tsv", "\t", "utf-8"),
                                   ("stores_semicolon", "stores_semicolon.csv", ";", "utf-8-sig"),
                                   ("legacy", "legacy/labels_latin1.csv", ",", "iso-8859-1")]:
        header, rows = csv_facts(lake / file, delim, enc)
        out[name] = ("tsv" if file.endswith(".tsv") else "csv", rows, header)
    total, header = 0, None
    for part in sorted((lake / "events").glob("part-*.csv")):
        header, rows = csv_facts(part, ",")
        total += rows
    out["events"] = ("csv", total, header)
    products = pq.read_table(lake / "products.parquet")
    out["products"] = ("parquet", products.num_rows, products.schema.names)
    files = sorted((lake / "sales").rglob("*.parquet"))
    out["sales"] = ("parquet", sum(pq.ParquetFile(f).metadata.num_rows for f in files),
                    pq.read_schema(files[0]).names + ["year", "month"])
    return out


def run(context, lake, workflow_id="wf_core", source_id="src_core", **kw):
    request = build_request({"workflow_id": workflow_id, "source_id": source_id}, data_source_path=str(lake),
                            **kw)
    return run_job(request, context)


def test_sample_lake_to_four_delta_tables(context, sample_lake, spark):
    code, report = run(context, sample_lake)
    assert code == EXIT_OK, report
    assert report["status"] == "succeeded"
    writer = context.writer
    s = context.settings

    expected = expected_tables(sample_lake)
    from pyspark.sql import functions as F

    got_tables = spark.table(s.table_name("tables")).filter(F.col("run_id") == report["run_id"])
    exp_df = spark.createDataFrame(
        [(n, t, r, len(cols), "wf_core", "src_core", "ok") for n, (t, r, cols) in expected.items()],
        "table_name string, file_type string, row_count bigint, column_count int, workflow_id string, "
        "source_id string, status string")
    assert_df_equality(got_tables.select(*exp_df.columns), exp_df, ignore_row_order=True, ignore_nullable=True,
                        ignore_metadata=True)

    cols = spark.table(s.table_name("columns")).filter(F.col("workflow_id") == "wf_core")
    got_cols = {}
    for r in cols.collect():
        got_cols.setdefault(r.table_name, []).append((r.position, r.column_name))
    for name, (_t, _r, names) in expected.items():
        assert [c for _p, c in sorted(got_cols[name])] == names, name

    sources = spark.table(s.table_name("sources")).collect()
    assert len(sources) == 1
    src = sources[0]
    assert src.files_found == 14 and src.workflow_id == "wf_core" and src.source_id == "src_core"
    lake_files = [p for p in sample_lake.rglob("*") if p.is_file() and p.suffix in (".csv", ".tsv", ".parquet")
                  and not p.name.startswith(".")]
    assert src.total_size_bytes == sum(p.stat().st_size for p in lake_files)

    runs = spark.table(s.table_name("executor_runs")).orderBy("started_at", "finished_at").collect()
    assert [r.status for r in runs] == ["running", "succeeded"]
    assert runs[1].finished_at is not None and runs[1].run_id == report["run_id"]

    # types and samples: Spark's type strings, JSON arrays of distinct values
    meta = writer.query_metadata(workflow_id="wf_core")
    by_name = {(c["table_name"], c["column_name"]): c for c in meta["columns"]}
    assert by_name[("customers", "customer_id")]["data_type"] == "int"
    assert by_name[("sales", "sold_at")]["data_type"] == "timestamp"
    assert by_name[("sales", "year")]["data_type"] == "int"
    assert by_name[("products", "tags")]["data_type"] == "array<string>"
    assert json.loads(by_name[("legacy", "label")]["sample_values"]) == ["Café crème", "Crème brûlée", "Déjà vu"]
    samples = json.loads(by_name[("customers", "notes")]["sample_values"])
    assert "Line one\r\nline two of the note" in samples and len(samples) <= 5
    table_rows = {t["table_name"]: t for t in meta["tables"]}
    assert json.loads(table_rows["sales"]["partition_columns"]) == ["year", "month"]
    assert table_rows["sales"]["file_path"].endswith("/sales")


def test_quoted_newlines_are_counted_exactly(context, tmp_path, spark):
    lake = tmp_path / "q"
    lake.mkdir()
    rows = [["id", "text"]] + [[str(i), f"line {i}\nsecond line, with comma\r\nthird \"quoted\""] for i in range(50)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    (lake / "notes.csv").write_text(buf.getvalue(), encoding="utf-8")
    code, report = run(context, lake, workflow_id="wf_quoted")
    assert code == EXIT_OK
    meta = context.writer.query_metadata(workflow_id="wf_quoted")
    assert [t["row_count"] for t in meta["tables"]] == [50]
    # Spark's default (line-based) CSV reader gets this wrong: the test would catch a regression to it
    assert spark.read.option("header", "true").csv(str(lake / "notes.csv")).count() != 50


def test_query_by_workflow_source_and_latest_run(context, sample_lake):
    code1, first = run(context, sample_lake, workflow_id="wf_q", source_id="src_a")
    code2, other = run(context, sample_lake, workflow_id="wf_other", source_id="src_a")
    (sample_lake / "extra.csv").write_text("k,v\n1,2\n", encoding="utf-8")
    code3, second = run(context, sample_lake, workflow_id="wf_q", source_id="src_a")
    assert (code1, code2, code3) == (0, 0, 0)
    w = context.writer

    latest = w.query_metadata(workflow_id="wf_q")
    assert {r["run_id"] for r in latest["runs"]} == {second["run_id"]}
    assert {t["run_id"] for t in latest["tables"]} == {second["run_id"]}
    assert "extra" in {t["table_name"] for t in latest["tables"]}
    assert len(latest["sources"]) == 1

    pinned = w.query_metadata(workflow_id="wf_q", run_id=first["run_id"])
    assert "extra" not in {t["table_name"] for t in pinned["tables"]}
    assert {t["run_id"] for t in pinned["columns"]} == {first["run_id"]}

    both = w.query_metadata(workflow_id="wf_q", source_id="src_a")
    assert {r["run_id"] for r in both["runs"]} == {second["run_id"]}
    assert w.query_metadata(workflow_id="wf_q", source_id="nope") == {"sources": [], "tables": [], "columns": [],
                                                                       "runs": []}
    by_source = w.query_metadata(source_id="src_a")
    assert {r["workflow_id"] for r in by_source["runs"]} == {"wf_q", "wf_other"}
    assert {r["run_id"] for r in by_source["runs"]} == {second["run_id"], other["run_id"]}

    from executor.errors import QueryError

    with pytest.raises(QueryError):
        w.query_metadata()


def test_injection_shaped_filter_values_match_nothing(context, sample_lake):
    run(context, sample_lake, workflow_id="wf_safe")
    meta = context.writer.query_metadata(workflow_id="x' OR '1'='1")
    assert meta["runs"] == [] and meta["tables"] == []


def test_missing_workflow_id_fails_fast_and_writes_nothing(context, sample_lake, capsys):
    code = main(["metadata_extraction", str(sample_lake), "auto", "default", "--write-to-db"], env={},
                context=context)
    assert code == EXIT_BAD_INPUT
    assert "workflow_id is required" in capsys.readouterr().err
    assert not context.spark.catalog.tableExists(f"{context.settings.catalog}.{context.settings.schema}.executor_runs")


def test_missing_source_path_records_a_failed_run(context, tmp_path):
    code, report = run(context, tmp_path / "does-not-exist", workflow_id="wf_missing")
    assert code == EXIT_FAILED
    assert "does not exist" in report["error_message"] and "does-not-exist" in report["error_message"]
    runs = context.writer.select_runs(workflow_id="wf_missing", completed_only=False)
    assert runs[0]["status"] == "failed" and "does not exist" in runs[0]["error_message"]


def test_bad_files_fail_their_table_not_the_run(context, sample_lake):
    (sample_lake / "broken.parquet").write_bytes(b"PAR1 this is not really parquet")
    (sample_lake / "empty.csv").write_bytes(b"")
    (sample_lake / "garbage.csv").write_bytes(bytes(range(256)) * 4)
    code, report = run(context, sample_lake, workflow_id="wf_bad")
    assert code == EXIT_OK and report["status"] == "partial"
    tables = {t["table_name"]: t for t in context.writer.query_metadata(workflow_id="wf_bad")["tables"]}
    for bad in ("broken", "empty", "garbage"):
        assert tables[bad]["status"] == "failed" and tables[bad]["error_message"], bad
    assert "empty" in tables["empty"]["error_message"]
    assert tables["customers"]["status"] == "ok" and tables["sales"]["row_count"] == 72


def test_tables_are_visible_to_the_next_process(tmp_path, sample_lake):
    env = {**os.environ, "NUVYN_WAREHOUSE_DIR": str(tmp_path / "wh"), "NUVYN_SPARK_MASTER": "local[1]",
           "NUVYN_JOB_PAYLOAD": json.dumps({"job_metadata": {"workflow_id": "wf_proc", "source_id": "s1"},
                                            "workflow_id": "ignored"})}
    job = subprocess.run([sys.executable, "-m", "executor.main", "metadata_extraction", str(sample_lake), "csv",
                          "default", "--write-to-db"], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=wait_budget(1200))
    assert job.returncode == 0, job.stderr[-2000:]
    env.pop("NUVYN_JOB_PAYLOAD")
    query = subprocess.run([sys.executable, "-m", "executor.cli", "query", "--workflow-id", "wf_proc",
                            "--format", "json"], env=env, cwd=REPO, capture_output=True, text=True,
                           timeout=wait_budget(1200))
    assert query.returncode == 0, query.stderr[-2000:]
    result = json.loads(query.stdout)
    assert set(result) == {"sources", "tables", "columns", "runs"}
    names = {t["table_name"] for t in result["tables"]}
    assert names == {"customers", "events", "legacy", "stores_semicolon"}  # csv only: tsv/parquet filtered
    assert result["runs"][0]["source_id"] == "s1" and result["runs"][0]["status"] == "succeeded"


def test_fast_inference_equals_spark_inference(spark, settings, sample_lake):
    """The ported inference rules (no Spark jobs) give the same facts as asking Spark every time."""
    from dataclasses import replace

    from executor.metadata.extractor import MetadataExtractor
    from executor.spark_jobs import job_group

    (sample_lake / "mixed.csv").write_text("a,b,c,d\n1,1.5,2024-01-01,x\n2,,2024-01-02 10:00:00,\n"
                                           "3000000000,NaN,,true\n")
    results = {}
    jobs = {}
    for mode in ("fast", "spark"):
        extractor = MetadataExtractor(spark, replace(settings, inference=mode))
        with job_group(spark, f"cmp-{mode}", mode) as counter:
            result = extractor.extract_metadata(str(sample_lake))
            jobs[mode] = counter.count
        results[mode] = {(t.table_name, t.row_count, tuple((c.column_name, c.data_type, c.position, c.is_nullable,
                                                             tuple(c.sample_values)) for c in t.columns))
                         for t in result.tables}
    assert results["fast"] == results["spark"]
    assert jobs["fast"] == 0 < jobs["spark"]
