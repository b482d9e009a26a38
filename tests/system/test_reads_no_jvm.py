"""query/runs/tables/diff and the API's metadata reads start no JVM: the CLI runs in a fresh
interpreter that reports whether pyspark/py4j were imported and whether it has child processes; the
API server runs as a real uvicorn process whose children and memory maps are inspected after
concurrent metadata GETs. The overload answers (503 busy, 504 slow) use a reader that blocks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from executor.storage.queries import DeltaReads  # noqa: E402
from tests import metadata_tables as M  # noqa: E402

PROBE = r"""
import json, os, sys
from executor.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
children = open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()
jvm = sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j", "delta"))
print(json.dumps({"code": code, "children": children, "jvm_modules": jvm}), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    wh = tmp_path_factory.mktemp("wh")
    M.build_lake(str(wh / "_executor_metadata.db"))
    return wh


def _env(wh: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUVYN_", "DATABRICKS_"))}
    env.update(NUVYN_WAREHOUSE_DIR=str(wh), PYTHONPATH=str(REPO))
    return env


def _cli(wh: Path, *argv: str) -> tuple[str, dict]:
    p = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=_env(wh),
                       cwd=str(REPO), timeout=120)
    report = json.loads(p.stderr.strip().splitlines()[-1])
    return p.stdout, report


@pytest.mark.parametrize("argv", [
    ["query", "--workflow-id", "wf_1"],
    ["query", "--workflow-id", "wf_1", "--format", "table"],
    ["runs", "--workflow-id", "wf_1", "--format", "json"],
    ["tables", "--workflow-id", "wf_1"],
    ["diff", "--workflow-id", "wf_1"],
])
def test_cli_reads_start_no_jvm(warehouse, argv):
    out, report = _cli(warehouse, *argv)
    assert report == {"code": 0, "children": [], "jvm_modules": []}
    assert out.strip()


def test_cli_json_is_the_reads_answer(warehouse):
    out, _ = _cli(warehouse, "query", "--workflow-id", "wf_1")
    expected = DeltaReads(str(warehouse / "_executor_metadata.db")).query_metadata(workflow_id="wf_1")
    for run in expected["runs"]:
        run["summary"] = json.loads(run["summary"]) if run["summary"] else None
    assert json.loads(out) == json.loads(json.dumps(expected, default=str))
    runs, _ = _cli(warehouse, "runs", "--workflow-id", "wf_1", "--format", "json")
    assert [(r["run_id"], r["status"]) for r in json.loads(runs)][:2] == [("run_a4", "running"), ("run_a3", "failed")]
    diff, _ = _cli(warehouse, "diff", "--workflow-id", "wf_1")
    assert json.loads(diff)["to_run_id"] == "run_a2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 60) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_api_server_reads_without_a_jvm(warehouse, tmp_path):
    port = _free_port()
    env = _env(warehouse)
    env.update(NUVYN_API_ALLOW_NO_AUTH="1", NUVYN_API_JOBS_DB=str(tmp_path / "jobs.sqlite3"))
    proc = subprocess.Popen([sys.executable, "-m", "executor.api_server", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # waits for the server to listen (a loaded machine: up to 60 s)
            try:
                if _get(base + "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the API server did not answer /health")
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: _get(base + "/workflows/wf_1/metadata"), range(40)))
            health = _get(base + "/health")
        assert {code for code, _ in answers} == {200} and health[0] == 200
        reads = DeltaReads(str(warehouse / "_executor_metadata.db"))
        from fastapi.encoders import jsonable_encoder

        assert json.loads(answers[0][1]) == jsonable_encoder(reads.query_metadata(workflow_id="wf_1"))
        code, body = _get(base + "/workflows/wf_1/changes")
        assert code == 200 and json.loads(body) == jsonable_encoder(reads.schema_changes("wf_1"))
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert children == [] and "libjvm" not in maps
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_overload_answers_503_and_a_slow_read_504_while_health_answers(tmp_path):
    from api_helpers import AUTH, TOKEN
    from fastapi.testclient import TestClient

    from executor.api_server import build_app
    from executor.settings import ApiSettings

    release = threading.Event()
    started = threading.Event()

    def slow_reader(workflow_id, source_id, run_id):
        started.set()
        release.wait(60)
        return {"sources": [], "tables": [], "columns": [], "runs": []}

    settings = ApiSettings(token=TOKEN, jobs_db=str(tmp_path / "jobs.sqlite3"))
    env = {"NUVYN_API_READ_WORKERS": "1", "NUVYN_API_READ_MAX_PENDING": "1", "NUVYN_API_READ_TIMEOUT_S": "0.5"}
    from api_helpers import FunctionReader, RecordingLauncher

    app = build_app(settings, env, launcher=RecordingLauncher(), metadata_reader=FunctionReader(slow_reader))
    with TestClient(app) as client:
        slow = client.get("/workflows/wf_1/metadata", headers=AUTH)  # waits for the 0.5 s timeout
        assert slow.status_code == 504 and "NUVYN_API_READ_TIMEOUT_S" in slow.json()["error"]
        assert started.is_set()
        # the timed-out read still runs (blocked): it holds the only slot, so the next read is refused at once
        busy = client.get("/workflows/wf_1/metadata", headers=AUTH)
        assert busy.status_code == 503 and "NUVYN_API_READ_MAX_PENDING" in busy.json()["error"]
        assert busy.headers["Retry-After"] == "1"
        assert client.get("/health").status_code == 200
        release.set()
        for _ in range(100):  # the slot is given back when the blocked read returns
            ok = client.get("/workflows/wf_1/metadata", headers=AUTH)
            if ok.status_code == 200:
                break
            time.sleep(0.05)
        assert ok.status_code == 200 and ok.json()["runs"] == []


def test_bad_read_settings_stop_the_server_at_start(tmp_path):
    import argparse
    import contextlib
    import io

    from executor.api.cli_args import add_serve_args
    from executor.api_server import serve

    parser = argparse.ArgumentParser()
    add_serve_args(parser)
    args = parser.parse_args(["--no-auth"])
    base = {"NUVYN_API_JOBS_DB": str(tmp_path / "jobs.sqlite3"), "NUVYN_WAREHOUSE_DIR": str(tmp_path)}
    for bad, name in (({"NUVYN_API_READ_WORKERS": "0"}, "NUVYN_API_READ_WORKERS"),
                      ({"NUVYN_API_READ_TIMEOUT_S": "soon"}, "NUVYN_API_READ_TIMEOUT_S"),
                      ({"NUVYN_READ_BACKEND": "duckdb"}, "NUVYN_READ_BACKEND")):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert serve(args, {**base, **bad}) == 2
        assert name in err.getvalue()
