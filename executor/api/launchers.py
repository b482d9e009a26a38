"""Launchers start a job and follow it to its end, recording every change in the JobStore.

LocalLauncher       `python -m executor.main --payload <json> --run-id <run_id> --write-to-db` as a
                    child process (or the payload in NUVYN_JOB_PAYLOAD), at most N at once; more
                    jobs wait in a FIFO queue with status 'created'.
DatabricksLauncher  WorkspaceClient().jobs.run_now(job_id=<configured>, job_parameters={"payload":
                    <json>}, idempotency_token=<job_id>); status from jobs.get_run, polled.

Exit codes of the child (executor.main): 0 -> the report's status (succeeded | partial),
1 -> failed (the report's error_message), 2 -> failed with stderr's `error: ...` line.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import executor
from executor.api.store import JobRecord, JobStore, utcnow
from executor.payload import PAYLOAD_ENV
from executor.redaction import SECRETS

logger = logging.getLogger(__name__)

# Environment variables a child job never inherits (the API's own secrets).
CHILD_ENV_DROP = ("NUVYN_API_TOKEN", "DATABRICKS_TOKEN")
MAX_ERROR_CHARS = 2000


class Launcher(Protocol):
    name: str

    def start(self) -> None: ...

    def submit(self, job: JobRecord) -> None: ...

    def recover(self, job: JobRecord) -> None: ...

    def stop(self) -> None: ...


def _clean_error(text: str | None) -> str | None:
    if not text:
        return None
    return SECRETS.redact(text.strip().splitlines()[0])[:MAX_ERROR_CHARS] if text.strip() else None


def parse_report(stdout: str) -> dict[str, Any] | None:
    """The executor's JSON report: the last top-level JSON object printed on stdout."""
    decoder = json.JSONDecoder()
    starts = [i for i in range(len(stdout)) if stdout[i] == "{" and (i == 0 or stdout[i - 1] == "\n")]
    for start in reversed(starts):
        try:
            value, _ = decoder.raw_decode(stdout, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "status" in value:
            return value
    return None


def stderr_error_line(stderr: str) -> str | None:
    """The `error: ...` line executor.main prints on bad input (exit code 2)."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("error: "):
            return line[len("error: "):]
    return None


def outcome(exit_code: int | None, stdout: str, stderr: str) -> dict[str, Any]:
    """Exit code + captured output -> the job's final fields (pure)."""
    report = parse_report(stdout)
    summary = report.get("summary") if report else None
    # exit_code None: a job recovered after a restart; its report (if any) is the truth
    if exit_code in (0, None) and report and report.get("status") in ("succeeded", "partial"):
        return {"status": report["status"], "summary": summary, "error_message": None}
    if exit_code == 2:
        msg = stderr_error_line(stderr) or "the job rejected its payload (exit code 2)"
        return {"status": "failed", "summary": summary, "error_message": _clean_error(msg)}
    if report and report.get("error_message"):
        return {"status": "failed", "summary": summary, "error_message": _clean_error(report["error_message"])}
    if exit_code is None:
        msg = "the API server restarted while the job ran, and the job left no report"
    elif exit_code < 0:
        msg = f"the job process was killed by signal {-exit_code}"
    elif exit_code == 0:
        msg = "the job ended without a readable report"
    else:
        msg = f"the job process ended with exit code {exit_code}"
    return {"status": "failed", "summary": summary, "error_message": msg}


def _pid_runs(pid: int, run_id: str) -> bool:
    """True while process `pid` is alive and still the job's (guards against pid reuse on Linux)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    except OSError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            text = cmdline.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return False
        return run_id in text or "executor.main" in text
    return True


class LocalLauncher:
    """Runs jobs as child processes of the server, at most `max_concurrent` at once."""

    name = "local"

    def __init__(self, store: JobStore, *, max_concurrent: int = 2, python: str | None = None,
                 logs_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None,
                 payload_transport: str = "argument", poll_seconds: float = 1.0) -> None:
        self.store = store
        self.max_concurrent = max_concurrent
        self.python = python or sys.executable
        self.logs_dir = Path(logs_dir)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ if env is None else env)
        self.payload_transport = payload_transport
        self.poll_seconds = poll_seconds
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._procs: dict[str, subprocess.Popen] = {}
        self._stopping = threading.Event()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        for i in range(self.max_concurrent):
            t = threading.Thread(target=self._worker, name=f"nuvyn-local-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Stop taking jobs. Running children go on (a restarted server picks them up again)."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)

    def submit(self, job: JobRecord) -> None:
        self._queue.put(job.job_id)

    def recover(self, job: JobRecord) -> None:
        if job.status == "created":
            self.submit(job)
            return
        if job.pid and _pid_runs(job.pid, job.run_id):
            logger.info("job %s: child %s still runs; following it", job.job_id, job.pid)
            threading.Thread(target=self._watch_orphan, args=(job,), daemon=True).start()
        else:
            self._finish(job.job_id, None)

    # ---------------------------------------------------------------- internals
    def command(self, job: JobRecord) -> tuple[list[str], dict[str, str]]:
        payload = json.dumps(job.payload, ensure_ascii=False)
        cmd = [self.python, "-m", "executor.main"]
        env = {k: v for k, v in self.env.items() if k not in CHILD_ENV_DROP}
        if self.payload_transport == "env":
            env[PAYLOAD_ENV] = payload
        else:
            env.pop(PAYLOAD_ENV, None)
            cmd += ["--payload", payload]
        cmd += ["--run-id", job.run_id, "--write-to-db"]
        root = str(Path(executor.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        return cmd, env

    def _paths(self, job_id: str) -> tuple[Path, Path]:
        return self.logs_dir / f"{job_id}.stdout", self.logs_dir / f"{job_id}.stderr"

    def _worker(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._run(job_id)
            except Exception as exc:  # noqa: BLE001 - one broken job must not kill the worker
                logger.exception("job %s: launcher error", job_id)
                self.store.update(job_id, status="failed", finished_at=utcnow(),
                                  error_message=f"the job could not be started ({type(exc).__name__})")

    def _run(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or job.status != "created":
            return
        cmd, env = self.command(job)
        out_path, err_path = self._paths(job_id)
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
        self._procs[job_id] = proc
        self.store.update(job_id, status="running", started_at=utcnow(), pid=proc.pid)
        logger.info("job %s: started run %s (pid %s)", job_id, job.run_id, proc.pid)
        code = proc.wait()
        self._procs.pop(job_id, None)
        self._finish(job_id, code)

    def _watch_orphan(self, job: JobRecord) -> None:
        while job.pid and _pid_runs(job.pid, job.run_id):
            time.sleep(self.poll_seconds)
        self._finish(job.job_id, None)

    def _finish(self, job_id: str, code: int | None) -> None:
        out_path, err_path = self._paths(job_id)
        stdout = out_path.read_text(encoding="utf-8", errors="replace") if out_path.exists() else ""
        stderr = err_path.read_text(encoding="utf-8", errors="replace") if err_path.exists() else ""
        result = outcome(code, stdout, stderr)
        self.store.update(job_id, finished_at=utcnow(), exit_code=code, **result)
        logger.info("job %s: %s (exit code %s)", job_id, result["status"], code)


# Databricks run states -> job status
_PENDING = {"PENDING", "QUEUED", "BLOCKED", "WAITING_FOR_RETRY"}
_RUNNING = {"RUNNING", "TERMINATING"}
_OK_RESULTS = {"SUCCESS", "SUCCESS_WITH_FAILURES"}


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "value", None) or str(value)


def databricks_status(run: Any) -> dict[str, Any]:
    """A jobs.get_run Run -> the job's status fields (pure)."""
    state = getattr(run, "state", None)
    life = _enum_name(getattr(state, "life_cycle_state", None))
    result = _enum_name(getattr(state, "result_state", None))
    message = getattr(state, "state_message", None) or None
    if life in _PENDING or life is None:
        return {"status": "created"}
    if life in _RUNNING:
        return {"status": "running"}
    if life == "TERMINATED" and result in _OK_RESULTS:
        return {"status": "succeeded", "error_message": None}
    detail = f"Databricks run ended: {life}" + (f"/{result}" if result else "")
    if message:
        detail += f": {message}"
    return {"status": "failed", "error_message": _clean_error(detail)}


class DatabricksLauncher:
    """Starts the deployed executor job with run_now and follows it with get_run."""

    name = "databricks"

    def __init__(self, store: JobStore, *, job_id: int, client_factory: Callable[[], Any],
                 poll_seconds: float = 10.0) -> None:
        self.store = store
        self.job_id = job_id
        self.client_factory = client_factory
        self.poll_seconds = poll_seconds
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self.client_factory()
            return self._client

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll_loop, name="nuvyn-databricks-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def submit(self, job: JobRecord) -> None:
        threading.Thread(target=self._submit, args=(job.job_id,), daemon=True).start()

    def recover(self, job: JobRecord) -> None:
        if job.external_run_id is None:
            self.submit(job)  # the idempotency token makes a second run_now return the same run
        self._wake.set()

    def _submit(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or job.external_run_id is not None:
            return
        try:
            waiter = self.client.jobs.run_now(
                job_id=self.job_id,
                job_parameters={"payload": json.dumps(job.payload, ensure_ascii=False)},
                idempotency_token=job.job_id,
            )
            run_id = str(getattr(waiter, "run_id", None) or waiter.response.run_id)
        except Exception as exc:  # noqa: BLE001 - recorded as the job's failure
            logger.error("job %s: run_now failed: %s", job_id, SECRETS.redact(str(exc)))
            self.store.update(job_id, status="failed", finished_at=utcnow(),
                              error_message=_clean_error(f"Databricks run_now failed: {exc}"))
            return
        self.store.update(job_id, external_run_id=run_id, run_id=run_id)
        logger.info("job %s: Databricks run %s", job_id, run_id)
        self._wake.set()

    def refresh(self, job: JobRecord) -> JobRecord:
        if job.external_run_id is None or job.status not in ("created", "running"):
            return job
        run = self.client.jobs.get_run(int(job.external_run_id))
        changes = databricks_status(run)
        if changes["status"] != "created" and not job.started_at:
            changes["started_at"] = utcnow()
        if changes["status"] in ("succeeded", "failed"):
            changes["finished_at"] = utcnow()
        if changes["status"] == job.status and "finished_at" not in changes and "started_at" not in changes:
            return job
        return self.store.update(job.job_id, **changes) or job

    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            for job in self.store.active():
                if job.launcher != self.name:
                    continue
                try:
                    self.refresh(job)
                except Exception as exc:  # noqa: BLE001 - try again next round
                    logger.warning("job %s: get_run failed: %s", job.job_id, SECRETS.redact(str(exc)))
            self._wake.wait(self.poll_seconds)
            self._wake.clear()


def databricks_client_factory(host: str | None, token: str | None) -> Callable[[], Any]:
    def build() -> Any:
        from databricks.sdk import WorkspaceClient

        if host or token:
            return WorkspaceClient(host=host, token=token)
        return WorkspaceClient()

    return build
