"""LocalLauncher with a fake interpreter (no JVM; FAKE and fake_python in tests/system/conftest.py): exit
codes, queueing, recovery after a restart; and the pure outcome/parse helpers."""

from __future__ import annotations

import subprocess
import time

from executor.api.launchers import LocalLauncher, Outcome, outcome
from executor.api.store import JobRecord, JobStore
from executor.api.validation import build_job_payload
from executor.job_result import JobResult, read_result, write_result


def _job(store, mode, n=0, **meta):
    payload = build_job_payload({"job_type": "metadata_extraction", "data_source_path": "/x",
                                 "workflow_id": f"wf_{mode}", "job_metadata": {"fake": mode, **meta}})
    job = JobRecord(job_id=f"job_{n:032x}", status="created", job_type="metadata_extraction",
                    workflow_id=payload["workflow_id"], source_id=None, data_source_path="/x", payload=payload,
                    launcher="local", run_id=f"run_{mode}_{n}")
    store.insert(job)
    return job


def _wait(store, job_id, statuses=("succeeded", "partial", "failed"), timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {store.get(job_id).status}")


def test_exit_codes_map_to_statuses(tmp_path, fake_python):
    store = JobStore(tmp_path / "jobs.sqlite3")
    launcher = LocalLauncher(store, max_concurrent=2, python=fake_python, logs_dir=tmp_path / "logs", env={})
    launcher.start()
    try:
        jobs = {mode: _job(store, mode, i) for i, mode in enumerate(("ok", "partial", "fail", "bad", "crash"))}
        for job in jobs.values():
            launcher.submit(job)
        done = {mode: _wait(store, job.job_id) for mode, job in jobs.items()}
    finally:
        launcher.stop()
    assert done["ok"].status == "succeeded" and done["ok"].exit_code == 0 and done["ok"].error_message is None
    assert done["ok"].summary == {"tables": 2, "tables_failed": 0}
    assert done["ok"].started_at and done["ok"].finished_at and done["ok"].pid
    assert done["partial"].status == "partial"
    assert done["fail"].status == "failed" and done["fail"].error_message == "every table failed; first error: boom"
    assert done["bad"].status == "failed" and done["bad"].exit_code == 2
    assert done["bad"].error_message == "workflow_id is required: set job_metadata.workflow_id"
    assert done["crash"].status == "failed" and done["crash"].error_message == "the job process ended with exit code 3"


def test_busy_launcher_queues_jobs(tmp_path, fake_python):
    store = JobStore(tmp_path / "jobs.sqlite3")
    launcher = LocalLauncher(store, max_concurrent=1, python=fake_python, logs_dir=tmp_path / "logs", env={})
    launcher.start()
    try:
        first = _job(store, "sleep", 1, seconds=1.5)
        second = _job(store, "ok", 2)
        launcher.submit(first)
        launcher.submit(second)
        _wait(store, first.job_id, ("running",))
        assert store.get(second.job_id).status == "created"  # waits in the queue
        assert _wait(store, second.job_id).status == "succeeded"
        assert store.get(first.job_id).finished_at <= store.get(second.job_id).started_at
    finally:
        launcher.stop()


def test_recovery_after_a_restart(tmp_path, fake_python):
    store = JobStore(tmp_path / "jobs.sqlite3")
    logs = tmp_path / "logs"
    launcher = LocalLauncher(store, max_concurrent=1, python=fake_python, logs_dir=logs, env={})
    # 1. a job that finished while no server ran: its result is on disk, its process gone
    finished = _job(store, "ok", 1)
    write_result(launcher.result_path(finished.job_id), JobResult(0, "partial", summary={"tables": 1}))
    store.update(finished.job_id, status="running", pid=2**22 + 12345)
    # 2. a job whose child still runs (started by the previous server)
    alive = _job(store, "sleep", 2, seconds=2)
    cmd, env = launcher.command(alive)
    with open(logs / f"{alive.job_id}.stdout", "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, env=env)
    store.update(alive.job_id, status="running", pid=proc.pid)
    # 3. a job still queued
    queued = _job(store, "ok", 3)
    # 4. a running job that left nothing
    lost = _job(store, "ok", 4)
    store.update(lost.job_id, status="running", pid=2**22 + 12346)

    launcher.start()
    try:
        for job in store.active():
            launcher.recover(job)
        assert _wait(store, finished.job_id).status == "partial"
        assert "restarted" in _wait(store, lost.job_id).error_message
        assert store.get(alive.job_id).status == "running"
        # the recovered child holds the only slot (limit 1): the queued job waits for it
        assert launcher.running_count() == 1
        assert store.get(queued.job_id).status == "created"
        proc.wait()
        assert _wait(store, alive.job_id).status == "succeeded"
        assert _wait(store, queued.job_id).status == "succeeded"
        assert store.get(queued.job_id).started_at >= store.get(alive.job_id).finished_at
    finally:
        launcher.stop()


def test_outcome_comes_from_the_result_file_and_the_exit_code():
    assert outcome(0, JobResult(0, "partial", summary={"a": 1})) == Outcome("partial", {"a": 1})
    assert outcome(None, JobResult(0, "succeeded")) == Outcome("succeeded")  # recovered: the result is the truth
    assert outcome(1, JobResult(1, "failed", error_message="every table failed")) == Outcome(
        "failed", None, "every table failed")
    assert outcome(2, JobResult(2, "failed")).error_message == "the job rejected its request (exit code 2)"
    assert outcome(0, None) == Outcome("failed", None, "the job ended without a result file")
    assert outcome(-9, None).error_message == "the job process was killed by signal 9"
    assert outcome(3, None).error_message == "the job process ended with exit code 3"
    assert outcome(1, JobResult(0, "succeeded")).status == "failed"  # the exit code disagrees: not trusted
    assert "restarted" in outcome(None, None).error_message
    secret = "sv=2030&sig=ResultFileSecretSig"
    assert "ResultFileSecretSig" not in outcome(1, JobResult(1, "failed", error_message=f"auth failed ?{secret}"
                                                                                         "\nline 2")).error_message


def test_a_result_file_is_written_whole_and_private(tmp_path):
    import stat

    path = tmp_path / "job_1.result.json"
    write_result(path, JobResult(2, "failed", run_id="r1", error_message="bad"))
    assert read_result(path) == JobResult(2, "failed", run_id="r1", error_message="bad")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and [p.name for p in tmp_path.iterdir()] == [path.name]
    for text in ("", "{not json", "[]", '{"version": 1, "exit_code": "0", "status": "succeeded"}',
                 '{"version": 9, "exit_code": 0, "status": "succeeded"}'):
        path.write_text(text)
        assert read_result(path) is None
    assert read_result(tmp_path / "missing.json") is None
