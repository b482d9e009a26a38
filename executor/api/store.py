"""SQLite job store: every job the API accepted, so a restarted server loses none.

One row per job; an optional unique Idempotency-Key. Connections are opened per call (SQLite is
fine with that) and writes are serialised by a lock; WAL mode lets readers go on meanwhile. An
insert is one `BEGIN IMMEDIATE` transaction (the Idempotency-Key lookup, the count of waiting jobs
against the queue bound, the insert): the bound holds across threads and processes sharing the file.
The file holds the job payload (a data_source_path may carry a SAS token needed to run a queued
job after a restart), so it is created with mode 0600.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from executor.api.statuses import ACTIVE_STATUSES, JOB_CREATED, JobStatus
from executor.errors import ExecutorError

if TYPE_CHECKING:
    from typing_extensions import Unpack  # noqa: UP035 - typing.Unpack is 3.11+ (the wheel runs on 3.10)

logger = logging.getLogger(__name__)


class IdempotencyConflict(ExecutorError):
    """The Idempotency-Key was used before with a different request."""


class QueueBoundReached(ExecutorError):
    """`waiting` jobs already wait to start (status 'created'): the bound given to insert is reached."""

    def __init__(self, waiting: int, bound: int) -> None:
        super().__init__(f"{waiting} jobs already wait to start (the bound is {bound})")
        self.waiting = waiting
        self.bound = bound


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class JobRecord:
    job_id: str
    status: JobStatus
    job_type: str
    workflow_id: str
    source_id: str | None
    data_source_path: str  # without the query string
    payload: dict[str, Any]
    launcher: str
    run_id: str
    idempotency_key: str | None = None
    request_hash: str | None = None
    external_run_id: str | None = None
    pid: int | None = None
    exit_code: int | None = None
    error_message: str | None = None
    summary: dict[str, Any] | None = None
    created_at: str = field(default_factory=utcnow)
    started_at: str | None = None
    finished_at: str | None = None


class JobChanges(TypedDict, total=False):
    """The columns of a job that change after it is recorded (JobStore.update)."""

    status: JobStatus
    run_id: str
    external_run_id: str | None
    pid: int | None
    exit_code: int | None
    error_message: str | None
    summary: dict[str, Any] | None
    started_at: str | None
    finished_at: str | None


_COLUMNS = [f for f in JobRecord.__dataclass_fields__]
_JSON_COLUMNS = ("payload", "summary")

_DDL = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    job_type TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    source_id TEXT,
    data_source_path TEXT NOT NULL,
    payload TEXT NOT NULL,
    launcher TEXT NOT NULL,
    run_id TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    request_hash TEXT,
    external_run_id TEXT,
    pid INTEGER,
    exit_code INTEGER,
    error_message TEXT,
    summary TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
"""


class JobStore:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_DDL)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        """One write transaction taken at its start (BEGIN IMMEDIATE): what it reads cannot change
        before it commits, in this process or another one (busy writers wait up to 30 s)."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    @staticmethod
    def _record(values: dict[str, Any]) -> JobRecord:
        for name in _JSON_COLUMNS:
            if values.get(name) is not None:
                values[name] = json.loads(values[name])
        return JobRecord(**values)

    @classmethod
    def _row(cls, row: sqlite3.Row | None) -> JobRecord | None:
        return None if row is None else cls._record(dict(row))

    def insert(self, job: JobRecord, max_waiting: int | None = None) -> tuple[JobRecord, bool]:
        """Insert a job; with an Idempotency-Key already known, return (the existing job, False).
        With `max_waiting`, raise QueueBoundReached when that many jobs already wait to start; the
        lookup, the count and the insert are one transaction."""
        values = asdict(job)
        for name in _JSON_COLUMNS:
            if values[name] is not None:
                values[name] = json.dumps(values[name])
        with self._lock, self._immediate() as db:
            if job.idempotency_key is not None:
                existing = self._row(db.execute("SELECT * FROM jobs WHERE idempotency_key = ?",
                                                (job.idempotency_key,)).fetchone())
                if existing is not None:
                    if existing.request_hash != job.request_hash:
                        raise IdempotencyConflict(
                            "this Idempotency-Key was already used with a different request body")
                    return existing, False
            if max_waiting is not None:
                waiting = int(db.execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (JOB_CREATED,)).fetchone()[0])
                if waiting >= max_waiting:
                    raise QueueBoundReached(waiting, max_waiting)
            db.execute(f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                       [values[c] for c in _COLUMNS])
        return job, True

    def get(self, job_id: str) -> JobRecord | None:
        with self._connect() as db:
            return self._row(db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone())

    def update(self, job_id: str, **changes: Unpack[JobChanges]) -> JobRecord | None:
        values: dict[str, object] = dict(changes)
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job columns: {sorted(unknown)}")
        for name in _JSON_COLUMNS:
            if values.get(name) is not None:
                values[name] = json.dumps(values[name], default=str)
        if values:  # column names from _COLUMNS only; values as parameters
            with self._lock, self._connect() as db:
                db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in values)} WHERE job_id = ?",
                           [*values.values(), job_id])
        return self.get(job_id)

    def active(self) -> list[JobRecord]:
        """Jobs not finished yet (created or running), oldest first."""
        marks = ", ".join("?" * len(ACTIVE_STATUSES))
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY created_at",
                              ACTIVE_STATUSES).fetchall()
        return [self._record(dict(r)) for r in rows]

    def count(self, status: str) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0])

    def list(self, *, workflow_id: str | None = None, status: str | None = None, limit: int = 50,
             before: int | None = None) -> list[tuple[int, JobRecord]]:
        """(rowid, job) newest first (insertion order, descending), filtered; `before` is the rowid of the
        last job of the previous page (keyset pagination). Parameter markers only."""
        where: list[str] = []
        params: list[object] = []
        if workflow_id is not None:
            where.append("workflow_id = ?")
            params.append(workflow_id)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if before is not None:
            where.append("rowid < ?")
            params.append(int(before))
        sql = "SELECT rowid AS row_number, * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY rowid DESC LIMIT ?"
        params.append(int(limit))
        with self._connect() as db:
            rows = db.execute(sql, params).fetchall()
        out: list[tuple[int, JobRecord]] = []
        for row in rows:
            values = dict(row)
            number = values.pop("row_number")
            out.append((int(number), self._record(values)))
        return out

    def get_by_key(self, idempotency_key: str) -> JobRecord | None:
        with self._connect() as db:
            return self._row(db.execute("SELECT * FROM jobs WHERE idempotency_key = ?",
                                        (idempotency_key,)).fetchone())
