"""Contract test of the Databricks launcher: databricks-sdk's WorkspaceClient talks to a small local
HTTP double of the Jobs API (a real HTTP server on 127.0.0.1) that checks the exact requests:
path, method, body fields, auth header. Nothing real is reached."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from executor.api.launchers import DatabricksLauncher, databricks_client_factory
from executor.api.store import JobStore
from executor.api_server import build_app
from executor.redaction import Secret
from executor.settings import ApiSettings
from tests.api_helpers import AUTH, FakeReader
from tests.http_doubles import JsonApiHandler, ServedDouble

DBX_TOKEN = "dapi-test-token-abcdef"
JOB_ID = 987


class JobsApiDouble(ServedDouble):
    """Jobs API 2.1/2.2 double: run-now and runs/get, with the checks a real workspace would do."""

    def __init__(self, states):
        self.requests: list[dict] = []
        self.errors: list[str] = []
        self.tokens: dict[str, int] = {}
        self.cancelled: list[int] = []
        self.states = states  # run_id -> list of (life_cycle_state, result_state, message) to walk through
        self.next_run = 4242
        double = self

        class Handler(JsonApiHandler):
            def _auth_ok(self):
                if self.headers.get("Authorization") != f"Bearer {DBX_TOKEN}":
                    self._reply(401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
                    return False
                return True

            def do_POST(self):
                body = self._posted(double.requests)
                if self.path in ("/api/2.1/jobs/runs/cancel", "/api/2.2/jobs/runs/cancel"):
                    if not self._auth_ok():
                        return
                    if set(body) != {"run_id"} or body["run_id"] not in double.tokens.values():
                        double.errors.append(f"bad cancel body {body!r}")
                        return self._reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"})
                    double.cancelled.append(body["run_id"])
                    return self._reply(200, {})
                if self.path not in ("/api/2.1/jobs/run-now", "/api/2.2/jobs/run-now"):
                    double.errors.append(f"unexpected POST {self.path}")
                    return self._reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": self.path})
                if not self._auth_ok():
                    return
                if body.get("job_id") != JOB_ID:
                    return self._reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 1 does not exist."})
                extra = set(body) - {"job_id", "job_parameters", "idempotency_token"}
                if extra:
                    double.errors.append(f"unexpected fields {extra}")
                params = body.get("job_parameters")
                if not isinstance(params, dict) or set(params) != {"payload"} or not isinstance(params["payload"], str):
                    double.errors.append(f"bad job_parameters {params!r}")
                    return self._reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"})
                token = body.get("idempotency_token")
                if not token or len(token) > 64:
                    double.errors.append(f"bad idempotency_token {token!r}")
                if token in double.tokens:
                    return self._reply(200, {"run_id": double.tokens[token], "number_in_job": 1})
                run_id = double.next_run
                double.next_run += 1
                double.tokens[token] = run_id
                self._reply(200, {"run_id": run_id, "number_in_job": run_id})

            def do_GET(self):
                url = urlsplit(self.path)
                double.requests.append({"method": "GET", "path": url.path, "query": parse_qs(url.query),
                                        "auth": self.headers.get("Authorization")})
                if url.path == "/.well-known/databricks-config":
                    # databricks-sdk >= 0.6x probes host metadata first; a workspace without it answers 404
                    return self._reply(404, {"error_code": "NOT_FOUND", "message": "no host metadata"})
                if url.path not in ("/api/2.1/jobs/runs/get", "/api/2.2/jobs/runs/get"):
                    double.errors.append(f"unexpected GET {url.path}")
                    return self._reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": url.path})
                if not self._auth_ok():
                    return
                run_id = int(parse_qs(url.query)["run_id"][0])
                walk = double.states.get(run_id) or double.states["default"]
                life, result, message = walk.pop(0) if len(walk) > 1 else walk[0]
                state = {"life_cycle_state": life, "state_message": message}
                if result:
                    state["result_state"] = result
                self._reply(200, {"job_id": JOB_ID, "run_id": run_id, "state": state})

        self._serve(Handler)


@pytest.fixture(autouse=True)
def _no_databricks_env(monkeypatch):
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CONFIG_FILE",
                 "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", "/nonexistent/databrickscfg")


def _wait(client, job_id, statuses, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}", headers=AUTH).json()
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job still {job['status']}")


def _app(tmp_path, host, token=DBX_TOKEN):
    settings = ApiSettings(token=AUTH["Authorization"].split()[1], jobs_db=str(tmp_path / "jobs.sqlite3"),
                           launcher="databricks", databricks_job_id=JOB_ID, databricks_host=host,
                           databricks_token=token, poll_seconds=0.05)
    # the path's account (no SAS) is served by the server's own credential: it must be allow-listed
    return build_app(settings, {"NUVYN_AZURE_CREDENTIAL_ACCOUNTS": "acct"}, metadata_reader=FakeReader())


BODY = {"job_type": "metadata_extraction", "data_source_path": "abfss://c@acct.dfs.core.windows.net/lake",
        "workflow_id": "wf_dbx", "source_id": "src_dbx"}


def test_run_now_and_get_run_contract(tmp_path):
    states = {"default": [("PENDING", None, ""), ("RUNNING", None, ""), ("TERMINATED", "SUCCESS", "")]}
    with JobsApiDouble(states) as double:
        app = _app(tmp_path, double.host)
        with TestClient(app) as client:
            r = client.post("/jobs/create", json=BODY, headers={**AUTH, "Idempotency-Key": "idem-1"})
            assert r.status_code == 200 and r.json()["status"] == "created"
            job_id = r.json()["job_id"]
            job = _wait(client, job_id, ("succeeded", "failed"))
            assert job["status"] == "succeeded", job
            assert job["run_id"] == "4242" and job["external_run_id"] == "4242" and job["launcher"] == "databricks"
            assert job["started_at"] and job["finished_at"]
            # the same Idempotency-Key: the same job, no second run_now
            assert client.post("/jobs/create", json=BODY, headers={**AUTH, "Idempotency-Key": "idem-1"}
                               ).json()["job_id"] == job_id
    assert double.errors == []
    posts = [q for q in double.requests if q["method"] == "POST"]
    assert len(posts) == 1
    run_now = posts[0]
    assert run_now["path"] == "/api/2.2/jobs/run-now"  # databricks-sdk 0.162 speaks Jobs API 2.2
    assert run_now["auth"] == f"Bearer {DBX_TOKEN}"
    assert run_now["body"]["job_id"] == JOB_ID
    assert run_now["body"]["idempotency_token"] == job_id
    payload = json.loads(run_now["body"]["job_parameters"]["payload"])
    assert payload["workflow_id"] == "wf_dbx" and payload["source_id"] == "src_dbx"
    assert payload["job_metadata"] == {"workflow_id": "wf_dbx", "source_id": "src_dbx"}
    assert payload["data_source_path"] == BODY["data_source_path"]
    gets = [q for q in double.requests if q["method"] == "GET" and not q["path"].startswith("/.well-known")]
    assert gets and all(q["path"] == "/api/2.2/jobs/runs/get" and q["query"]["run_id"] == ["4242"] for q in gets)
    assert all(q["auth"] == f"Bearer {DBX_TOKEN}" for q in gets)


def test_failed_run_reports_the_state_message(tmp_path):
    states = {"default": [("TERMINATED", "FAILED", "Task extract failed with message: workflow_id is required")]}
    with JobsApiDouble(states) as double:
        with TestClient(_app(tmp_path, double.host)) as client:
            job_id = client.post("/jobs/create", json=BODY, headers=AUTH).json()["job_id"]
            job = _wait(client, job_id, ("succeeded", "failed"))
    assert job["status"] == "failed"
    assert job["error_message"] == ("Databricks run ended: TERMINATED/FAILED: Task extract failed with message: "
                                    "workflow_id is required")
    assert double.errors == []


def test_rejected_token_fails_the_job_without_leaking_it(tmp_path):
    with JobsApiDouble({"default": [("RUNNING", None, "")]}) as double:
        with TestClient(_app(tmp_path, double.host, token="dapi-wrong-token-000")) as client:
            job_id = client.post("/jobs/create", json=BODY, headers=AUTH).json()["job_id"]
            job = _wait(client, job_id, ("failed",))
    assert job["error_message"].startswith("Databricks run_now failed")
    assert "dapi-wrong-token-000" not in json.dumps(job)


def test_restart_resubmits_with_the_same_idempotency_token(tmp_path):
    """A job recorded but not yet submitted (server died) is submitted again on restart; the
    idempotency token (the job_id) makes the Jobs API return the same run."""
    with JobsApiDouble({"default": [("RUNNING", None, "")]}) as double:
        store = JobStore(tmp_path / "jobs.sqlite3")
        launcher = DatabricksLauncher(store, job_id=JOB_ID, client_factory=databricks_client_factory(
            double.host, Secret(DBX_TOKEN)), poll_seconds=0.05)
        from executor.api.service import JobService

        service = JobService(store, launcher, FakeReader())
        launcher.submit = lambda job: None  # the "crash": recorded, never submitted
        job, _ = service.create(BODY)
        del launcher.submit
        double.tokens[job.job_id] = 777  # as if run_now had reached Databricks before the crash
        launcher.start()
        launcher.recover(store.get(job.job_id))
        deadline = time.monotonic() + 10
        while store.get(job.job_id).external_run_id is None and time.monotonic() < deadline:
            time.sleep(0.05)
        launcher.stop()
    assert store.get(job.job_id).run_id == "777"


def test_cancel_calls_cancel_run_with_the_run_id(tmp_path):
    states = {"default": [("RUNNING", None, "")]}
    with JobsApiDouble(states) as double:
        app = _app(tmp_path, double.host)
        with TestClient(app) as client:
            job_id = client.post("/jobs/create", json=BODY, headers=AUTH).json()["job_id"]
            running = _wait(client, job_id, ("running",))
            r = client.post(f"/jobs/{job_id}/cancel", headers=AUTH)
            assert r.status_code == 200 and r.json()["status"] == "cancelled"
            assert double.cancelled == [int(running["external_run_id"])]
            again = client.post(f"/jobs/{job_id}/cancel", headers=AUTH)
            assert again.status_code == 409 and "already ended" in again.json()["error"]
    assert double.errors == []


def test_run_past_the_timeout_is_cancelled(tmp_path):
    states = {"default": [("RUNNING", None, "")]}
    with JobsApiDouble(states) as double:
        settings = ApiSettings(token=AUTH["Authorization"].split()[1], jobs_db=str(tmp_path / "jobs.sqlite3"),
                               launcher="databricks", databricks_job_id=JOB_ID, databricks_host=double.host,
                               databricks_token=DBX_TOKEN, poll_seconds=0.05, job_timeout_s=0.5)
        app = build_app(settings, {"NUVYN_AZURE_CREDENTIAL_ACCOUNTS": "acct"}, metadata_reader=FakeReader())
        with TestClient(app) as client:
            job_id = client.post("/jobs/create", json=BODY, headers=AUTH).json()["job_id"]
            job = _wait(client, job_id, ("failed",))
    assert "NUVYN_API_JOB_TIMEOUT_S=0.5" in job["error_message"]
    assert double.cancelled == [int(job["external_run_id"])]
    assert double.errors == []
