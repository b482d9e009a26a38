"""Issue 13 item 6: ids checked whole (no trailing newline), JSON constants refused, tokens of 16+
non-blank characters, OpenAPI with every pattern and the Idempotency-Key header, oversized
job_metadata refused at the door; and over a real uvicorn server: header timeout, redacted access log."""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from executor.errors import SettingsError
from executor.settings import ApiSettings
from tests.api_helpers import AUTH, SEED_PATH, make_app

BODY = {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "w1"}


@pytest.fixture()
def api(tmp_path):
    app, launcher, reader = make_app(tmp_path)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.launcher, client.reader = launcher, reader
        yield client


def test_ids_with_a_trailing_newline_are_refused(api):
    job_id = api.post("/jobs/create", json=BODY, headers=AUTH).json()["job_id"]
    assert api.get(f"/jobs/{job_id}", headers=AUTH).status_code == 200
    assert api.get(f"/jobs/{job_id}%0A", headers=AUTH).status_code == 404
    assert api.post(f"/jobs/{job_id}%0A/cancel", headers=AUTH).status_code == 404
    r = api.get("/workflows/w1%0A/metadata", headers=AUTH)
    assert r.status_code == 400 and "workflow_id is invalid" in r.json()["error"]
    r = api.get("/workflows/w1/metadata", params={"source_id": "s1\n"}, headers=AUTH)
    assert r.status_code == 400
    # body ids are trimmed (surrounding whitespace is no part of an id): nothing with a newline is stored
    r = api.post("/jobs/create", json={**BODY, "workflow_id": "w1\n"}, headers=AUTH)
    assert api.get(f"/jobs/{r.json()['job_id']}", headers=AUTH).json()["workflow_id"] == "w1"
    r = api.post("/jobs/create", json={**BODY, "job_metadata": {"source_id": "s1\nx"}}, headers=AUTH)
    assert r.status_code == 400 and "source_id" in r.json()["error"]
    assert api.reader.calls == []


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_json_constants_and_overflowing_numbers_are_refused(api, number):
    raw = json.dumps({**BODY, "job_metadata": {"x": 0}}).replace('"x": 0', f'"x": {number}')
    r = api.post("/jobs/create", content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert "finite" in r.json()["error"]
    assert api.launcher.submitted == []


def test_large_job_metadata_is_refused_at_the_door_with_the_bound(api):
    r = api.post("/jobs/create", json={**BODY, "job_metadata": {"blob": "x" * 200_000}}, headers=AUTH)
    assert r.status_code == 400 and "the limit is 65536 bytes" in r.json()["error"]
    ok = api.post("/jobs/create", json={**BODY, "job_metadata": {"blob": "x" * 60_000}}, headers=AUTH)
    assert ok.status_code == 200
    assert len(api.launcher.submitted) == 1


@pytest.mark.parametrize("token", ["                    ", "\t" * 20, "short-token-15ch", " padded-token-0123456789 "])
def test_tokens_must_be_16_non_blank_characters(tmp_path, token):
    if token == "short-token-15ch":
        token = token[:15]
    with pytest.raises(SettingsError, match="NUVYN_API_TOKEN"):
        ApiSettings.from_env({"NUVYN_API_TOKEN": token, "NUVYN_API_JOBS_DB": str(tmp_path / "j.db")})
    assert ApiSettings.from_env({"NUVYN_API_TOKEN": "x" * 16, "NUVYN_API_JOBS_DB": str(tmp_path / "j.db")})


def test_openapi_carries_every_pattern_and_the_idempotency_header(api):
    schema = api.get("/openapi.json").json()
    seen = set()
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                name = param["name"]
                if name in ("limit", "status"):
                    continue
                schemas = param["schema"].get("anyOf") or [param["schema"]]
                strings = [s for s in schemas if s.get("type") == "string"]
                assert strings and all("pattern" in s for s in strings), (path, method, name)
                seen.add(name)
    assert {"job_id", "workflow_id", "source_id", "run_id", "from_run", "to_run", "page_token",
            "Idempotency-Key"} <= seen
    create = schema["paths"]["/jobs/create"]["post"]
    header = [p for p in create["parameters"] if p["name"] == "Idempotency-Key"][0]
    assert header["in"] == "header"
    assert {"403", "429"} <= set(create["responses"])
    assert "/jobs/{job_id}/cancel" in schema["paths"] and "get" in schema["paths"]["/jobs"]


# ------------------------------------------------------------------ a real uvicorn server

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path, capsys):
    import uvicorn

    from executor.api_server import route_uvicorn_logs, uvicorn_config
    from executor.logging_setup import configure_logging

    configure_logging("INFO")
    route_uvicorn_logs()
    app, _, _ = make_app(tmp_path)
    port = _free_port()
    settings = ApiSettings(token="t" * 16, jobs_db=str(tmp_path / "jobs.sqlite3"), header_timeout_s=0.5,
                           keep_alive_s=1, limit_concurrency=50)
    srv = uvicorn.Server(uvicorn_config(app, settings, "127.0.0.1", port, "INFO"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield port
    srv.should_exit = True
    thread.join(timeout=15)


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(20)  # generous: this is not a timing assertion, only "the server closes it"
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def test_half_open_connections_are_closed(server):
    silent = socket.create_connection(("127.0.0.1", server))
    partial = socket.create_connection(("127.0.0.1", server))
    partial.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    try:
        assert _closed_by_server(silent)
        assert _closed_by_server(partial)
    finally:
        silent.close()
        partial.close()
    with socket.create_connection(("127.0.0.1", server)) as ok:
        ok.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ok.settimeout(20)
        assert ok.recv(1024).startswith(b"HTTP/1.1 200")


def test_access_log_is_on_and_redacted(server, capsys):
    with socket.create_connection(("127.0.0.1", server)) as c:
        c.sendall(b"GET /health?sig=TopSecretSignature123&x=1 HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer tttttttttttttttt\r\nConnection: close\r\n\r\n")
        c.settimeout(20)
        while c.recv(4096):
            pass
    time.sleep(0.2)
    err = capsys.readouterr().err
    assert "uvicorn.access" in err and "GET /health?sig=***" in err
    assert "TopSecretSignature123" not in err and "tttttttttttttttt" not in err


def test_serve_refuses_to_start_with_a_bad_roots_entry(tmp_path, capsys):
    from executor.api_server import serve

    args = argparse.Namespace(host="127.0.0.1", port=0, no_auth=False, log_level="INFO")
    code = serve(args, {"NUVYN_API_TOKEN": "t" * 16, "NUVYN_API_JOBS_DB": str(tmp_path / "j.db"),
                        "NUVYN_API_SOURCE_ROOTS": "ftp://nope"})
    assert code == 2 and "NUVYN_API_SOURCE_ROOTS entry 'ftp://nope'" in capsys.readouterr().err


def test_unknown_and_repeated_query_parameters_are_refused(api):
    r = api.get("/jobs", params={"sourceid": "x"}, headers=AUTH)
    assert r.status_code == 400 and "Unknown query parameter 'sourceid'" in r.json()["error"]
    r = api.get("/workflows/w1/metadata?run_id=a&run_id=b", headers=AUTH)
    assert r.status_code == 400 and "'run_id' is given more than once" in r.json()["error"]
    assert api.reader.calls == []
