"""Issue 21, the API's last holes, tried against real servers: the queue bound under a concurrent
burst, slow clients (body timeout, /health under the connection limit, the head size bound),
X-Forwarded-For only from configured proxies, the Host check, credentials bound to an endpoint."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from executor.api import store as job_store
from executor.api.store import JobRecord, JobStore
from executor.api_server import build_app
from tests.api_helpers import (
    AUTH,
    SEED_PATH,
    SERVER_ENV,
    TOKEN,
    FakeReader,
    RecordingLauncher,
    ThreadServer,
    api_settings,
)
from tests.servers import wait_budget

REPO = Path(__file__).resolve().parents[2]

BODY = {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "w1"}


def _app(tmp_path, settings, env=None):
    launcher = RecordingLauncher()  # records, never starts: every accepted job stays 'created'
    return build_app(settings, SERVER_ENV if env is None else env, launcher=launcher,
                     metadata_reader=FakeReader()), launcher


# ------------------------------------------------------------------ 3. the queue bound, atomically

def test_a_concurrent_burst_over_http_gets_exactly_the_queue_bound(tmp_path):
    """The bug: count, then insert, no lock: 30 concurrent creates got 30 queued jobs with a bound of 2."""
    settings = api_settings(tmp_path, max_queued_jobs=2)
    app, launcher = _app(tmp_path, settings)
    barrier = threading.Barrier(30)
    codes: list[int] = []

    with ThreadServer(app, settings) as server:
        def create() -> None:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
                barrier.wait()
                codes.append(client.post("/jobs/create", json=BODY).status_code)

        threads = [threading.Thread(target=create) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert sorted(codes) == [200] * 2 + [429] * 28, codes
    assert len(launcher.submitted) == 2
    assert JobStore(settings.jobs_db).count("created") == 2


def _insert_many(path: str, start, results) -> None:
    store = JobStore(path)
    start.wait()
    for n in range(10):
        job = JobRecord(job_id=f"job_{multiprocessing.current_process().pid}_{n}", status="created",
                        job_type="metadata_extraction", workflow_id="w", source_id=None, data_source_path="/x",
                        payload={}, launcher="local", run_id=f"run_{n}")
        try:
            store.insert(job, max_waiting=3)
            results.put("ok")
        except job_store.QueueBoundReached:
            results.put("full")


def test_the_queue_bound_holds_across_processes(tmp_path):
    path = str(tmp_path / "jobs.sqlite3")
    JobStore(path)
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_insert_many, args=(path, start, results)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in range(40)]
    for p in procs:
        p.join(60)
    assert outcomes.count("ok") == 3 and JobStore(path).count("created") == 3


# ------------------------------------------------------------------ 4. and 5. slow clients, proxies, Host

def _server_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUVYN_", "DATABRICKS_", "FORWARDED_"))}
    env.update({"NUVYN_WAREHOUSE_DIR": str(tmp_path / "warehouse"), "PYTHONPATH": str(REPO),
                "NUVYN_AZURE_CREDENTIAL_ACCOUNTS": "storageaccount"}, **extra)
    return env


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (the server closes after it, or it carries a Content-Length)."""
    sock.settimeout(wait_budget(30))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(wait_budget(30))  # "the server closes it", not a timing assertion
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True


def test_health_answers_while_250_slow_unauthenticated_bodies_are_open(tmp_path, api_servers):
    """The bug: idle and slow sockets counted against NUVYN_API_LIMIT_CONCURRENCY (200): 250 slow
    unauthenticated bodies kept /health (and every client) at 503. Default settings, a real server."""
    server = api_servers(_server_env(tmp_path, NUVYN_API_TOKEN=TOKEN), tmp_path / "server.log")
    host = server.url.removeprefix("http://")
    slow: list[socket.socket] = []
    try:
        head = (f"POST /jobs/create HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n{").encode()
        for _ in range(250):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(head)
            slow.append(sock)
        for sock in slow:  # every one was answered 401 before its body, and stays open sending it
            assert _read_response(sock).startswith(b"HTTP/1.1 401")
            sock.sendall(b" ")
        health = httpx.get(f"{server.url}/health", timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        jobs = httpx.get(f"{server.url}/jobs", headers=AUTH, timeout=30)
        assert jobs.status_code == 200, jobs.text
    finally:
        for sock in slow:
            sock.close()


def test_a_100_kb_request_head_is_refused_and_x_forwarded_for_is_ignored(tmp_path, api_servers):
    log = tmp_path / "server.log"
    server = api_servers(_server_env(tmp_path, NUVYN_API_TOKEN=TOKEN), log)
    host = server.url.removeprefix("http://")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # one write, a complete head
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\nX-Pad: {'a' * 100_000}\r\n\r\n".encode())
        answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 431") and b"16384 bytes" in answer, answer[:200]
        assert _closed(sock)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # a head arriving in several reads
        head = f"GET /health HTTP/1.1\r\nHost: {host}\r\nX-Pad: {'a' * 100_000}\r\n\r\n".encode()
        for at in range(0, 3 * 8192, 8192):  # 24 KiB of an unfinished head, then wait for the answer
            sock.sendall(head[at:at + 8192])
            time.sleep(0.05)
        answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 431") and b"16384 bytes" in answer, answer[:200]
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # padding the parser strips counts too
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\nX-Pad: a{' ' * 100_000}\r\n\r\n".encode())
        assert _read_response(sock).startswith(b"HTTP/1.1 431")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # under the bound: answered
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\nX-Pad: {'a' * 15_000}\r\n\r\n".encode())
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
    r = httpx.get(f"{server.url}/health?probe=xff1", headers={"X-Forwarded-For": "203.0.113.77"})
    assert r.status_code == 200
    server.stop()
    line = next(x for x in log.read_text().splitlines() if "probe=xff1" in x)
    assert "127.0.0.1:" in line and "203.0.113.77" not in line


def test_body_timeout_host_check_and_a_configured_proxy(tmp_path, api_servers):
    """Without a token: a slow body gets 408 and its connection closed after NUVYN_API_BODY_TIMEOUT_S;
    a Host that is not loopback or --host gets 400 (DNS rebinding); X-Forwarded-For is believed from
    NUVYN_API_TRUSTED_PROXIES."""
    log = tmp_path / "server.log"
    server = api_servers(_server_env(tmp_path, NUVYN_API_ALLOW_NO_AUTH="1", NUVYN_API_BODY_TIMEOUT_S="1",
                                     NUVYN_API_TRUSTED_PROXIES="127.0.0.1"), log)
    host = server.url.removeprefix("http://")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(f"POST /jobs/create HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     "Content-Length: 1000\r\n\r\n{\"job_type\": ".encode())
        answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 408") and b"NUVYN_API_BODY_TIMEOUT_S" in answer, answer[:300]
        assert _closed(sock)
    rebinding = httpx.get(f"{server.url}/jobs", headers={"Host": f"attacker.example:{server.port}"})
    assert rebinding.status_code == 400 and "NUVYN_API_ALLOWED_HOSTS" in rebinding.json()["error"]
    assert httpx.get(f"{server.url}/jobs", headers={"Host": f"localhost:{server.port}"}).status_code == 200
    assert httpx.get(f"{server.url}/jobs").status_code == 200
    r = httpx.get(f"{server.url}/health?probe=xff2", headers={"X-Forwarded-For": "203.0.113.78"})
    assert r.status_code == 200
    server.stop()
    line = next(x for x in log.read_text().splitlines() if "probe=xff2" in x)
    assert "203.0.113.78" in line


def test_host_names_follow_the_setting(tmp_path):
    from fastapi.testclient import TestClient

    from executor.errors import SettingsError
    from executor.settings import ApiSettings

    with_token = api_settings(tmp_path, allowed_hosts="api.example.com, Localhost:8080")
    app, _ = _app(tmp_path, with_token)
    with TestClient(app, base_url="http://api.example.com") as client:
        assert client.get("/jobs", headers=AUTH).status_code == 200
        assert client.get("/jobs", headers={**AUTH, "Host": "localhost"}).status_code == 200
        r = client.get("/health", headers={"Host": "rebind.attacker.example"})
        assert r.status_code == 400 and "NUVYN_API_ALLOWED_HOSTS" in r.json()["error"]
    app, _ = _app(tmp_path, api_settings(tmp_path))  # a token and no setting: any Host
    with TestClient(app, base_url="http://anything.example") as client:
        assert client.get("/jobs", headers=AUTH).status_code == 200
    app, _ = _app(tmp_path, api_settings(tmp_path, token=None, allowed_hosts="*"))
    with TestClient(app, base_url="http://anything.example") as client:
        assert client.get("/jobs").status_code == 200
    assert api_settings(tmp_path, token=None).host_names("10.1.2.3") == {"localhost", "127.0.0.1", "::1", "10.1.2.3"}
    assert api_settings(tmp_path, token=None).host_names("0.0.0.0") == {"localhost", "127.0.0.1", "::1"}
    for bad in ({"NUVYN_API_ALLOWED_HOSTS": " , "}, {"NUVYN_API_TRUSTED_PROXIES": "10.0.0.1,proxy.local"}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            ApiSettings.from_env({"NUVYN_API_TOKEN": TOKEN, "NUVYN_API_JOBS_DB": "j.db", **bad})
    assert ApiSettings.from_env({"NUVYN_API_TOKEN": TOKEN, "NUVYN_API_JOBS_DB": "j.db",
                                 "NUVYN_API_TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16,::1"}).proxy_networks() == [
        "10.0.0.1", "10.1.0.0/16", "::1"]


def test_the_limit_counts_authenticated_requests_in_progress_never_health(tmp_path):
    import time

    settings = api_settings(tmp_path, limit_concurrency=2)
    app, _ = _app(tmp_path, settings)
    with ThreadServer(app, settings) as server:
        slow = []
        for _ in range(2):  # two authenticated creates whose bodies are still arriving: in progress
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(f"POST /jobs/create HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                         "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{".encode())
            slow.append(sock)
        deadline = time.monotonic() + wait_budget(30)
        while (busy := httpx.get(f"{server.url}/jobs", headers=AUTH)).status_code != 503:
            assert time.monotonic() < deadline, busy.text
            time.sleep(0.05)
        assert "NUVYN_API_LIMIT_CONCURRENCY" in busy.json()["error"] and busy.headers["Retry-After"] == "1"
        assert httpx.get(f"{server.url}/health").status_code == 200
        assert httpx.get(f"{server.url}/jobs").status_code == 401  # no token: answered, never counted
        for sock in slow:
            sock.close()
        while httpx.get(f"{server.url}/jobs", headers=AUTH).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_every_api_and_job_guard_setting_is_documented():
    from executor.settings import ApiSettings, FileModeSettings, SourceGuardSettings

    api = (REPO / "docs" / "API.md").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    everything = ApiSettings.describe() + SourceGuardSettings.describe() + FileModeSettings.describe()
    assert [env for env, _d, _t in everything if f"| `{env}` |" not in api] == []
    assert [env for env, _d, _t in FileModeSettings.describe() + SourceGuardSettings.describe()
            if f"`{env}`" not in readme] == []


def test_the_local_umask_setting():
    from executor.errors import SettingsError
    from executor.settings import FileModeSettings

    assert FileModeSettings.from_env({}).mask == 0o077
    assert FileModeSettings.from_env({"NUVYN_LOCAL_UMASK": "027"}).mask == 0o027
    for bad in ("77", "0o77", "rw", "888"):
        with pytest.raises(SettingsError, match="NUVYN_LOCAL_UMASK"):
            FileModeSettings.from_env({"NUVYN_LOCAL_UMASK": bad})


# ------------------------------------------------------------------ 2. credentials bound to an endpoint

@pytest.mark.parametrize("accounts, allowed, refused", [
    ("prodacct", ["https://prodacct.blob.core.windows.net/c/x", "abfss://c@prodacct.dfs.core.windows.net/x"],
     ["https://prodacct.blob.core.chinacloudapi.cn/c/x", "https://prodacct.dfs.core.usgovcloudapi.net/c/x",
      "wasbs://c@prodacct.blob.core.usgovcloudapi.net/x", "http://127.0.0.1:10997/prodacct/c/x"]),
    ("prodacct.blob.core.chinacloudapi.cn, https://govacct.dfs.core.usgovcloudapi.net/",
     ["https://prodacct.blob.core.chinacloudapi.cn/c/x", "abfss://c@govacct.dfs.core.usgovcloudapi.net/x"],
     ["https://prodacct.blob.core.windows.net/c/x", "https://govacct.blob.core.windows.net/c/x"]),
    ("http://127.0.0.1:10997/prodacct", ["http://127.0.0.1:10997/prodacct/c/x"],
     ["https://prodacct.blob.core.windows.net/c/x", "http://127.0.0.1:10996/prodacct/c/x"]),
])
def test_the_servers_credential_serves_only_the_listed_endpoints(tmp_path, accounts, allowed, refused):
    """The bug: the allow-list compared account names, so the public cloud's `prodacct` credential was
    used for prodacct.blob.core.chinacloudapi.cn and *.usgovcloudapi.net."""
    from fastapi.testclient import TestClient

    from executor.errors import SourceError
    from executor.settings import Settings
    from executor.sources.azure import resolve_credential
    from executor.sources.location import emulator_hosts, parse_location

    env = {"NUVYN_AZURE_CREDENTIAL_ACCOUNTS": accounts,  # DefaultAzureCredential (managed identity)
           "NUVYN_AZURE_EMULATOR_HOSTS": "127.0.0.1:10997,127.0.0.1:10996"}
    app, launcher = _app(tmp_path, api_settings(tmp_path), env=env)
    with TestClient(app) as client:
        for path in allowed + refused:
            r = client.post("/jobs/create", json={**BODY, "data_source_path": path}, headers=AUTH)
            assert r.status_code == (200 if path in allowed else 403), (path, r.text)
            if r.status_code == 403:
                assert "NUVYN_AZURE_CREDENTIAL_ACCOUNTS" in r.json()["error"]
    assert len(launcher.submitted) == len(allowed)
    settings = Settings.from_env(env)  # the job's own check, API or not
    hosts = emulator_hosts(None, settings.azure_emulator_hosts)
    for path in allowed:
        assert resolve_credential(parse_location(path, None, hosts), settings).kind == "default"
    for path in refused:
        with pytest.raises(SourceError, match="NUVYN_AZURE_CREDENTIAL_ACCOUNTS"):
            resolve_credential(parse_location(path, None, hosts), settings)


def test_a_bad_credential_accounts_entry_stops_the_server(tmp_path):
    from executor.errors import SettingsError

    for bad in ("prod_acct", "prodacct.blob.example.com", "https://user@prodacct.blob.core.windows.net"):
        with pytest.raises(SettingsError, match=f"NUVYN_AZURE_CREDENTIAL_ACCOUNTS entry {bad!r}"):
            build_app(api_settings(tmp_path), {"NUVYN_AZURE_CREDENTIAL_ACCOUNTS": f"goodacct,{bad}"},
                      launcher=RecordingLauncher(), metadata_reader=FakeReader())
