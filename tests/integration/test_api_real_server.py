"""The API as a real server process (uvicorn on a free 127.0.0.1 port) over HTTP: the seed's curl
cases, a real local job on samples/lake run to completion (payload in NUVYN_JOB_PAYLOAD, the seed's
case 3 form; the job reads its source confined to NUVYN_API_SOURCE_ROOTS and writes tables only its
user can read), a server restart that loses nothing, and the job's metadata read over HTTP."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import wait_budget

REPO = Path(__file__).resolve().parent.parent.parent
TOKEN = "integration-token-42"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _kill_children(jobs_db: Path) -> None:
    """Children run in their own session (they survive a server restart): end the ones we started."""
    if not jobs_db.exists():
        return
    with sqlite3.connect(jobs_db) as db:
        for (pid,) in db.execute("SELECT pid FROM jobs WHERE pid IS NOT NULL AND status IN ('created','running')"):
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass


def _wait_job(client: httpx.Client, job_id: str, timeout: float | None = None) -> dict:
    timeout = wait_budget(1200) if timeout is None else timeout  # a JVM start and the job, on a busy machine
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "partial", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout:.0f}s for job {job_id} to finish: {job}")


@pytest.fixture()
def server_env(tmp_path):
    warehouse = tmp_path / "warehouse"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUVYN_", "DATABRICKS_"))}
    env.update({
        "NUVYN_WAREHOUSE_DIR": str(warehouse),
        "NUVYN_API_TOKEN": TOKEN,
        "NUVYN_API_MAX_CONCURRENT_JOBS": "1",
        "NUVYN_API_PAYLOAD_TRANSPORT": "env",
        "NUVYN_SPARK_MASTER": "local[2]",
        "NUVYN_IO_THREADS": "4",
        "PYSPARK_PYTHON": sys.executable,
        "PYTHONPATH": str(REPO),
    })
    return env


@pytest.mark.lane_a_only  # the API over HTTP; lane B runs the job itself in test_job_run / test_spark_submit
def test_seed_cases_and_a_real_job_over_http(tmp_path, server_env, sample_lake, api_servers):
    jobs_db = Path(server_env["NUVYN_WAREHOUSE_DIR"]) / "_api" / "jobs.sqlite3"
    server_env["NUVYN_API_SOURCE_ROOTS"] = str(sample_lake)
    server = api_servers(server_env, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
            # authentication is enforced
            assert httpx.post(f"{server.url}/jobs/create", json={}).status_code == 401
            # seed case 4: missing workflow_id
            r = client.post("/jobs/create", json={"job_type": "metadata_extraction", "data_source_path": "https://..."})
            assert (r.status_code, r.json()) == (400, {"error": "Missing required field: workflow_id"})
            # outside NUVYN_API_SOURCE_ROOTS: 403 before any job
            r = client.post("/jobs/create", json={"job_type": "metadata_extraction", "workflow_id": "w",
                                                  "data_source_path": f"{sample_lake}/../.."})
            assert r.status_code == 403 and "NUVYN_API_SOURCE_ROOTS" in r.json()["error"]
            # seed case 2 (workflow_id + source_id) on the sample lake: the real job
            r = client.post("/jobs/create", json={"job_type": "metadata_extraction",
                                                  "data_source_path": str(sample_lake),
                                                  "workflow_id": "test_workflow_123", "source_id": "test_source_456"},
                            headers={"Idempotency-Key": "real-job-1"})
            assert r.status_code == 200
            created = r.json()
            assert created["status"] == "created" and created["message"] == "Job created successfully"
            job_id = created["job_id"]
            # while it runs: the payload is not on its command line (ps), its logs are 0600
            deadline = time.monotonic() + 60
            pid = None
            while pid is None and time.monotonic() < deadline:
                with sqlite3.connect(jobs_db) as db:
                    pid = db.execute("SELECT pid FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0]
                time.sleep(0.1)
            assert pid is not None
            cmdline = Path(f"/proc/{pid}/cmdline")
            if cmdline.exists():  # still running (it may have ended already)
                text = cmdline.read_bytes()
                assert b"test_workflow_123" not in text and b"--payload" not in text and b"executor.main" in text
            logs = Path(server_env["NUVYN_WAREHOUSE_DIR"]) / "_api" / "job_logs"
            assert {oct(p.stat().st_mode & 0o777) for p in logs.iterdir()} == {"0o600"}
            job = _wait_job(client, job_id)
            assert job["status"] in ("succeeded", "partial"), (job, (tmp_path / "server.log").read_text()[-3000:])
            assert job["exit_code"] == 0 and job["summary"]["tables"] >= 5 and job["error_message"] is None
            assert job["workflow_id"] == "test_workflow_123" and job["source_id"] == "test_source_456"
            run_id = job["run_id"]
            # the tables the job wrote (sample values) are this user's only: files 0600, folders 0700
            tables = Path(server_env["NUVYN_WAREHOUSE_DIR"]) / "_executor_metadata.db"
            written = [tables, *tables.rglob("*")]
            assert len(written) > 20 and any(p.name.endswith(".parquet") for p in written)
            modes = {oct(p.stat().st_mode & 0o777) for p in written if p.is_file()}
            folders = {oct(p.stat().st_mode & 0o777) for p in written if p.is_dir()}
            assert (modes, folders) == ({"0o600"}, {"0o700"}), (modes, folders)
            # seed case 1 (workflow_id only): answered 'created'; the job it starts is ended here
            # (the seed writes "https://...": a host that is not Azure storage is now refused at the door)
            r = client.post("/jobs/create", json={"job_type": "metadata_extraction", "data_source_path": "https://...",
                                                  "workflow_id": "test_workflow_123"})
            assert r.status_code == 403 and "NUVYN_AZURE_EMULATOR_HOSTS" in r.json()["error"]
            r = client.post("/jobs/create", json={"job_type": "metadata_extraction",
                                                  "data_source_path": str(sample_lake / "customers"),
                                                  "workflow_id": "test_workflow_123"})
            assert r.status_code == 200 and r.json()["status"] == "created"
            second = r.json()["job_id"]
            # cancel over HTTP: the job's process group is terminated, the job ends 'cancelled'
            cancelled = client.post(f"/jobs/{second}/cancel")
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
            listed = client.get("/jobs", params={"workflow_id": "test_workflow_123", "limit": 1}).json()
            assert [j["job_id"] for j in listed["jobs"]] == [second] and listed["next_page_token"]
            rest = client.get("/jobs", params={"workflow_id": "test_workflow_123",
                                               "page_token": listed["next_page_token"]}).json()
            assert [j["job_id"] for j in rest["jobs"]] == [job_id] and rest["next_page_token"] is None
    finally:
        server.stop()
        _kill_children(jobs_db)

    # a restarted server still knows the job, the Idempotency-Key still maps to it, and reads its metadata
    server = api_servers(server_env, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=wait_budget(600)) as client:
            again = client.get(f"/jobs/{job_id}").json()
            assert again["status"] == job["status"] and again["run_id"] == run_id
            r = client.post("/jobs/create", json={"job_type": "metadata_extraction",
                                                  "data_source_path": str(sample_lake),
                                                  "workflow_id": "test_workflow_123", "source_id": "test_source_456"},
                            headers={"Idempotency-Key": "real-job-1"})
            assert r.json()["job_id"] == job_id
            meta = client.get("/workflows/test_workflow_123/metadata", params={"source_id": "test_source_456"})
            assert meta.status_code == 200, meta.text
            body = meta.json()
            assert [run["run_id"] for run in body["runs"]] == [run_id]
            assert body["runs"][0]["status"] == job["status"]
            names = {t["table_name"] for t in body["tables"]}
            assert {"customers", "orders", "products", "events", "sales"} <= names
            assert all(t["run_id"] == run_id for t in body["tables"])
            customers = next(t for t in body["tables"] if t["table_name"] == "customers")
            assert customers["row_count"] > 0
            assert any(c["table_name"] == "customers" for c in body["columns"])
            assert body["sources"][0]["source_path"] == str(sample_lake)
    finally:
        server.stop()
    assert TOKEN not in (tmp_path / "server.log").read_text()
