"""Parity of the metadata reads: real Spark writes the four tables through the job (several runs and
sources, a partial run, a failed run, a killed run, a run without source_id, a schema change), then
the Spark backend (DatabricksWriter's reads) and the delta-rs backend must give identical JSON for
query, runs, tables and diff: same rows, same column order, same timestamps, nulls and parsed
summaries (objects with arrays)."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timezone

from executor.main import EXIT_FAILED, EXIT_OK, run_job
from executor.ops.commands import latest_tables, list_runs
from executor.ops.render import parse_summary
from executor.ops.render import to_json as _json
from executor.ops.render import to_json as cli_json
from executor.payload import build_request
from executor.storage.databricks_writer import RunRecord
from executor.storage.queries import DeltaReads


def _run(context, lake, workflow_id, source_id=None):
    payload = {"workflow_id": workflow_id}
    if source_id:
        payload["source_id"] = source_id
    return run_job(build_request(payload, data_source_path=str(lake)), context)


def _query_json(reads, **kw) -> str:
    """What `nuvyn-executor query --format json` prints (executor.ops.commands.cmd_query)."""
    result = reads.query_metadata(**kw)
    for run in result["runs"]:
        run["summary"] = parse_summary(run.get("summary"))
    return cli_json(result)


def test_spark_and_delta_rs_reads_give_identical_json(context, sample_lake, tmp_path):
    first = tmp_path / "first"
    shutil.copytree(sample_lake, first)
    assert _run(context, first, "wf_par", "src_a")[0] == EXIT_OK
    # second run of the same pair: a column added, a new table, a broken table (partial run)
    with open(sample_lake / "customers.csv", encoding="utf-8", newline="") as fh:
        records = list(csv.reader(fh))
    with open(sample_lake / "customers.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([records[0] + ["vip"]] + [r + ["true"] for r in records[1:]])
    (sample_lake / "extra").mkdir()
    (sample_lake / "extra" / "part-0.csv").write_text("k,v\n1,a\n2,\n", encoding="utf-8")
    (sample_lake / "broken").mkdir()
    (sample_lake / "broken" / "zero.csv").write_bytes(b"")
    code, report = _run(context, sample_lake, "wf_par", "src_a")
    assert code == EXIT_OK and report["status"] == "partial", report
    assert _run(context, first, "wf_par", "src_b")[0] == EXIT_OK
    assert _run(context, first, "wf_par_nosrc")[0] == EXIT_OK
    assert _run(context, tmp_path / "missing", "wf_par", "src_a")[0] == EXIT_FAILED
    # a killed run: only its 'running' row
    context.writer.record_run(RunRecord(run_id="run_killed_1", workflow_id="wf_par", source_id="src_a",
                                        started_at=datetime.now(timezone.utc)))

    spark_reads = context.writer.reads
    delta_reads = DeltaReads(context.writer.location)

    for kw in ({"workflow_id": "wf_par"}, {"workflow_id": "wf_par", "source_id": "src_a"}, {"source_id": "src_a"},
               {"workflow_id": "wf_par_nosrc"}, {"workflow_id": "wf_par", "run_id": "run_killed_1"},
               {"workflow_id": "wf_par", "run_id": report["run_id"]}, {"workflow_id": "no_such_wf"}):
        assert _query_json(delta_reads, **kw) == _query_json(spark_reads, **kw), kw
    both = json.loads(_query_json(delta_reads, workflow_id="wf_par"))
    assert {r["source_id"] for r in both["runs"]} == {"src_a", "src_b"}
    assert {r["status"] for r in both["runs"]} == {"partial", "succeeded"}
    assert any(t["status"] == "failed" for t in both["tables"])

    # runs (every status) and tables, as the commands print them
    for wf, src in (("wf_par", None), ("wf_par", "src_a"), ("wf_par_nosrc", None)):
        assert _json(list_runs(delta_reads, wf, src)) == _json(list_runs(spark_reads, wf, src))
        assert _json(latest_tables(delta_reads, wf, src)) == _json(latest_tables(spark_reads, wf, src))
    statuses = [r["status"] for r in list_runs(delta_reads, "wf_par", "src_a")]
    assert statuses[:2] == ["running", "failed"] and "partial" in statuses

    # diff: the default pair (latest two completed of the latest run's source) and a pinned pair
    # (without source_id: the latest completed run is src_b's only one, so nothing to compare)
    d_delta, d_spark = delta_reads.schema_changes("wf_par"), spark_reads.schema_changes("wf_par")
    assert cli_json(d_delta) == cli_json(d_spark)
    assert d_delta["source_id"] == "src_b" and d_delta["changes"] is None
    d_delta, d_spark = delta_reads.schema_changes("wf_par", "src_a"), spark_reads.schema_changes("wf_par", "src_a")
    assert cli_json(d_delta) == cli_json(d_spark)
    assert d_delta["changes"] is not None and d_delta["to_run_id"] == report["run_id"]
    changed = {t["table_name"]: t for t in d_delta["changes"]["tables_changed"]}
    assert [c["column_name"] for c in changed["customers"]["columns_added"]] == ["vip"]
    added = [t["table_name"] for t in d_delta["changes"]["tables_added"]]
    assert "extra" in added
    runs_a = [r["run_id"] for r in list_runs(delta_reads, "wf_par", "src_a") if r["status"] in ("succeeded", "partial")]
    pinned = dict(from_run=runs_a[-1], to_run=runs_a[0])
    assert cli_json(delta_reads.schema_changes("wf_par", "src_a", **pinned)) == \
        cli_json(spark_reads.schema_changes("wf_par", "src_a", **pinned))
