"""JobService: the API's logic between HTTP and the ports (job store, launcher, metadata reads).
No FastAPI here: the routers call it, the ports are executor.api.ports Protocols."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from executor.api.ports import JobRepository, Launcher, MetadataReader
from executor.api.reads import ReadsMetadataReader
from executor.api.statuses import ACTIVE_STATUSES, JOB_CREATED
from executor.api.store import JobRecord, QueueBoundReached
from executor.api.validation import build_job_payload
from executor.context import ExecutorContext
from executor.errors import ExecutorError
from executor.ids import new_run_id
from executor.redaction import strip_query
from executor.settings import ReadSettings

logger = logging.getLogger(__name__)


def new_job_id() -> str:
    return f"job_{uuid.uuid4().hex}"


def request_hash(payload: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


SourceCheck = Callable[[Mapping[str, Any]], None]
"""payload -> None; raises SourceNotAllowed (403) or PayloadError (400). See executor.api.sources."""


class QueueFull(ExecutorError):
    """Too many jobs wait to start (HTTP 429 with Retry-After)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobNotCancellable(ExecutorError):
    """The job already ended (HTTP 409)."""


@dataclass
class JobService:
    store: JobRepository
    launcher: Launcher
    reader: MetadataReader
    _: KW_ONLY
    source_check: SourceCheck | None = None
    max_queued: int | None = None
    retry_after_s: int = 30
    _started: bool = field(default=False, init=False)

    def start(self) -> None:
        """Start the launcher and pick up the jobs a previous server left unfinished."""
        if self._started:
            return
        self._started = True
        self.launcher.start()
        active = self.store.active()
        for job in active:
            if job.launcher == self.launcher.name:
                self.launcher.recover(job)
        if active:
            logger.info("recovered %d unfinished job(s)", len(active))

    def stop(self) -> None:
        if self._started:
            self.launcher.stop()
            self._started = False

    def create(self, body: Mapping[str, object], idempotency_key: str | None = None) -> tuple[JobRecord, bool]:
        """Validate, record and launch a job. Returns (job, created); created is False for a replay."""
        payload = build_job_payload(body)
        if self.source_check is not None:
            self.source_check(payload)
        job = JobRecord(
            job_id=new_job_id(),
            status=JOB_CREATED,
            job_type=payload["job_type"],
            workflow_id=payload["workflow_id"],
            source_id=payload.get("source_id"),
            data_source_path=strip_query(payload["data_source_path"]),
            payload=payload,
            launcher=self.launcher.name,
            run_id=new_run_id(),
            idempotency_key=idempotency_key,
            request_hash=request_hash(payload),
        )
        try:  # the bound is checked and the job inserted in one store transaction (no race between creates)
            job, created = self.store.insert(job, max_waiting=self.max_queued)
        except QueueBoundReached as exc:
            raise QueueFull(f"{exc.waiting} jobs already wait to start (NUVYN_API_MAX_QUEUED_JOBS="
                            f"{self.max_queued}); retry later", self.retry_after_s) from None
        if created:
            logger.info("job %s created: workflow_id=%s source_id=%s", job.job_id, job.workflow_id, job.source_id)
            self.launcher.submit(job)
        return job, created

    def get(self, job_id: str) -> JobRecord | None:
        return self.store.get(job_id)

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a queued or running job (None: no such job). Raises JobNotCancellable when it ended."""
        job = self.store.get(job_id)
        if job is None:
            return None
        if job.status not in ACTIVE_STATUSES:
            raise JobNotCancellable(f"job {job_id} already ended with status {job.status!r}; nothing to cancel")
        return self.launcher.cancel(job)

    def list(self, *, workflow_id: str | None, status: str | None, limit: int,
             before: int | None) -> tuple[list[JobRecord], int | None]:
        """One page of jobs, newest first, and the key of the next page (None on the last)."""
        rows = self.store.list(workflow_id=workflow_id, status=status, limit=limit + 1, before=before)
        more = len(rows) > limit
        rows = rows[:limit]
        return [job for _, job in rows], (rows[-1][0] if more and rows else None)

    def metadata(self, workflow_id: str | None, source_id: str | None, run_id: str | None) -> Mapping[str, object]:
        return self.reader.metadata(workflow_id, source_id, run_id)

    def changes(self, workflow_id: str, source_id: str | None, from_run: str | None,
                to_run: str | None) -> Mapping[str, object]:
        """Schema drift between two runs."""
        return self.reader.changes(workflow_id, source_id, from_run, to_run)


def default_metadata_reader(env: Mapping[str, str]) -> MetadataReader:
    """query_metadata / schema_changes on ExecutorContext(env).reads, built on first use: delta-rs on
    the local tables (no JVM in the server), the SQL Statement Execution API when
    NUVYN_SQL_WAREHOUSE_ID is set, Spark only on a Databricks runtime (executor.storage.queries)."""
    ReadSettings.from_env(env)  # a bad NUVYN_READ_BACKEND / NUVYN_SQL_* setting fails at start, not per read
    return ReadsMetadataReader(lambda: ExecutorContext(env=env).reads)
