"""Server processes the tests start (the API server; Azurite is in tests/azurite.py), and the rules
that make them go away with the test run:

- every child is started with `die_with_parent`: Linux sends it SIGTERM when the pytest process
  dies, even by SIGKILL, so nothing is left running;
- fixtures stop their servers in their teardown; tests/conftest.py turns SIGTERM into
  KeyboardInterrupt so that pytest runs the teardowns on SIGTERM as on Ctrl-C.
`wait_budget(seconds)` scales a wait by NUVYN_TEST_WAIT_SCALE (default 1) for slow machines.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1


def wait_budget(seconds: float) -> float:
    """A wait limit: generous by default, times NUVYN_TEST_WAIT_SCALE on a slower machine."""
    try:
        scale = float(os.environ.get("NUVYN_TEST_WAIT_SCALE", "1") or 1)
    except ValueError:
        scale = 1.0
    return seconds * max(scale, 1.0)


def die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGTERM this child when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 20.0) -> None:
    """Signal, wait `grace` seconds, then kill. Idempotent."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    except ProcessLookupError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiServer:
    """`nuvyn-executor serve` on a free 127.0.0.1 port, its output in `log`."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.port = 0

    def start(self) -> ApiServer:
        import httpx

        port = self.port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "executor.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        limit = wait_budget(180)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"waited {limit:.0f}s for the API server to answer /health:\n"
                             + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGINT)


def api_servers() -> Iterator:
    """Generator for a fixture: yields start(env, log) -> a started ApiServer; stops every server
    it started at teardown (also after Ctrl-C or SIGTERM)."""
    started: list[ApiServer] = []

    def start(env: dict[str, str], log: Path) -> ApiServer:
        server = ApiServer(env, log)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()
