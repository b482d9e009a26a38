"""Launchers start a job and follow it to its end, recording every change in the job store.

LocalLauncher       `python -m executor.main --run-id <run_id> --write-to-db --result-file <file>` as a
                    child process with the payload in NUVYN_JOB_PAYLOAD (never on the command line) and
                    the server's NUVYN_API_SOURCE_ROOTS, which the job enforces again (SourceGuard), at
                    most N at once (recovered children count too); more jobs wait in a queue with status
                    'created'. The job's outcome is its result file (executor.job_result: exit code, run
                    status, summary, error), not its output. Logs and results are 0600 files in a 0700
                    folder, deleted after the retention.
DatabricksLauncher  WorkspaceClient().jobs.run_now(job_id=<configured>, job_parameters={"payload":
                    <json>}, idempotency_token=<job_id>); status from jobs.get_run, polled.

Both satisfy executor.api.ports.Launcher.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Protocol

import executor
from executor.api.ports import JobRepository
from executor.api.statuses import (
    ACTIVE_STATUSES,
    JOB_CANCELLED,
    JOB_CREATED,
    JOB_FAILED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JobStatus,
    job_status_of_run,
)
from executor.api.store import JobRecord, utcnow
from executor.job_result import JobResult, read_result
from executor.payload import PAYLOAD_ENV
from executor.redaction import SECRETS, Secret
from executor.run import EXIT_BAD_INPUT, EXIT_OK

logger = logging.getLogger(__name__)

ENFORCE_ROOTS_ENV, ROOTS_ENV = "NUVYN_JOB_ENFORCE_SOURCE_ROOTS", "NUVYN_API_SOURCE_ROOTS"  # SourceGuardSettings
# Environment variables a child job never inherits (the API's own secrets).
CHILD_ENV_DROP = ("NUVYN_API_TOKEN", "DATABRICKS_TOKEN")
MAX_ERROR_CHARS = 2000


def _clean_error(text: str | None) -> str | None:
    """The first line of an error, secrets redacted, bounded."""
    if not text or not text.strip():
        return None
    return SECRETS.redact(text.strip().splitlines()[0])[:MAX_ERROR_CHARS]


@dataclass(frozen=True)
class Outcome:
    """A finished job's fields: its final status, the run's summary and why it failed."""

    status: JobStatus
    summary: dict[str, Any] | None = None
    error_message: str | None = None


def outcome(exit_code: int | None, result: JobResult | None) -> Outcome:
    """The child's exit code and result file -> the job's final fields (pure). `exit_code` None: a job
    recovered after a restart, whose result file (if any) is the truth."""
    if result is not None and exit_code in (None, result.exit_code):
        status = job_status_of_run(result.exit_code, result.status)
        if status != JOB_FAILED:
            return Outcome(status, result.summary)
        reason = result.error_message or (
            f"the job rejected its request (exit code {EXIT_BAD_INPUT})" if result.exit_code == EXIT_BAD_INPUT
            else f"the run ended {result.status} (exit code {result.exit_code})")
        return Outcome(JOB_FAILED, result.summary, _clean_error(reason))
    if exit_code is None:
        reason = "the API server restarted while the job ran, and the job left no result"
    elif exit_code < 0:
        reason = f"the job process was killed by signal {-exit_code}"
    elif exit_code == EXIT_OK:
        reason = "the job ended without a result file"
    else:
        reason = f"the job process ended with exit code {exit_code}"
    return Outcome(JOB_FAILED, result.summary if result else None, reason)


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
    """Runs jobs as child processes of the server, at most `max_concurrent` at once.

    One limit counts every running child: the ones this server started and the ones a previous
    server started and this one recovered (followed by pid). A job past `timeout_s` and a cancelled
    job have their process group terminated (SIGTERM, then SIGKILL after `kill_grace_s`)."""

    name = "local"

    def __init__(self, store: JobRepository, *, max_concurrent: int = 2, python: str | None = None,
                 logs_dir: str | os.PathLike[str], env: Mapping[str, str],
                 payload_transport: str = "env", poll_seconds: float = 1.0, timeout_s: float | None = None,
                 log_retention_s: float | None = None, kill_grace_s: float = 5.0,
                 source_roots: str | None = None) -> None:
        if payload_transport != "env":
            raise ValueError("the payload reaches a local job only through the environment (never argv)")
        self.store = store
        self.max_concurrent = max_concurrent
        self.python = python or sys.executable
        self.logs_dir = Path(logs_dir)
        self.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.logs_dir, 0o700)
        self.env = dict(env)
        self.poll_seconds = poll_seconds
        self.timeout_s = timeout_s
        self.log_retention_s = log_retention_s
        self.kill_grace_s = kill_grace_s
        self.source_roots = source_roots
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._slots = threading.Condition()
        self._running: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self.prune_logs()
        t = threading.Thread(target=self._dispatch, name="nuvyn-local-dispatch", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Stop taking jobs. Running children go on (a restarted server picks them up again)."""
        self._stopping.set()
        self._queue.put(None)
        with self._slots:
            self._slots.notify_all()

    def submit(self, job: JobRecord) -> None:
        self._queue.put(job.job_id)

    def running_count(self) -> int:
        with self._slots:
            return len(self._running)

    def recover(self, job: JobRecord) -> None:
        if job.status == JOB_CREATED:
            self.submit(job)
            return
        if job.pid and _pid_runs(job.pid, job.run_id):
            logger.info("job %s: child %s still runs; following it (counts toward the limit)", job.job_id, job.pid)
            with self._slots:
                self._running.add(job.job_id)
            threading.Thread(target=self._watch_orphan, args=(job,), daemon=True).start()
        else:
            self._finish(job.job_id, None)

    def cancel(self, job: JobRecord) -> JobRecord:
        """Cancel a queued or running job: a queued one never starts; a running one's process group is
        terminated. The job ends with status 'cancelled'."""
        running = job.status == JOB_RUNNING
        updated = self.store.update(job.job_id, status=JOB_CANCELLED, error_message="cancelled by request",
                                    finished_at=None if running else utcnow()) or job
        if running and job.pid:
            proc = self._procs.get(job.job_id)
            if proc is not None or _pid_runs(job.pid, job.run_id):
                threading.Thread(target=self._terminate, args=(job.pid, proc), daemon=True).start()
        logger.info("job %s: cancelled (was %s)", job.job_id, job.status)
        return updated

    # ---------------------------------------------------------------- internals
    def command(self, job: JobRecord) -> tuple[list[str], dict[str, str]]:
        """The child's argv and environment. The payload (it may hold a SAS URL) goes in the
        environment only: argv is world-readable (`ps`), /proc/<pid>/environ is not."""
        payload = json.dumps(job.payload, ensure_ascii=False)
        cmd = [self.python, "-m", "executor.main", "--run-id", job.run_id, "--write-to-db",
               "--result-file", str(self.result_path(job.job_id))]
        env = {k: v for k, v in self.env.items() if k not in CHILD_ENV_DROP}
        env[PAYLOAD_ENV] = payload
        # the job checks its source again when it opens it, against this server's roots, and reads
        # local files confined to the root (executor.sources.policy.SourceGuard): the path was checked
        # here when the job was created, maybe minutes before (or by another server, for a recovered job)
        env[ENFORCE_ROOTS_ENV] = "1"
        env.pop(ROOTS_ENV, None)
        if self.source_roots:
            env[ROOTS_ENV] = self.source_roots
        root = str(Path(executor.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        return cmd, env

    def _paths(self, job_id: str) -> tuple[Path, Path]:
        return self.logs_dir / f"{job_id}.stdout", self.logs_dir / f"{job_id}.stderr"

    def result_path(self, job_id: str) -> Path:
        """Where the child writes its result (executor.job_result), next to its logs."""
        return self.logs_dir / f"{job_id}.result.json"

    @staticmethod
    def _private_file(path: Path) -> IO[bytes]:
        """Open `path` for writing with mode 0600 (also when it already existed)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "wb")

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._slots:
                while len(self._running) >= self.max_concurrent and not self._stopping.is_set():
                    self._slots.wait()
                if self._stopping.is_set():
                    return
                job = self.store.get(job_id)
                if job is None or job.status != JOB_CREATED or job_id in self._running:
                    continue
                self._running.add(job_id)
            threading.Thread(target=self._slot, args=(job_id,), name=f"nuvyn-job-{job_id[-6:]}", daemon=True).start()

    def _release(self, job_id: str) -> None:
        with self._slots:
            self._running.discard(job_id)
            self._slots.notify_all()

    def _slot(self, job_id: str) -> None:
        try:
            self._run(job_id)
        except Exception as exc:  # noqa: BLE001 - one broken job must not kill the launcher
            logger.exception("job %s: launcher error", job_id)
            self.store.update(job_id, status=JOB_FAILED, finished_at=utcnow(),
                              error_message=f"the job could not be started ({type(exc).__name__})")
        finally:
            self._release(job_id)

    def _run(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or job.status != JOB_CREATED:
            return
        cmd, env = self.command(job)
        out_path, err_path = self._paths(job_id)
        self.result_path(job_id).unlink(missing_ok=True)
        with self._private_file(out_path) as out, self._private_file(err_path) as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
        self._procs[job_id] = proc
        current = self.store.get(job_id)
        if current is not None and current.status == JOB_CANCELLED:  # cancelled while it was being started
            self.store.update(job_id, pid=proc.pid, started_at=utcnow())
            self._terminate(proc.pid, proc)
        else:
            self.store.update(job_id, status=JOB_RUNNING, started_at=utcnow(), pid=proc.pid)
        logger.info("job %s: started run %s (pid %s)", job_id, job.run_id, proc.pid)
        timed_out = False
        try:
            code = proc.wait(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            logger.warning("job %s: still running after %s s; stopping it", job_id, self.timeout_s)
            self._terminate(proc.pid, proc)
            code = proc.wait()
        finally:
            self._procs.pop(job_id, None)
        self._finish(job_id, code, timed_out=timed_out)

    def _terminate(self, pid: int, proc: subprocess.Popen[bytes] | None = None) -> None:
        """SIGTERM to the job's process group (it was started in a new session), SIGKILL after the grace."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            deadline = time.monotonic() + self.kill_grace_s
            while time.monotonic() < deadline:
                if proc is not None:
                    if proc.poll() is not None:
                        return
                else:
                    try:
                        os.killpg(pid, 0)
                    except (ProcessLookupError, PermissionError):
                        return
                time.sleep(0.05)

    def _watch_orphan(self, job: JobRecord) -> None:
        timed_out = False
        try:
            started = _seconds_since(job.started_at)
            begun = time.monotonic() - (started or 0.0)
            while job.pid and _pid_runs(job.pid, job.run_id):
                if self.timeout_s and time.monotonic() - begun > self.timeout_s:
                    timed_out = True
                    self._terminate(job.pid)
                    break
                time.sleep(self.poll_seconds)
            self._finish(job.job_id, None, timed_out=timed_out)
        finally:
            self._release(job.job_id)

    def _finish(self, job_id: str, code: int | None, *, timed_out: bool = False) -> None:
        """Record the end of a job from its exit code and result file (a cancel or a timeout wins)."""
        result = outcome(code, read_result(self.result_path(job_id)))
        current = self.store.get(job_id)
        if current is not None and current.status == JOB_CANCELLED:
            result = Outcome(JOB_CANCELLED, result.summary, "cancelled by request")
        elif timed_out:
            result = Outcome(JOB_FAILED, result.summary, f"the job ran longer than NUVYN_API_JOB_TIMEOUT_S="
                                                         f"{self.timeout_s:g} s and was stopped")
        self.store.update(job_id, finished_at=utcnow(), exit_code=code, status=result.status,
                          summary=result.summary, error_message=result.error_message)
        logger.info("job %s: %s (exit code %s)", job_id, result.status, code)
        self.prune_logs()

    def prune_logs(self) -> int:
        """Delete log files older than the retention (never those of a running job). Returns how many."""
        if not self.log_retention_s:
            return 0
        cutoff = time.time() - self.log_retention_s
        with self._slots:
            busy = set(self._running)
        removed = 0
        for path in self.logs_dir.glob("job_*.*"):  # stdout, stderr, result.json
            if path.name.split(".", 1)[0] in busy:
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            logger.info("removed %d job log file(s) older than the retention", removed)
        return removed


def _seconds_since(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return max(0.0, (datetime.now(timezone.utc) - then).total_seconds())


# Databricks run states -> job status
_PENDING = {"PENDING", "QUEUED", "BLOCKED", "WAITING_FOR_RETRY"}
_RUNNING = {"RUNNING", "TERMINATING"}
_OK_RESULTS = {"SUCCESS", "SUCCESS_WITH_FAILURES"}


class JobsApi(Protocol):
    """The part of databricks-sdk's `WorkspaceClient().jobs` the launcher calls."""

    def run_now(self, job_id: int, *, idempotency_token: str | None = None,
                job_parameters: dict[str, str] | None = None) -> object: ...

    def get_run(self, run_id: int) -> object: ...

    def cancel_run(self, run_id: int) -> object: ...


class JobsClient(Protocol):
    @property
    def jobs(self) -> JobsApi: ...


def _enum_name(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", None) or value)


def databricks_status(run: object) -> tuple[JobStatus, str | None]:
    """A jobs.get_run Run -> (the job's status, why it failed) (pure)."""
    state = getattr(run, "state", None)
    life = _enum_name(getattr(state, "life_cycle_state", None))
    result = _enum_name(getattr(state, "result_state", None))
    message = getattr(state, "state_message", None) or None
    if life in _PENDING or life is None:
        return JOB_CREATED, None
    if life in _RUNNING:
        return JOB_RUNNING, None
    if life == "TERMINATED" and result in _OK_RESULTS:
        return JOB_SUCCEEDED, None
    detail = f"Databricks run ended: {life}" + (f"/{result}" if result else "")
    if message:
        detail += f": {message}"
    return JOB_FAILED, _clean_error(detail)


def _run_id_of(waiter: object) -> str:
    """The run id run_now answered (a Wait object: `run_id`, or `response.run_id`)."""
    run_id = getattr(waiter, "run_id", None) or getattr(getattr(waiter, "response", None), "run_id", None)
    if run_id is None:
        raise ValueError("run_now answered without a run_id")
    return str(run_id)


class DatabricksLauncher:
    """Starts the deployed executor job with run_now and follows it with get_run."""

    name = "databricks"

    def __init__(self, store: JobRepository, *, job_id: int, client_factory: Callable[[], JobsClient],
                 poll_seconds: float = 10.0, timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.store = store
        self.job_id = job_id
        self.client_factory = client_factory
        self.poll_seconds = poll_seconds
        self._client: JobsClient | None = None
        self._client_lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def client(self) -> JobsClient:
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

    def cancel(self, job: JobRecord) -> JobRecord:
        """jobs.cancel_run for a submitted job; a job not submitted yet is never submitted."""
        updated = self.store.update(job.job_id, status=JOB_CANCELLED, finished_at=utcnow(),
                                    error_message="cancelled by request") or job
        if job.external_run_id is not None:
            self._cancel_run(job.job_id, job.external_run_id)
        logger.info("job %s: cancelled (was %s)", job.job_id, job.status)
        return updated

    def _cancel_run(self, job_id: str, run_id: str) -> None:
        try:
            self.client.jobs.cancel_run(run_id=int(run_id))
        except Exception as exc:  # noqa: BLE001 - recorded, the job stays cancelled on our side
            logger.error("job %s: cancel_run(%s) failed: %s", job_id, run_id, SECRETS.redact(str(exc)))

    def _submit(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or job.external_run_id is not None or job.status != JOB_CREATED:
            return
        try:
            run_id = _run_id_of(self.client.jobs.run_now(
                job_id=self.job_id,
                job_parameters={"payload": json.dumps(job.payload, ensure_ascii=False)},
                idempotency_token=job.job_id,
            ))
        except Exception as exc:  # noqa: BLE001 - recorded as the job's failure
            logger.error("job %s: run_now failed: %s", job_id, SECRETS.redact(str(exc)))
            self.store.update(job_id, status=JOB_FAILED, finished_at=utcnow(),
                              error_message=_clean_error(f"Databricks run_now failed: {exc}"))
            return
        self.store.update(job_id, external_run_id=run_id, run_id=run_id)
        logger.info("job %s: Databricks run %s", job_id, run_id)
        current = self.store.get(job_id)
        if current is not None and current.status == JOB_CANCELLED:  # cancelled while run_now was in flight
            self._cancel_run(job_id, run_id)
        self._wake.set()

    def refresh(self, job: JobRecord) -> JobRecord:
        """Poll the job's run once and record what changed (a run past the timeout is cancelled)."""
        if job.external_run_id is None or job.status not in ACTIVE_STATUSES:
            return job
        age = _seconds_since(job.created_at)
        if self.timeout_s and age is not None and age > self.timeout_s:
            self._cancel_run(job.job_id, job.external_run_id)
            return self.store.update(job.job_id, status=JOB_FAILED, finished_at=utcnow(), error_message=(
                f"the job ran longer than NUVYN_API_JOB_TIMEOUT_S={self.timeout_s:g} s and its Databricks run "
                "was cancelled")) or job
        status, error = databricks_status(self.client.jobs.get_run(int(job.external_run_id)))
        started = utcnow() if status != JOB_CREATED and not job.started_at else job.started_at
        finished = utcnow() if status in (JOB_SUCCEEDED, JOB_FAILED) else job.finished_at
        if (status, started, finished) == (job.status, job.started_at, job.finished_at):
            return job
        if status in (JOB_SUCCEEDED, JOB_FAILED):
            return self.store.update(job.job_id, status=status, started_at=started, finished_at=finished,
                                     error_message=error) or job
        return self.store.update(job.job_id, status=status, started_at=started) or job

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


def databricks_client_factory(host: str | None, token: Secret | None) -> Callable[[], JobsClient]:
    """A WorkspaceClient built on first use: `host` and `token` (the server's DATABRICKS_HOST /
    DATABRICKS_TOKEN), else the SDK's own configuration. The token is revealed only to the SDK."""

    def build() -> JobsClient:
        from databricks.sdk import WorkspaceClient

        if host or token:
            return WorkspaceClient(host=host, token=token.get_secret_value() if token else None)
        return WorkspaceClient()

    return build
