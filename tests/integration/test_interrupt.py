"""Ctrl-C (SIGINT) and SIGTERM stop a pytest run, and the fixtures' teardowns stop their servers:
a small pytest run in a subprocess holds Azurite and an API server (the suite's own fixture code,
tests/azurite.py and tests/servers.py, with tests/conftest.py loaded as a plugin), is signalled
while its test waits, and must exit with every server gone. No Spark involved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.azurite import AZURITE_BIN
from tests.servers import wait_budget

REPO = Path(__file__).resolve().parents[2]

INNER = '''
import json, os, time
from pathlib import Path

import pytest

from tests.azurite import azurite_blob
from tests.servers import api_servers as _api_servers

STATE = Path({state!r})


@pytest.fixture()
def azurite():
    yield from azurite_blob()
    (STATE / "azurite-teardown").write_text("done")


@pytest.fixture()
def api_servers():
    yield from _api_servers()
    (STATE / "api-teardown").write_text("done")


def test_holds_servers(azurite, api_servers, tmp_path):
    env = dict(os.environ, NUVYN_WAREHOUSE_DIR=str(tmp_path / "wh"), NUVYN_API_TOKEN="interrupt-test-token")
    server = api_servers(env, tmp_path / "server.log")
    (STATE / "pids.json").write_text(json.dumps({{"azurite": azurite.pid, "api": server.proc.pid}}))
    time.sleep(3600)
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.lane_a_only  # Azurite and the API server: nothing Spark-version specific
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_pytest_and_its_servers(tmp_path, sig):
    if not AZURITE_BIN.exists() or os.environ.get("NUVYN_AZURITE_URL"):
        pytest.skip(f"needs the Azurite binary at {AZURITE_BIN} (run scripts/bootstrap.sh) started by the test")
    state = tmp_path / "state"
    state.mkdir()
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(INNER.format(state=str(state)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUVYN_", "PYTEST_"))}
    env["PYTHONPATH"] = str(REPO)
    with open(tmp_path / "pytest.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
                                 "-q", "-s", str(test_file)], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        limit = wait_budget(300)
        deadline = time.monotonic() + limit
        while not (state / "pids.json").exists():
            assert proc.poll() is None, (tmp_path / "pytest.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"waited {limit:.0f}s for the inner test to start its servers"
            time.sleep(0.2)
        pids = json.loads((state / "pids.json").read_text())
        assert all(_alive(pid) for pid in pids.values()), pids
        proc.send_signal(sig)
        try:
            code = proc.wait(wait_budget(120))
        except subprocess.TimeoutExpired:
            pytest.fail(f"pytest still running {wait_budget(120):.0f}s after {sig.name}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = (tmp_path / "pytest.log").read_text()
    assert code == 2 and "KeyboardInterrupt" in output, output[-3000:]  # 2: interrupted
    assert (state / "azurite-teardown").exists() and (state / "api-teardown").exists(), output[-3000:]
    limit = wait_budget(30)
    deadline = time.monotonic() + limit
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [name for name, pid in pids.items() if _alive(pid)], f"still running {limit:.0f}s later: {pids}"


INNER_SPARK = '''
import json, time
from pathlib import Path

STATE = Path({state!r})


def test_holds_the_shared_session(spark):
    spark.range(10).count()
    (STATE / "pids.json").write_text(json.dumps({{"jvm": spark.sparkContext._gateway.proc.pid}}))
    time.sleep(3600)
'''


def test_ctrl_c_stops_a_run_that_holds_the_spark_session(tmp_path):
    """The shared `spark` fixture replaces pyspark's SIGINT handler (which first calls the JVM to
    cancel jobs): Ctrl-C ends the run at once and the teardown stops the JVM."""
    state = tmp_path / "state"
    state.mkdir()
    test_file = tmp_path / "test_inner_spark.py"
    test_file.write_text(INNER_SPARK.format(state=str(state)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUVYN_", "PYTEST_"))}
    env.update({"PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable})
    with open(tmp_path / "pytest.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
                                 "-q", "-s", str(test_file)], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        limit = wait_budget(900)
        deadline = time.monotonic() + limit
        while not (state / "pids.json").exists():
            assert proc.poll() is None, (tmp_path / "pytest.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"waited {limit:.0f}s for the inner test's Spark session"
            time.sleep(0.5)
        jvm = json.loads((state / "pids.json").read_text())["jvm"]
        assert _alive(jvm)
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(wait_budget(180))
        except subprocess.TimeoutExpired:
            pytest.fail(f"pytest still running {wait_budget(180):.0f}s after SIGINT")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = (tmp_path / "pytest.log").read_text()
    assert code == 2 and "KeyboardInterrupt" in output, output[-3000:]
    limit = wait_budget(60)
    deadline = time.monotonic() + limit
    while _alive(jvm) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _alive(jvm), f"the Spark JVM is still running {limit:.0f}s after pytest exited"
