"""executor.storage.liveness without a JVM: real processes of this host (a child started, killed,
left a zombie, or its pid recorded with another start), and the Databricks branch through
databricks-sdk's WorkspaceClient against a local HTTP double of the Jobs API (runs/get on
127.0.0.1, checking the exact request: path, run_id, auth header)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest

from executor.metadata.model import RUN_ABANDONED, RUN_RUNNING
from executor.storage.liveness import (
    ALIVE,
    DEAD,
    UNKNOWN,
    JobRunState,
    ProcessIdentity,
    RunLiveness,
    SdkJobRunStates,
    abandoned_record,
    current_process,
    process_identity,
    process_verdict,
)
from executor.storage.rows import run_event_app_id, run_row
from tests.http_doubles import RunsGetDouble

DBX_TOKEN = RunsGetDouble.TOKEN
NOW = datetime(2026, 3, 1, 12, 0, 0)


@pytest.fixture(autouse=True)
def _no_databricks_env(monkeypatch):
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID",
                 "DATABRICKS_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", "/nonexistent/databrickscfg")


@pytest.fixture
def child():
    """A real process of this host (a sleeping Python), stopped at teardown."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield p
    if p.poll() is None:
        p.kill()
    p.wait(timeout=60)


def running_row(run_id, who: ProcessIdentity | None, *, mode="local", started=NOW - timedelta(minutes=5), rid=1):
    return {"id": rid, "run_id": run_id, "workflow_id": "wf", "source_id": "src", "run_mode": mode,
            "status": RUN_RUNNING, "started_at": started, "finished_at": None, "source_path": "/lake",
            "host": who.host if who else None, "pid": who.pid if who else None,
            "process_start": who.start if who else None}


def liveness(**kw) -> RunLiveness:
    return RunLiveness(current_process(), clock=lambda: NOW, **kw)


# ---------------------------------------------------------------------- processes of this host


def test_this_process_is_recorded_with_its_start():
    me = current_process()
    assert me.start and me.start.startswith("linux:") and len(me.start.split(":")) == 4
    assert process_verdict(me.host, me.pid, me.start, me) == process_verdict(me.host, me.pid, me.start, me)
    assert process_verdict(me.host, me.pid, me.start, me).state == ALIVE


def test_a_live_child_is_alive_and_a_killed_one_is_gone(child):
    me = current_process()
    who = process_identity(child.pid)
    assert process_verdict(who.host, who.pid, who.start, me).state == ALIVE
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    v = process_verdict(who.host, who.pid, who.start, me)
    assert v.state == DEAD
    assert v.reason == f"the process (pid {who.pid} on host {who.host}) is gone; the run never recorded its end"


def test_an_unreaped_child_has_exited(child):
    me = current_process()
    who = process_identity(child.pid)
    child.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 60
    while process_verdict(who.host, who.pid, who.start, me).state == ALIVE:  # a zombie until waited for
        assert time.monotonic() < deadline, "the killed child never became a zombie"
        time.sleep(0.01)
    v = process_verdict(who.host, who.pid, who.start, me)
    assert v.state == DEAD and "has exited" in v.reason


def test_a_reused_pid_is_not_the_run(child):
    """The recorded pid runs, but a process that started at another tick: the run's process is gone."""
    me = current_process()
    who = process_identity(child.pid)
    kind, boot, ns, tick = who.start.split(":")
    other = f"{kind}:{boot}:{ns}:{int(tick) - 1}"
    v = process_verdict(who.host, who.pid, other, me)
    assert v.state == DEAD and "the pid now belongs to another process" in v.reason


def test_what_cannot_be_checked_is_left_alone(child):
    me = current_process()
    who = process_identity(child.pid)
    kind, boot, ns, tick = who.start.split(":")
    cases = {
        "another host": (f"{who.host}-other", who.pid, who.start),
        "another boot": (who.host, who.pid, f"{kind}:00000000-0000-0000-0000-000000000000:{ns}:{tick}"),
        "another pid namespace": (who.host, who.pid, f"{kind}:{boot}:1:{tick}"),
        "an older executor's row": (None, None, None),
        "a row without a start": (who.host, 999999999, None),
    }
    child.kill()
    child.wait(timeout=60)
    for what, (host, pid, start) in cases.items():
        assert process_verdict(host, pid, start, me).state == UNKNOWN, what


def test_without_proc_only_whether_the_pid_exists(child, tmp_path):
    """Where the OS has no /proc (macOS), no start is recorded: a pid that no process holds is gone; one
    that some process holds is taken as alive (it may be a reused pid: never a false 'dead')."""
    here = current_process(proc=str(tmp_path))
    assert here.start is None and here.pid == current_process().pid
    assert process_verdict(here.host, child.pid, None, here, proc=str(tmp_path)).state == ALIVE
    child.kill()
    child.wait(timeout=60)
    assert process_verdict(here.host, child.pid, None, here, proc=str(tmp_path)).state == DEAD


def test_a_run_is_dead_only_when_every_attempt_is_gone(child):
    """A retry of the run (same run_id) in a live process keeps it alive; once it is gone too, dead."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_who = process_identity(dead.pid)
    dead.wait(timeout=60)
    events = [running_row("r1", dead_who, rid=1), running_row("r1", process_identity(child.pid), rid=2,
                                                               started=NOW - timedelta(minutes=1))]
    assert liveness().verdict(events).state == ALIVE
    child.kill()
    child.wait(timeout=60)
    v = liveness().verdict(events)
    assert v.state == DEAD and f"pid {child.pid}" in v.reason  # the newest attempt's reason


# ---------------------------------------------------------------------- finding and marking


def test_abandoned_confirms_on_a_fresh_read(child):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    who = process_identity(gone.pid)
    gone.wait(timeout=60)
    runs = {"dead": [running_row("dead", who, started=NOW - timedelta(hours=1))], "ended": [running_row("ended", who, rid=2)],
            "retried": [running_row("retried", who, rid=3)], "live": [running_row("live", process_identity(child.pid))],
            "me": [running_row("me", who, rid=4)]}
    fresh = {
        "dead": runs["dead"],
        "ended": runs["ended"] + [{**runs["ended"][0], "id": 9, "status": "succeeded", "finished_at": NOW}],
        "retried": runs["retried"] + [running_row("retried", process_identity(child.pid), rid=5, started=NOW)],
    }
    asked = []

    def reread(ids):
        asked.append(ids)
        return [e for i in ids for e in fresh.get(i, [])]

    found = liveness().abandoned(runs, reread, exclude=["me"])
    assert set(found) == {"dead"}  # ended recorded its end meanwhile; retried has a live attempt now
    assert asked == [["dead", "ended", "retried"]]
    assert found["dead"].reason.startswith(f"the process (pid {who.pid} on host {who.host}) is gone")
    assert set(liveness().abandoned(runs, reread, exclude=["me"], limit=1)) == {"dead"}  # the oldest only
    assert asked[-1] == ["dead"]


def test_the_marker_row_is_final_idempotent_and_names_the_dead_process():
    gone = ProcessIdentity("h", 1234, "linux:b:n:1")
    found = liveness().abandoned({"r9": [running_row("r9", gone)]}, lambda ids: [running_row("r9", gone)])
    assert found == {}  # another host than this one: left alone
    from executor.storage.liveness import Abandoned

    rec = abandoned_record(Abandoned(running_row("r9", gone), "the process (pid 1234 on host h) is gone; x"),
                           "run r10 (pid 1 on host h)", NOW)
    assert (rec.status, rec.finished_at, rec.started_at) == (RUN_ABANDONED, NOW, NOW - timedelta(minutes=5))
    assert (rec.host, rec.pid, rec.process_start) == ("h", 1234, "linux:b:n:1")
    assert rec.summary == {"marked_by": "run r10 (pid 1 on host h)"}
    assert run_event_app_id(rec) == "nuvyn:r9:executor_runs:abandoned"  # one per run: racing markers write once
    second = abandoned_record(Abandoned(running_row("r9", gone), "another reason"), "run r11", NOW)
    assert run_row(second).id == run_row(rec).id
    # each attempt's running row is its own event; the same process writes it once
    attempt = running_row("r9", gone)
    from executor.storage.rows import RunRecord

    a1 = RunRecord(run_id="r9", workflow_id="wf", host="h", pid=1, process_start="s1")
    a2 = RunRecord(run_id="r9", workflow_id="wf", host="h", pid=2, process_start="s2")
    assert run_event_app_id(a1) != run_event_app_id(a2) and run_row(a1).id != run_row(a2).id
    assert run_event_app_id(RunRecord(run_id="r9", workflow_id="wf")) == "nuvyn:r9:executor_runs:running"
    assert attempt["pid"] == 1234


# ---------------------------------------------------------------------- Databricks: the Jobs API double


def sdk_states(host, token=DBX_TOKEN) -> SdkJobRunStates:
    def build():
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=host, token=token)

    return SdkJobRunStates(build)


STATES = {
    456: ("TERMINATED", "FAILED", "Task extract_metadata failed with message: the driver is unresponsive"),
    457: ("INTERNAL_ERROR", None, "Cluster 0101-abc was terminated: driver OOM"),
    458: ("RUNNING", None, "In run"),
    459: ("TERMINATING", None, ""),
    460: ("TERMINATED", "SUCCESS", ""),
}


def test_jobs_api_contract_and_each_answer():
    with RunsGetDouble(STATES) as double:
        states = sdk_states(double.host)
        assert states.run_state(456) == JobRunState("TERMINATED", "FAILED", STATES[456][2])
        assert states.run_state(457) == JobRunState("INTERNAL_ERROR", None, STATES[457][2])
        assert states.run_state(458) == JobRunState("RUNNING", None, "In run")
        assert states.run_state(999) is None  # unknown run id
    assert double.errors == []
    gets = double.gets()
    assert [g["query"]["run_id"] for g in gets] == [["456"], ["457"], ["458"], ["999"]]
    assert all(g["path"] == "/api/2.2/jobs/runs/get" and g["auth"] == f"Bearer {DBX_TOKEN}" for g in gets)


def test_databricks_runs_against_the_double():
    with RunsGetDouble(STATES) as double:
        live = liveness(jobs=sdk_states(double.host))

        def verdict(run_id, started=NOW - timedelta(minutes=30)):
            return live.verdict([running_row(str(run_id), None, mode="databricks", started=started)])

        v = verdict(456)
        assert v.state == DEAD
        assert v.reason == ("Databricks run 456 ended TERMINATED/FAILED: Task extract_metadata failed with message: "
                            "the driver is unresponsive; the run never recorded its end")
        v = verdict(457)
        assert v.state == DEAD and v.reason.startswith(
            "Databricks run 457 ended INTERNAL_ERROR: Cluster 0101-abc was terminated: driver OOM")
        assert verdict(458).state == ALIVE
        assert verdict(459).state == ALIVE  # still terminating: not yet
        assert verdict(460).state == DEAD  # ended, and yet no final row: its process died before writing it
        assert verdict(999).state == UNKNOWN  # the API does not know it: left alone
        assert live.verdict([running_row("local-abc", None, mode="databricks")]).state == UNKNOWN
        n = len(double.gets())
        # the age rule: older than the job's timeout, dead whatever the API says (and it is not asked)
        v = verdict(458, started=NOW - timedelta(hours=4, seconds=1))
        assert v.state == DEAD and "NUVYN_RUN_TIMEOUT_S=14400 s" in v.reason and "2026-03-01 07:59:59 UTC" in v.reason
        assert verdict(999, started=NOW - timedelta(hours=5)).state == DEAD
        assert verdict(458, started=NOW - timedelta(hours=3, minutes=59)).state == ALIVE
        assert len(double.gets()) == n + 1
    assert double.errors == []


def test_the_jobs_api_budget_and_an_unreachable_api():
    with RunsGetDouble(STATES) as double:
        live = liveness(jobs=sdk_states(double.host))
        runs = {str(i): [running_row(str(i), None, mode="databricks", started=NOW - timedelta(minutes=60 - i))]
                for i in (456, 457, 460)}
        found = live.abandoned(runs, lambda ids: [e for i in ids for e in runs[i]], api_checks=2)
        assert set(found) == {"456", "457"}  # oldest first; the third is left for a later pass
        assert len(double.gets()) == 2
    # a rejected token, and no Databricks configuration at all: unknown, and the age rule still holds
    with RunsGetDouble(STATES) as double:
        live = liveness(jobs=sdk_states(double.host, token="dapi-wrong-token-000000"))
        assert live.verdict([running_row("456", None, mode="databricks")]).state == UNKNOWN
    from executor.storage.liveness import workspace_client

    live = liveness(jobs=SdkJobRunStates(workspace_client))
    assert live.verdict([running_row("456", None, mode="databricks")]).state == UNKNOWN
    assert live.verdict([running_row("456", None, mode="databricks", started=NOW - timedelta(days=1))]).dead
    assert liveness().verdict([running_row("456", None, mode="databricks")]).state == UNKNOWN  # no client
