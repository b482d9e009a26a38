"""The Spark Connect lane: the job on a real Spark Connect server with Delta (tests/connect_server.py:
Spark 3.5 + spark-connect + Delta 3.3 on lane A, Spark 4.0 + Delta 4.0 on lane B), one server per
test session, started and stopped by the fixture. Every client is its own process, as on Databricks
(a Connect client and a classic session do not share a Python process); the classic session of the
test run reads the Delta tables back.

- the seed's CLI form with SPARK_REMOTE, three runs at once creating and appending to the same
  empty schema;
- the wheel's entry point (executor.main.job_main) inside an already active Connect session with
  NUVYN_INFERENCE=spark (every CSV table through Spark's own inference), the same run id twice;
- Spark's CSV inference over sampled lines on Connect (a Parse relation) == on classic (an RDD).
Exact row counts for every table, each row once."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from executor.metadata import csv_scan
from executor.metadata.readers.csv import _spark_csv_options
from executor.spark_connect import csv_from_lines
from executor.storage import schema as S
from tests.connect_server import connect_server
from tests.integration.test_core_job import expected_tables
from tests.integration.test_job_run import EXPECTED_ROWS, EXPECTED_TYPES, task_argv
from tests.integration.test_reliability import _context_on, _job_env
from tests.realworld_files import write_csv_classes
from tests.servers import die_with_parent, stop_process, wait_budget
from tests.unit.test_spark_types import CSV_CASES

REPO = Path(__file__).resolve().parents[2]
TASK = REPO / "tests" / "connect_task.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from connect_server(tmp_path_factory.mktemp("connect"))


def connect_env(server, warehouse: Path, payload: dict | None = None, **extra: str) -> dict[str, str]:
    """A job's environment: its own metadata schema at <warehouse>/_executor_metadata.db (where
    test_reliability's _context_on reads), written through `server`."""
    env = _job_env(warehouse, payload or {})
    if payload is None:
        env.pop("NUVYN_JOB_PAYLOAD")
    return {**env, "NUVYN_METADATA_SCHEMA": f"c_{uuid.uuid4().hex[:10]}",
            "NUVYN_TABLES_LOCATION": str(warehouse / "_executor_metadata.db"), **extra}


def run_process(argv: list[str], env: dict[str, str], limit_s: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=wait_budget(limit_s),
                          preexec_fn=die_with_parent)


def rows_per_table(ctx, run_id: str) -> dict[str, int]:
    out = {}
    for t in S.ALL_TABLES:
        df = ctx.spark.table(ctx.settings.table_name(t))
        out[t] = df.filter(df.run_id == run_id).count()
    return out


def unique_ids(ctx) -> None:
    for t in S.ALL_TABLES:
        ids = [r.id for r in ctx.spark.table(ctx.settings.table_name(t)).select("id").collect()]
        assert len(ids) == len(set(ids)), t


# --------------------------------------------------------------------------- Spark's CSV inference


def _reader_case(path: Path, delimiter: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The lines and options the CSV reader gives Spark for a file (its sniffing, head, quoting)."""
    with open(path, "rb") as fh:
        dialect = csv_scan.sniff_dialect(fh.read(csv_scan.SNIFF_BYTES), delimiter=delimiter)
        fh.seek(0)
        head = csv_scan.read_head(fh, dialect, max_records=10_000)
    return csv_scan.to_csv_lines(head.header, head.rows, dialect.delimiter), _spark_csv_options(dialect)


def inference_cases(root: Path, lake: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    cases = {}
    header = [f"c{i}" for i in range(len(CSV_CASES))]  # every value class of the ported rules, one column each
    rows = [[values[i] if i < len(values) else "" for values, _ in CSV_CASES] for i in range(2)]
    for delim, with_header in ((",", True), (";", True), ("\t", False), ("|", False)):
        options = _spark_csv_options(csv_scan.CsvDialect(delimiter=delim, header=with_header))
        cases[f"value_classes_{ord(delim)}_{with_header}"] = (
            csv_scan.to_csv_lines(header if with_header else None, rows, delim), options)
    # Spark merges partitions' types unlike one fold (an incompatible pair becomes NullType, so the next
    # partition's type wins): over 4 partitions these columns are int/boolean/double, over one string.
    order = [["T12", "123.", "-0", ""], ["Inf", "T12", "true", ""], ["2", "-2020-01-01", "1", ""],
             ["T12", "1.0e1", "1.5", "NaN"]]
    cases["partition_order"] = (csv_scan.to_csv_lines(None, [list(r) for r in zip(*order)], ","),
                                _spark_csv_options(csv_scan.CsvDialect(header=False)))
    renamed = ["a", "", "A", "b", "a", "Id", "id", "x y"]
    cases["header_renaming"] = (csv_scan.to_csv_lines(renamed, [["1", "x", "2.5", "2020-01-01", "true", "1", "2", "q"]],
                                                      ","), _spark_csv_options(csv_scan.CsvDialect()))
    quoted = [["line one\nline two", "1", " 2 "], ['say "hi"', "2", "3"], ["", "", "  "]]
    cases["quoted_newlines"] = (csv_scan.to_csv_lines(["txt", "n", "pad"], quoted, ","),
                                _spark_csv_options(csv_scan.CsvDialect()))
    write_csv_classes(root)
    for path in sorted(root.rglob("*.csv")) + sorted(lake.rglob("*.csv")) + sorted(lake.rglob("*.tsv")):
        cases[f"{path.parent.name}/{path.name}"] = _reader_case(path, "\t" if path.suffix == ".tsv" else None)
    return cases


def test_spark_csv_inference_on_connect_equals_classic(server, spark, tmp_path, sample_lake):
    cases = inference_cases(tmp_path / "files", sample_lake)
    (tmp_path / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    env = connect_env(server, tmp_path / "wh")
    proc = run_process([sys.executable, str(TASK), server.url, "infer", str(tmp_path / "cases.json"),
                        str(tmp_path / "out.json")], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    on_connect = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    classic = {name: [[f.name, f.dataType.simpleString()] for f in csv_from_lines(spark, lines, options).schema]
               for name, (lines, options) in cases.items()}
    assert on_connect == classic
    assert len(classic) >= 20 and classic["header_renaming"][0] == ["a0", "int"]  # Spark's own renaming
    assert classic["partition_order"] == [[f"_c{i}", "string"] for i in range(4)]  # one fold, as the sample is read


# --------------------------------------------------------------------------- the job


def test_seed_cli_form_with_spark_remote_three_runs_at_once(server, spark, settings, tmp_path, sample_lake):
    """SPARK_REMOTE=sc://... python -m executor.main metadata_extraction <lake> auto default --write-to-db,
    three at once on an empty schema: they race to create the schema and tables (told apart by
    error class over Connect, then retried) and append; every run is complete, every row is there once."""
    env = connect_env(server, tmp_path / "wh", SPARK_REMOTE=server.url)
    argv = [sys.executable, "-m", "executor.main", "metadata_extraction", str(sample_lake), "auto", "default",
            "--write-to-db"]
    procs = [subprocess.Popen(argv, env={**env, "NUVYN_JOB_PAYLOAD": json.dumps({"workflow_id": f"wf_sc{i}",
                                                                                 "source_id": "src_sc"})},
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=die_with_parent)
             for i in range(3)]
    limit = wait_budget(900)
    try:
        outs = [p.communicate(timeout=limit) for p in procs]
    except subprocess.TimeoutExpired:
        pytest.fail(f"waited {limit:.0f}s for the three runs to finish")
    finally:
        for p in procs:
            stop_process(p)
    reports = []
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        reports.append(json.loads(out))
    assert [r["status"] for r in reports] == ["succeeded"] * 3, reports
    assert {r["summary"]["spark_jobs"] for r in reports} == {-1}  # no job ids on a Connect client: unknown

    ctx = _context_on(spark, settings, tmp_path / "wh")
    expected = expected_tables(sample_lake)
    columns = sum(len(cols) for _ft, _rows, cols in expected.values())
    for i, report in enumerate(reports):
        meta = ctx.writer.query_metadata(workflow_id=f"wf_sc{i}", source_id="src_sc")
        assert [r["run_id"] for r in meta["runs"]] == [report["run_id"]]
        assert {t["table_name"]: (t["file_type"], t["row_count"]) for t in meta["tables"]} == {
            n: (ft, rows) for n, (ft, rows, _cols) in expected.items()}
        got_cols: dict[str, list[str]] = {}
        for c in sorted(meta["columns"], key=lambda c: c["position"]):
            got_cols.setdefault(c["table_name"], []).append(c["column_name"])
        assert got_cols == {n: cols for n, (_ft, _rows, cols) in expected.items()}
        assert rows_per_table(ctx, report["run_id"]) == {S.SOURCES: 1, S.TABLES: len(expected), S.COLUMNS: columns,
                                                         S.EXECUTOR_RUNS: 2, S.FILE_FACTS: report["summary"]["files"]}
    unique_ids(ctx)


def test_wheel_entry_point_in_an_active_connect_session_twice(server, spark, settings, tmp_path, sample_lake):
    """job_main inside a Connect session made before it (a serverless task's), NUVYN_INFERENCE=spark:
    every CSV table's types from Spark's own inference; Databricks' retry (same run id) adds nothing."""
    payload = {"workflow_id": "wf_task", "source_id": "src_task", "data_source_path": str(sample_lake)}
    env = connect_env(server, tmp_path / "wh", NUVYN_INFERENCE="spark")
    argv = [sys.executable, str(TASK), server.url, "job", *task_argv(payload, "77001")]
    first = run_process(argv, env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert json.loads(first.stdout)["status"] == "succeeded"

    ctx = _context_on(spark, settings, tmp_path / "wh")
    result = ctx.writer.query_metadata(workflow_id="wf_task")
    assert {t["table_name"]: t["row_count"] for t in result["tables"]} == EXPECTED_ROWS
    types = {(c["table_name"], c["column_name"]): c["data_type"] for c in result["columns"]}
    assert {k: types.get(k) for k in EXPECTED_TYPES} == EXPECTED_TYPES
    before = rows_per_table(ctx, "77001")
    assert before[S.SOURCES] == 1 and before[S.TABLES] == len(EXPECTED_ROWS) and before[S.EXECUTOR_RUNS] == 2
    assert before[S.COLUMNS] == len(result["columns"])

    second = run_process(argv, env)  # the task's retry: same {{job.run_id}}
    assert second.returncode == 0, second.stderr[-3000:]
    after = rows_per_table(ctx, "77001")
    # every data row once; the retry's process records its own `running` attempt (who ran it, for the
    # abandoned-run check), the final status once
    assert after == {**before, S.EXECUTOR_RUNS: before[S.EXECUTOR_RUNS] + 1}
    events = ctx.spark.table(ctx.settings.table_name(S.EXECUTOR_RUNS)).filter("run_id = '77001'").collect()
    assert sorted(e.status for e in events) == ["running", "running", "succeeded"]
    assert len({(e.host, e.pid, e.process_start) for e in events if e.status == "running"}) == 2
    assert [r["status"] for r in ctx.writer.query_metadata(workflow_id="wf_task")["runs"]] == ["succeeded"]
    unique_ids(ctx)

    # refresh: incremental over Connect: the record is read back with DataFrame filters (no RDD, no
    # sparkContext), nothing of the unchanged lake is read, and the rows are the first run's
    third = run_process([sys.executable, str(TASK), server.url, "job",
                         *task_argv({**payload, "refresh": "incremental"}, "77002")], env)
    assert third.returncode == 0, third.stderr[-3000:]
    summary = json.loads(third.stdout)["summary"]
    assert summary["reused_from_run"] == "77001" and summary["bytes_read"] == 0, summary
    assert summary["files_reused"] == summary["files"] and summary["tables_changed"] == []
    cols = ["table_name", "row_count", "column_count", "schema_fingerprint"]
    table = ctx.spark.table(ctx.settings.table_name(S.TABLES))
    assert sorted(table.filter(table.run_id == "77002").select(*cols).collect()) == sorted(
        table.filter(table.run_id == "77001").select(*cols).collect())
