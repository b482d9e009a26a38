"""Shared helpers of the API unit tests: a recording launcher, a fake metadata reader, an app factory."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from executor.api_server import build_app
from executor.settings import ApiSettings

TOKEN = "test-token-0123456789"
# The seed's cases write "https://..."; a host that is neither Azure storage nor an allowed emulator is
# now refused at the door (403), so the cases use the contract's own example URL, whose account the
# test server allows its own credential for.
SEED_PATH = "https://storageaccount.blob.core.windows.net/container/path"
SERVER_ENV = {"NUVYN_AZURE_CREDENTIAL_ACCOUNTS": "storageaccount"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class RecordingLauncher:
    """A Launcher (executor.api.ports) that records what it is asked and starts nothing."""

    name = "local"

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.recovered: list[str] = []
        self.started = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def submit(self, job) -> None:
        self.submitted.append(job.job_id)

    def recover(self, job) -> None:
        self.recovered.append(job.job_id)

    def cancel(self, job):
        raise AssertionError("RecordingLauncher.cancel: use a launcher that cancels")


class FakeReader:
    """A MetadataReader (executor.api.ports) with fixed rows; no schema-changes store behind it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def changes(self, workflow_id, source_id, from_run, to_run):
        from executor.errors import MetadataStoreError

        raise MetadataStoreError("this reader has no schema changes")

    def metadata(self, workflow_id, source_id, run_id):
        self.calls.append((workflow_id, source_id, run_id))
        ts = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        return {"sources": [{"workflow_id": workflow_id, "source_id": source_id, "extraction_timestamp": ts}],
                "tables": [{"table_name": "customers", "row_count": 3}],
                "columns": [{"table_name": "customers", "column_name": "id", "position": 1}],
                "runs": [{"run_id": "run_x", "status": "succeeded", "started_at": ts}]}


class FunctionReader(FakeReader):
    """A MetadataReader whose metadata() is `function(workflow_id, source_id, run_id)`."""

    def __init__(self, function) -> None:
        super().__init__()
        self.function = function

    def metadata(self, workflow_id, source_id, run_id):
        return self.function(workflow_id, source_id, run_id)


def make_app(tmp_path, *, token: str | None = TOKEN, launcher=None, reader=None, env=None, **settings: Any):
    s = ApiSettings(token=token, allow_no_auth=token is None, jobs_db=str(tmp_path / "jobs.sqlite3"), **settings)
    launcher = launcher or RecordingLauncher()
    reader = reader or FakeReader()
    reader = reader if hasattr(reader, "metadata") else FunctionReader(reader)
    env = SERVER_ENV if env is None else env
    return build_app(s, env, launcher=launcher, metadata_reader=reader), launcher, reader


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadServer:
    """A real uvicorn server (executor.api_server.uvicorn_config: the production protocol, timeouts and
    limits) on a free 127.0.0.1 port, in a thread of the test process. Use as a context manager."""

    def __init__(self, app: Any, settings: ApiSettings, host: str = "127.0.0.1") -> None:
        self.app, self.settings, self.host = app, settings, host
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"

    def __enter__(self) -> ThreadServer:
        import threading
        import time

        import uvicorn

        from executor.api_server import uvicorn_config

        self.server = uvicorn.Server(uvicorn_config(self.app, self.settings, self.host, self.port, "WARNING"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started and time.monotonic() < deadline and self.thread.is_alive():
            time.sleep(0.05)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def api_settings(tmp_path, *, token: str | None = TOKEN, **settings: Any) -> ApiSettings:
    return ApiSettings(token=token, allow_no_auth=token is None, jobs_db=str(tmp_path / "jobs.sqlite3"), **settings)
