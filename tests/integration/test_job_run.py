"""The Databricks task's own command line, run in-process on this lane's Spark: the same rows on
Spark 3.5 (lane A) and Spark 4.0 (lane B), the wheel's version recorded, and a retried run (same
{{job.run_id}}) stores nothing twice - what makes the job's max_retries safe."""

from __future__ import annotations

import json

from executor import __version__
from executor.main import main
from executor.storage import schema as S

EXPECTED_ROWS = {"customers": 5, "events": 75, "legacy": 3, "orders": 40, "products": 4, "sales": 72,
                 "stores_semicolon": 3}
# Types whose inference could differ between Spark lines (dates, timestamps, nested, partitions).
EXPECTED_TYPES = {("customers", "signup_date"): "date", ("orders", "ordered_at"): "timestamp",
                  ("products", "tags"): "array<string>", ("products", "product_id"): "bigint",
                  ("sales", "year"): "int", ("events", "value"): "double"}


def task_argv(payload: dict, run_id: str) -> list[str]:
    # jobs/metadata_extraction.job.yml: --payload={{job.parameters.payload}} --run-id={{job.run_id}} --write-to-db
    return [f"--payload={json.dumps(payload)}", f"--run-id={run_id}", "--write-to-db"]


def count_rows(context, table: str, run_id: str) -> int:
    df = context.spark.table(context.settings.table_name(table))
    return df.filter(df.run_id == run_id).count()


def test_task_command_line_same_rows_on_every_lane_and_retry_safe(context, sample_lake, capsys):
    payload = {"workflow_id": "wf_job", "source_id": "src_job", "data_source_path": str(sample_lake)}
    env = {"NUVYN_JOB_PAYLOAD": json.dumps({"workflow_id": "ignored_env", "data_source_path": "/nowhere"})}
    assert main(task_argv(payload, "8812345"), env=env, context=context) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "succeeded" and report["workflow_id"] == "wf_job"  # the parameter won

    result = context.writer.query_metadata(workflow_id="wf_job")
    assert {t["table_name"]: t["row_count"] for t in result["tables"]} == EXPECTED_ROWS
    types = {(c["table_name"], c["column_name"]): c["data_type"] for c in result["columns"]}
    assert {k: types.get(k) for k in EXPECTED_TYPES} == EXPECTED_TYPES
    (run,) = result["runs"]
    assert run["run_id"] == "8812345" and run["executor_version"] == __version__

    before = {t: count_rows(context, t, "8812345") for t in S.ALL_TABLES}
    # Databricks retries a failed task with the same {{job.run_id}}.
    assert main(task_argv(payload, "8812345"), env=env, context=context) == 0
    after = {t: count_rows(context, t, "8812345") for t in S.ALL_TABLES}
    assert after == before
    assert before[S.TABLES] == len(EXPECTED_ROWS) and before[S.EXECUTOR_RUNS] == 2
