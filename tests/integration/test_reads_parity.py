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


def test_abandoned_runs_read_the_same_on_both_backends_and_the_databricks_sweep_marks_them(context, tmp_path):
    """Runs whose process died are reported abandoned by both backends, identically: a local run whose
    process is gone, a Databricks run the Jobs API double says ended, one older than the job's
    timeout it says is RUNNING; a live local run, a RUNNING Databricks run and one the API does not
    know stay running. Then a Databricks run's sweep (DatabricksWriter.mark_abandoned) writes the
    marker rows and both backends read them back the same."""
    import subprocess
    import sys
    from dataclasses import replace
    from datetime import timedelta

    from executor.storage.databricks_writer import DatabricksWriter
    from executor.storage.liveness import RunLiveness, SdkJobRunStates, current_process, process_identity
    from executor.storage.queries import SparkReads
    from tests.http_doubles import RunsGetDouble

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = process_identity(gone.pid)
    gone.wait(timeout=60)
    here = current_process()
    now = datetime.now(timezone.utc)

    def record(run_id, mode, who, started):
        context.writer.record_run(RunRecord(run_id=run_id, workflow_id="wf_dead", source_id="s", run_mode=mode,
                                            started_at=started, source_path="/lake", host=who.host if who else None,
                                            pid=who.pid if who else None, process_start=who.start if who else None))

    record("local_dead", "local", dead, now - timedelta(minutes=9))
    record("local_live", "local", here, now - timedelta(minutes=8))
    for i, run_id in enumerate(("456", "458", "999")):
        record(run_id, "databricks", None, now - timedelta(minutes=7 - i))
    record("457", "databricks", None, now - timedelta(hours=5))  # RUNNING says the API; past the timeout
    states = {456: ("TERMINATED", "FAILED", "Task extract_metadata failed: driver OOM"),
              457: ("RUNNING", None, ""), 458: ("RUNNING", None, "")}

    def client():
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=double.host, token=RunsGetDouble.TOKEN)

    with RunsGetDouble(states) as double:
        liveness = RunLiveness(here, jobs=SdkJobRunStates(client))
        delta_reads = DeltaReads(context.writer.location, liveness=liveness)
        spark_reads = SparkReads(context.spark, context.settings, liveness=liveness)
        runs = list_runs(delta_reads, "wf_dead", None)
        assert _json(runs) == _json(list_runs(spark_reads, "wf_dead", None))
        status = {r["run_id"]: (r["status"], r["error_message"]) for r in runs}
        assert status["local_dead"] == ("abandoned", f"the process (pid {dead.pid} on host {dead.host}) is gone; "
                                                     "the run never recorded its end")
        assert status["456"] == ("abandoned", "Databricks run 456 ended TERMINATED/FAILED: Task extract_metadata "
                                              "failed: driver OOM; the run never recorded its end")
        assert status["457"][0] == "abandoned" and "NUVYN_RUN_TIMEOUT_S" in status["457"][1]
        assert {k: v[0] for k, v in status.items() if v[0] == "running"} == dict.fromkeys(
            ("local_live", "458", "999"), "running")
        assert context.writer.select_runs(run_id="456")[0]["status"] == "running"  # no liveness: stored state

        # the sweep of a Databricks run marks the Databricks runs it can check, each once
        dbx = DatabricksWriter(context.spark, replace(context.settings, tables_location=context.writer.location),
                               databricks=True, liveness=liveness)
        assert sorted(dbx.mark_abandoned(marked_by="run 777")) == ["456", "457"]
        assert dbx.mark_abandoned(marked_by="run 778") == []
        stored = [r for r in context.spark.table(context.settings.table_name("executor_runs")).collect()
                  if r.status == "abandoned"]
        assert sorted((r.run_id, r.finished_at is not None, json.loads(r.summary)["marked_by"]) for r in stored) == [
            ("456", True, "run 777"), ("457", True, "run 777")]
        runs = list_runs(delta_reads, "wf_dead", None)
        assert _json(runs) == _json(list_runs(spark_reads, "wf_dead", None))
        persisted = {r["run_id"]: r for r in runs}
        assert persisted["456"]["finished_at"] is not None and persisted["456"]["summary"] == {"marked_by": "run 777"}
        assert persisted["local_dead"]["finished_at"] is None  # local: marked by the next local run of this host
    assert double.errors == []
