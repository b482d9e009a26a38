"""`runs` reports a run whose process died as abandoned, with the reason, without a JVM and without
writing: the delta-rs reads (executor.storage.queries.DeltaReads with a RunLiveness) over tables
written with delta-rs, and the real `nuvyn-executor runs` command in a fresh interpreter. Completed
run reads (query, tables, diff) never return it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from executor.metadata.model import COMPLETED_STATUSES, RUN_ABANDONED, RUN_STATUSES  # noqa: E402
from executor.ops.commands import latest_tables, list_runs, render_runs  # noqa: E402
from executor.storage import schema as S  # noqa: E402
from executor.storage.liveness import RunLiveness, current_process, process_identity  # noqa: E402
from executor.storage.queries import DeltaReads  # noqa: E402
from tests import metadata_tables as M  # noqa: E402

PROBE = r"""
import json, sys
from executor.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
jvm = sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j", "delta"))
print(json.dumps({"code": code, "jvm_modules": jvm}), file=sys.stderr)
"""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """wf_dead: a succeeded run, then a run whose process was SIGKILLed (a real child of this test,
    gone), then a run whose process still runs; wf_dbx: a Databricks run older than the job's timeout."""
    wh = tmp_path_factory.mktemp("wh")
    location = str(wh / "_executor_metadata.db")
    M.build_lake(location)
    gone = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    dead = process_identity(gone.pid)
    gone.kill()
    gone.wait(timeout=60)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    live = process_identity(alive.pid)
    t = _now() - timedelta(minutes=30)

    def running(run_id, who, minute, mode="local", rid=0):
        return M.full_row(S.EXECUTOR_RUNS, id=rid, run_id=run_id, workflow_id="wf_dead", source_id="s",
                          run_mode=mode, status="running", started_at=t + timedelta(minutes=minute),
                          source_path="/lake", executor_version="2.1.0", host=who.host if who else None,
                          pid=who.pid if who else None, process_start=who.start if who else None)

    done = running("run_ok", live, 0, rid=101)
    events = [done, {**done, "id": 102, "status": "succeeded", "finished_at": t + timedelta(minutes=1),
                     "summary": json.dumps({"tables": 1})},
              running("run_killed", dead, 5, rid=103), running("run_live", live, 10, rid=104),
              {**running("run_dbx", None, 0, mode="databricks", rid=105), "workflow_id": "wf_dbx",
               "started_at": _now() - timedelta(hours=5)}]
    M.write(location, S.EXECUTOR_RUNS, events)
    yield {"wh": wh, "location": location, "dead": dead, "live": live}
    alive.kill()
    alive.wait(timeout=60)


def test_abandoned_is_a_final_not_completed_status():
    assert RUN_ABANDONED in RUN_STATUSES and RUN_ABANDONED not in COMPLETED_STATUSES


def test_runs_reports_the_dead_run_abandoned_and_leaves_the_live_one(lake):
    reads = DeltaReads(lake["location"], liveness=RunLiveness(current_process()))
    runs = {r["run_id"]: r for r in list_runs(reads, "wf_dead", None)}
    assert runs["run_killed"]["status"] == RUN_ABANDONED
    dead = lake["dead"]
    assert runs["run_killed"]["error_message"] == (
        f"the process (pid {dead.pid} on host {dead.host}) is gone; the run never recorded its end")
    assert runs["run_killed"]["finished_at"] is None  # not recorded: found by this read
    assert runs["run_live"]["status"] == "running" and runs["run_live"]["error_message"] is None
    assert runs["run_ok"]["status"] == "succeeded"
    assert "abandoned" in render_runs(list(runs.values()))
    dbx = list_runs(reads, "wf_dbx", None)
    assert [r["status"] for r in dbx] == [RUN_ABANDONED] and "NUVYN_RUN_TIMEOUT_S" in dbx[0]["error_message"]
    # reads without a liveness check see the stored state; reads never write
    plain = {r["run_id"]: r["status"] for r in list_runs(DeltaReads(lake["location"]), "wf_dead", None)}
    assert plain["run_killed"] == "running"
    # completed-run reads never return it; an explicit run id shows its state
    assert [r["run_id"] for r in latest_tables(reads, "wf_dead", None)["runs"]] == ["run_ok"]
    assert reads.select_runs(run_id="run_killed")[0]["status"] == RUN_ABANDONED
    assert reads.schema_changes("wf_dead")["changes"] is None  # one completed run: nothing to compare
    with pytest.raises(Exception, match="not completed .status abandoned"):
        reads.schema_changes("wf_dead", from_run="run_ok", to_run="run_killed")


def test_the_runs_command_shows_it_without_a_jvm(lake):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUVYN_", "DATABRICKS_"))}
    env.update(NUVYN_WAREHOUSE_DIR=str(lake["wh"]), PYTHONPATH=str(REPO),
               DATABRICKS_CONFIG_FILE="/nonexistent/databrickscfg")
    p = subprocess.run([sys.executable, "-c", PROBE, "runs", "--workflow-id", "wf_dead", "--format", "json"],
                       capture_output=True, text=True, env=env, cwd=str(REPO), timeout=120)
    report = json.loads(p.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "jvm_modules": []}, p.stderr[-2000:]
    runs = {r["run_id"]: r for r in json.loads(p.stdout)}
    assert runs["run_killed"]["status"] == "abandoned"
    assert f"(pid {lake['dead'].pid} on host" in runs["run_killed"]["error_message"]
    assert runs["run_live"]["status"] == "running"
    table = subprocess.run([sys.executable, "-m", "executor.cli", "runs", "--workflow-id", "wf_dead"],
                           capture_output=True, text=True, env=env, cwd=str(REPO), timeout=120)
    assert table.returncode == 0, table.stderr[-2000:]
    assert "abandoned" in table.stdout and f"the process (pid {lake['dead'].pid} on host" in table.stdout
