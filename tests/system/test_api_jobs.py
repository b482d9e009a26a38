"""Issue 13 items 4 and 5: bounded jobs (one limit incl. recovered ones, timeout, cancel, list, queue
bound, log retention) and no secrets locally visible (payload never in argv, logs 0600). A real
LocalLauncher runs a fake interpreter (no JVM) as child processes."""

from __future__ import annotations

import os
import stat
import subprocess
import time

import pytest
from fastapi.testclient import TestClient
from test_api_launchers import _job, _wait

from executor.api.launchers import LocalLauncher
from executor.api.store import JobStore
from tests.api_helpers import AUTH, SEED_PATH, RecordingLauncher, make_app


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is gone for our purpose
        return fh.read().split(")")[-1].split()[0] != "Z"


def _until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_recovered_jobs_count_toward_the_limit(tmp_path, fake_python):
    """The bug: jobs recovered after a restart ran beside new ones (5 ran with the limit 2)."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    logs = tmp_path / "logs"
    launcher = LocalLauncher(store, max_concurrent=2, python=fake_python, logs_dir=logs, env={})
    procs = []
    for n in range(2):  # two children a previous server started, still running
        job = _job(store, "sleep", n, seconds=3)
        cmd, env = launcher.command(job)
        procs.append(subprocess.Popen(cmd, env=env, stdout=open(logs / f"{job.job_id}.stdout", "wb"),
                                      start_new_session=True))
        store.update(job.job_id, status="running", pid=procs[-1].pid)
    fresh = [_job(store, "ok", 10 + n) for n in range(3)]
    launcher.start()
    try:
        for job in store.active():
            launcher.recover(job)
        assert launcher.running_count() == 2
        time.sleep(0.5)  # the dispatcher had every chance to start a new job beside them
        assert [store.get(j.job_id).status for j in fresh] == ["created"] * 3
        for p in procs:
            p.wait()
        for job in fresh:
            assert _wait(store, job.job_id).status == "succeeded"
        for n in range(2):  # the watcher notices a recovered child's end within a poll
            assert _wait(store, f"job_{n:032x}").status == "succeeded"
        # never more than 2 at once: the recorded intervals (a slot is released only after finished_at
        # is written, and started_at is written after a slot was taken) overlap at most twice
        events = []
        for n in range(2):
            events += [("0", 1), (store.get(f"job_{n:032x}").finished_at, -1)]
        for job in fresh:
            done = store.get(job.job_id)
            events += [(done.started_at, 1), (done.finished_at, -1)]
        running = peak = 0
        for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
            running += delta
            peak = max(peak, running)
        assert peak == 2
    finally:
        launcher.stop()


def test_cancel_terminates_the_whole_process_group(tmp_path, fake_python):
    store = JobStore(tmp_path / "jobs.sqlite3")
    launcher = LocalLauncher(store, max_concurrent=1, python=fake_python, logs_dir=tmp_path / "logs", env={},
                             kill_grace_s=2)
    pidfile = tmp_path / "grandchild.pid"
    launcher.start()
    try:
        job = _job(store, "tree", 1, pidfile=str(pidfile))
        queued = _job(store, "ok", 2)
        launcher.submit(job)
        launcher.submit(queued)
        running = _wait(store, job.job_id, ("running",))
        assert _until(lambda: pidfile.exists() and pidfile.read_text())
        grandchild = int(pidfile.read_text())
        assert _alive(grandchild)
        # cancel the queued one first: it must never start
        assert launcher.cancel(store.get(queued.job_id)).status == "cancelled"
        launcher.cancel(running)
        done = _wait(store, job.job_id, ("cancelled",))
        assert _until(lambda: store.get(job.job_id).finished_at is not None)
        assert _until(lambda: not _alive(grandchild))  # the grandchild went with the group
        assert not _alive(running.pid)
        assert done.error_message == "cancelled by request"
        time.sleep(0.3)
        assert store.get(queued.job_id).status == "cancelled" and store.get(queued.job_id).started_at is None
    finally:
        launcher.stop()


def test_timeout_stops_the_job(tmp_path, fake_python):
    store = JobStore(tmp_path / "jobs.sqlite3")
    launcher = LocalLauncher(store, max_concurrent=1, python=fake_python, logs_dir=tmp_path / "logs", env={},
                             timeout_s=0.5, kill_grace_s=1)
    launcher.start()
    try:
        job = _job(store, "sleep", 1, seconds=60)
        launcher.submit(job)
        done = _wait(store, job.job_id, ("failed",))
    finally:
        launcher.stop()
    assert "NUVYN_API_JOB_TIMEOUT_S=0.5" in done.error_message
    assert not _alive(done.pid)


def test_logs_are_private_and_retention_prunes_old_ones(tmp_path, fake_python):
    store = JobStore(tmp_path / "jobs.sqlite3")
    logs = tmp_path / "logs"
    old = logs / ("job_" + "f" * 32 + ".stdout")
    logs.mkdir()
    old.write_text("old")
    os.utime(old, (time.time() - 10 * 86400,) * 2)
    launcher = LocalLauncher(store, max_concurrent=1, python=fake_python, logs_dir=logs, env={},
                             log_retention_s=7 * 86400)
    launcher.start()
    try:
        assert not old.exists()  # pruned at start
        job = _job(store, "ok", 1)
        launcher.submit(job)
        _wait(store, job.job_id)
    finally:
        launcher.stop()
    assert stat.S_IMODE(os.stat(logs).st_mode) == 0o700
    for suffix in ("stdout", "stderr"):
        path = logs / f"{job.job_id}.{suffix}"
        assert path.exists() and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_payload_never_on_the_command_line(tmp_path):
    """The payload (it may carry a SAS URL) reaches the child only through its environment."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    launcher = LocalLauncher(store, logs_dir=tmp_path / "logs", env={})
    job = _job(store, "ok", 1)
    job.payload["data_source_path"] = "https://acct.blob.core.windows.net/c/x?sv=1&sig=VerySecretSig"
    cmd, env = launcher.command(job)
    assert not any("VerySecretSig" in part or "job_metadata" in part for part in cmd)
    assert "VerySecretSig" in env["NUVYN_JOB_PAYLOAD"]
    with pytest.raises(ValueError, match="never argv"):
        LocalLauncher(store, logs_dir=tmp_path / "logs", env={}, payload_transport="argument")


# ------------------------------------------------------------------ HTTP: cancel, list, queue bound

BODY = {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "w1"}


class CancellingLauncher(RecordingLauncher):
    def __init__(self, store_path) -> None:
        super().__init__()
        self.store = JobStore(store_path)

    def cancel(self, job):
        return self.store.update(job.job_id, status="cancelled", error_message="cancelled by request")


def test_cancel_endpoint(tmp_path):
    app, launcher, _ = make_app(tmp_path, launcher=CancellingLauncher(tmp_path / "jobs.sqlite3"))
    with TestClient(app) as client:
        job_id = client.post("/jobs/create", json=BODY, headers=AUTH).json()["job_id"]
        r = client.post(f"/jobs/{job_id}/cancel", headers=AUTH)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        again = client.post(f"/jobs/{job_id}/cancel", headers=AUTH)
        assert again.status_code == 409 and "already ended with status 'cancelled'" in again.json()["error"]
        missing = client.post("/jobs/job_" + "0" * 32 + "/cancel", headers=AUTH)
        assert missing.status_code == 404
        assert client.post(f"/jobs/{job_id}/cancel").status_code == 401


def test_list_filters_and_pages(tmp_path):
    app, launcher, _ = make_app(tmp_path)
    with TestClient(app) as client:
        ids = [client.post("/jobs/create", json={**BODY, "workflow_id": f"w{n % 2}"}, headers=AUTH).json()["job_id"]
               for n in range(5)]
        JobStore(tmp_path / "jobs.sqlite3").update(ids[0], status="failed")
        seen, token = [], None
        while True:
            params = {"limit": 2, **({"page_token": token} if token else {})}
            page = client.get("/jobs", params=params, headers=AUTH).json()
            assert len(page["jobs"]) <= 2
            seen += [j["job_id"] for j in page["jobs"]]
            token = page["next_page_token"]
            if token is None:
                break
        assert seen == list(reversed(ids))  # newest first, every job once
        w0 = client.get("/jobs", params={"workflow_id": "w0"}, headers=AUTH).json()["jobs"]
        assert [j["job_id"] for j in w0] == [ids[4], ids[2], ids[0]]
        failed = client.get("/jobs", params={"status": "failed"}, headers=AUTH).json()["jobs"]
        assert [j["job_id"] for j in failed] == [ids[0]]
        for bad in ({"status": "bogus"}, {"limit": 0}, {"limit": 201}, {"page_token": "x" * 12},
                    {"workflow_id": "w0\n"}, {"page_token": "bad token"}):
            r = client.get("/jobs", params=bad, headers=AUTH)
            assert r.status_code == 400 and r.json()["error"], (bad, r.text)


def test_queue_bound_answers_429_with_retry_after(tmp_path):
    app, launcher, _ = make_app(tmp_path, max_queued_jobs=2)
    with TestClient(app) as client:
        for n in range(2):
            assert client.post("/jobs/create", json=BODY, headers={**AUTH, "Idempotency-Key": f"k{n}"}).status_code == 200
        r = client.post("/jobs/create", json=BODY, headers=AUTH)
        assert r.status_code == 429 and "NUVYN_API_MAX_QUEUED_JOBS=2" in r.json()["error"]
        assert int(r.headers["Retry-After"]) > 0
        # a replay of an accepted request still answers with its job
        assert client.post("/jobs/create", json=BODY, headers={**AUTH, "Idempotency-Key": "k0"}).status_code == 200
    assert len(launcher.submitted) == 2
