"""The REST API through FastAPI's TestClient (no JVM: a recording launcher and a fake reader)."""

from __future__ import annotations

import hmac
import json
import logging

import pytest
from fastapi.testclient import TestClient

from executor.errors import SettingsError
from executor.settings import ApiSettings
from tests.api_helpers import AUTH, SEED_PATH, TOKEN, make_app


@pytest.fixture()
def api(tmp_path):
    app, launcher, reader = make_app(tmp_path)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.launcher, client.reader, client.tmp = launcher, reader, tmp_path
        yield client


def _post(client, body, headers=None, **kw):
    return client.post("/jobs/create", json=body, headers={**AUTH, **(headers or {})}, **kw)


# ------------------------------------------------------------------ the seed's four test cases

def test_seed_case_1_workflow_id_only(api):
    r = _post(api, {"job_type": "metadata_extraction", "data_source_path": SEED_PATH,
                    "workflow_id": "test_workflow_123"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"job_id", "status", "message"}
    assert body["job_id"].startswith("job_") and body["status"] == "created"
    assert body["message"] == "Job created successfully"
    assert api.launcher.submitted == [body["job_id"]]
    job = api.get(f"/jobs/{body['job_id']}", headers=AUTH).json()
    assert job["workflow_id"] == "test_workflow_123" and job["source_id"] is None
    assert job["status"] == "created" and job["run_id"].startswith("run_")


def test_seed_case_2_workflow_and_source_are_passed_in_job_metadata(api):
    r = _post(api, {"job_type": "metadata_extraction", "data_source_path": SEED_PATH,
                    "workflow_id": "test_workflow_123", "source_id": "test_source_456"})
    assert r.status_code == 200
    job_id = r.json()["job_id"]
    from executor.api.store import JobStore

    stored = JobStore(api.tmp / "jobs.sqlite3").get(job_id)
    assert stored.payload["job_metadata"] == {"workflow_id": "test_workflow_123", "source_id": "test_source_456"}
    assert stored.payload["workflow_id"] == "test_workflow_123"
    assert stored.payload["source_id"] == "test_source_456"
    assert api.get(f"/jobs/{job_id}", headers=AUTH).json()["source_id"] == "test_source_456"


def test_csv_header_reaches_the_job_payload(api):
    r = _post(api, {"job_type": "metadata_extraction", "data_source_path": SEED_PATH,
                    "workflow_id": "test_workflow_123", "csv_header": "false"})
    assert r.status_code == 200, r.text
    from executor.api.store import JobStore

    assert JobStore(api.tmp / "jobs.sqlite3").get(r.json()["job_id"]).payload["csv_header"] == "false"


def test_format_options_reach_the_job_payload(api):
    r = _post(api, {"job_type": "metadata_extraction", "data_source_path": SEED_PATH,
                    "workflow_id": "test_workflow_123", "format_options": {"xml": {"rowTag": "record"}}})
    assert r.status_code == 200, r.text
    from executor.api.store import JobStore

    stored = JobStore(api.tmp / "jobs.sqlite3").get(r.json()["job_id"]).payload
    assert stored["format_options"] == {"xml": {"rowTag": "record"}}


def test_seed_case_3_env_payload_ids_reach_the_executor(tmp_path):
    """Case 3 runs the executor with NUVYN_JOB_PAYLOAD; the local launcher's env transport gives the
    child exactly that, and executor.main resolves the ids from it."""
    from executor.api.launchers import LocalLauncher
    from executor.api.store import JobRecord
    from executor.api.validation import build_job_payload
    from executor.main import resolve_request

    payload = build_job_payload({"job_type": "metadata_extraction", "data_source_path": "/path/to/data",
                                 "workflow_id": "env_workflow_123", "source_id": "env_source_456"})
    job = JobRecord(job_id="job_" + "0" * 32, status="created", job_type="metadata_extraction",
                    workflow_id="env_workflow_123", source_id="env_source_456", data_source_path="/path/to/data",
                    payload=payload, launcher="local", run_id="run_abc")
    launcher = LocalLauncher(None, logs_dir=tmp_path, env={"NUVYN_API_TOKEN": TOKEN}, payload_transport="env")
    cmd, env = launcher.command(job)
    assert cmd[1:] == ["-m", "executor.main", "--run-id", "run_abc", "--write-to-db",
                       "--result-file", str(tmp_path / f"{job.job_id}.result.json")]
    assert "NUVYN_API_TOKEN" not in env  # the API's token never reaches a job
    request = resolve_request(cmd[3:], env)
    assert (request.workflow_id, request.source_id, request.run_id) == ("env_workflow_123", "env_source_456", "run_abc")
    # the seed's literal form: positional arguments + the env var
    request = resolve_request(["metadata_extraction", "/path/to/data", "csv", "default", "--write-to-db"],
                              {"NUVYN_JOB_PAYLOAD": '{"workflow_id":"env_workflow_123","source_id":"env_source_456"}'})
    assert (request.workflow_id, request.source_id, request.data_source_type) == ("env_workflow_123",
                                                                                  "env_source_456", "csv")
    # a stale NUVYN_JOB_PAYLOAD in the server's environment is replaced; the payload is never in argv
    launcher = LocalLauncher(None, logs_dir=tmp_path, env={"NUVYN_JOB_PAYLOAD": "{}"})
    cmd, env = launcher.command(job)
    assert json.loads(env["NUVYN_JOB_PAYLOAD"]) == payload
    assert "--payload" not in cmd and not any("env_workflow_123" in part for part in cmd)


def test_seed_case_4_missing_workflow_id(api):
    r = _post(api, {"job_type": "metadata_extraction", "data_source_path": SEED_PATH})
    assert r.status_code == 400
    assert r.json() == {"error": "Missing required field: workflow_id"}
    assert api.launcher.submitted == []


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize("field", ["job_type", "data_source_path", "workflow_id"])
def test_each_missing_or_empty_required_field_is_named(api, field):
    body = {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "w1"}
    missing = {k: v for k, v in body.items() if k != field}
    assert _post(api, missing).json() == {"error": f"Missing required field: {field}"}
    assert _post(api, {**body, field: ""}).json() == {"error": f"Missing required field: {field}"}


def test_unknown_job_type_lists_the_valid_ones(api):
    r = _post(api, {"job_type": "nope", "data_source_path": SEED_PATH, "workflow_id": "w1"})
    assert r.status_code == 400
    assert "valid job types: metadata_extraction" in r.json()["error"]


def test_job_metadata_workflow_id_wins(api):
    r = _post(api, {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "top_level",
                    "job_metadata": {"workflow_id": "from_meta", "extra": 1}})
    job = api.get(f"/jobs/{r.json()['job_id']}", headers=AUTH).json()
    assert job["workflow_id"] == "from_meta"


@pytest.mark.parametrize("body,needle", [
    ({"workflow_id": "bad id!"}, "workflow_id 'bad id!' is invalid"),
    ({"source_id": "../etc"}, "source_id '../etc' is invalid"),
    ({"job_metadata": {"workflow_id": "x y"}}, "workflow_id 'x y' is invalid"),
    ({"workflow_id": 123}, "Invalid field workflow_id"),
    ({"data_source_path": ["a"]}, "Invalid field data_source_path"),
    ({"job_metadata": "text"}, "Invalid field job_metadata"),
    ({"data_source_type": "excel"}, "Unknown data_source_type"),
    ({"csv_header": "maybe"}, "Invalid field csv_header"),
    ({"format_options": {"xml": {"rowTag": "a b"}}}, "format_options.xml.rowTag 'a b' is invalid"),
    ({"format_options": {"xml": {"rowTg": "a"}}}, "format_options.xml.rowTg is not an option of xml"),
    ({"format_options": {"parquet": {"x": "1"}}}, "format_options.parquet is not a format with options"),
    ({"csv_header": "true", "format_options": {"csv": {"header": "false"}}}, "csv_header 'true' and"),
    ({"workflow_id": "w" * 200}, "Invalid field workflow_id"),
])
def test_invalid_values_answer_400_with_a_clear_message(api, body, needle):
    base = {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "w1"}
    r = _post(api, {**base, **body})
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]
    assert "Traceback" not in r.text and "pydantic" not in r.text


@pytest.mark.parametrize("raw,needle", [
    (b'{"job_type": ', "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'"text"', "must be a JSON object"),
    (b"", "Request body is required"),
])
def test_malformed_bodies(api, raw, needle):
    r = api.post("/jobs/create", content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert needle in r.json()["error"]


def test_oversized_body_is_413(api):
    big = {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "w1",
           "job_metadata": {"blob": "x" * 1_100_000}}
    r = _post(api, big)
    assert r.status_code == 413 and "limit is 1000000 bytes" in r.json()["error"]

    def chunks():
        yield b'{"job_metadata": {"blob": "'
        for _ in range(20):
            yield b"y" * 100_000
        yield b'"}}'
    r = api.post("/jobs/create", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert api.launcher.submitted == []


def test_unknown_route_and_method(api):
    assert api.get("/nope", headers=AUTH).json() == {"error": "Not Found"}
    assert api.get("/jobs/create", headers=AUTH).status_code in (404, 405)
    assert api.get("/jobs/job_" + "a" * 32, headers=AUTH).status_code == 404
    assert api.get("/jobs/../../etc", headers=AUTH).status_code == 404


# ------------------------------------------------------------------ auth

def test_requests_without_or_with_a_wrong_token_get_401(api):
    body = {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "w1"}
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": TOKEN}):
        r = api.post("/jobs/create", json=body, headers=headers)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        assert TOKEN not in r.text
        assert api.get("/jobs/job_" + "a" * 32, headers=headers).status_code == 401
        assert api.get("/workflows/w1/metadata", headers=headers).status_code == 401
    # 401 comes before any body check: an unauthenticated client learns nothing about the body rules
    assert api.post("/jobs/create", content=b"{bad", headers={"Content-Type": "application/json"}).status_code == 401
    assert api.launcher.submitted == []
    assert api.get("/health").json()["auth"] is True
    assert api.get("/docs").status_code == 200


def test_token_is_compared_in_constant_time(api, monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert api.get("/workflows/w1/metadata", headers=AUTH).status_code == 200
    assert api.get("/workflows/w1/metadata", headers={"Authorization": "Bearer x"}).status_code == 401
    assert len(calls) == 2


def test_no_token_needs_an_explicit_opt_in(tmp_path, caplog):
    with pytest.raises(SettingsError, match="NUVYN_API_ALLOW_NO_AUTH"):
        ApiSettings.from_env({"NUVYN_WAREHOUSE_DIR": str(tmp_path)})
    s = ApiSettings.from_env({"NUVYN_WAREHOUSE_DIR": str(tmp_path), "NUVYN_API_ALLOW_NO_AUTH": "1"})
    assert s.token is None and s.jobs_db == str(tmp_path / "_api" / "jobs.sqlite3")
    with caplog.at_level(logging.WARNING, logger="executor"):
        app, launcher, _ = make_app(tmp_path, token=None)
    assert "authentication is DISABLED" in caplog.text
    with TestClient(app, base_url="http://127.0.0.1") as client:  # without a token: loopback Host names only
        r = client.post("/jobs/create", json={"job_type": "metadata_extraction", "data_source_path": SEED_PATH,
                                              "workflow_id": "w1"})
        assert r.status_code == 200


def test_token_never_logged(tmp_path, caplog):
    from executor.logging_setup import RedactingFilter
    from executor.redaction import SECRETS

    make_app(tmp_path)
    assert SECRETS.redact(f"header was Bearer-less {TOKEN}") == "header was Bearer-less ***"
    record = logging.LogRecord("executor.x", logging.INFO, __file__, 1, "token %s", (TOKEN,), None)
    RedactingFilter().filter(record)
    assert TOKEN not in record.getMessage()


# ------------------------------------------------------------------ idempotency, persistence

def test_idempotency_key_returns_the_same_job(api):
    body = {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "w1"}
    first = _post(api, body, {"Idempotency-Key": "key-1"}).json()
    again = _post(api, body, {"Idempotency-Key": "key-1"}).json()
    assert again["job_id"] == first["job_id"] and again["status"] == "created"
    assert api.launcher.submitted == [first["job_id"]]
    other = _post(api, body, {"Idempotency-Key": "key-2"}).json()
    assert other["job_id"] != first["job_id"]
    r = _post(api, {**body, "workflow_id": "w2"}, {"Idempotency-Key": "key-1"})
    assert r.status_code == 409
    assert _post(api, body, {"Idempotency-Key": "bad key with spaces"}).status_code == 400


def test_jobs_survive_a_restart(tmp_path):
    app, launcher, _ = make_app(tmp_path)
    with TestClient(app) as client:
        job_id = _post(client, {"job_type": "metadata_extraction", "data_source_path": SEED_PATH,
                                "workflow_id": "w1"}, {"Idempotency-Key": "k"}).json()["job_id"]
    app2, launcher2, _ = make_app(tmp_path)
    with TestClient(app2) as client:
        job = client.get(f"/jobs/{job_id}", headers=AUTH).json()
        assert job["status"] == "created" and job["workflow_id"] == "w1"
        assert launcher2.recovered == [job_id]  # unfinished jobs are handed back to the launcher
        again = _post(client, {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "w1"},
                      {"Idempotency-Key": "k"}).json()
        assert again["job_id"] == job_id and launcher2.submitted == []


# ------------------------------------------------------------------ metadata, health, docs

def test_metadata_endpoint(api):
    r = api.get("/workflows/wf_1/metadata", params={"source_id": "src_1"}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"sources", "tables", "columns", "runs"}
    assert body["sources"][0]["extraction_timestamp"] == "2025-01-02T03:04:05+00:00"
    assert api.reader.calls == [("wf_1", "src_1", None)]
    assert api.get("/workflows/wf_1/metadata", params={"run_id": "run_1"}, headers=AUTH).status_code == 200
    assert api.reader.calls[-1] == ("wf_1", None, "run_1")
    assert api.get("/workflows/bad%20id/metadata", headers=AUTH).status_code == 400
    assert api.get("/workflows/wf_1/metadata", params={"source_id": "a b"}, headers=AUTH).status_code == 400


def test_metadata_store_errors_hide_internal_text(tmp_path):
    from executor.errors import MetadataStoreError

    def broken(*_):
        raise MetadataStoreError("java.lang.IllegalStateException at org.apache.spark.Secret(/internal/path)")

    def crashing(*_):
        raise RuntimeError("py4j internal /secret/path")

    for reader, code in ((broken, 503), (crashing, 500)):
        app, _, _ = make_app(tmp_path, reader=reader)
        with TestClient(app, raise_server_exceptions=False) as client:
            r = client.get("/workflows/w1/metadata", headers=AUTH)
            assert r.status_code == code
            assert "internal" not in r.text.replace("Internal server error", "") and "/secret" not in r.text


def test_openapi_describes_every_field(api):
    spec = api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("CreateJobRequest", "CreateJobResponse", "JobStatusResponse", "MetadataResponse",
                 "HealthResponse", "ErrorResponse"):
        for prop, value in schemas[name]["properties"].items():
            assert value.get("description"), f"{name}.{prop} has no description"
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            for param in op.get("parameters", []):
                assert param.get("description"), f"{method} {path} {param['name']}"
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert set(schemas["CreateJobRequest"]["required"]) == {"job_type", "data_source_path", "workflow_id"}
