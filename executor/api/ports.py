"""The API's ports: what JobService and the routes need from the job store, a launcher and the
metadata reads. Protocols, so the production classes (store.JobStore, launchers.LocalLauncher and
DatabricksLauncher, reads.ReadsMetadataReader) and the tests' doubles satisfy them structurally."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from executor.api.store import JobChanges, JobRecord

if TYPE_CHECKING:
    from typing_extensions import Unpack  # noqa: UP035 - typing.Unpack is 3.11+ (the wheel runs on 3.10)


class JobRepository(Protocol):
    """Where jobs are recorded (executor.api.store.JobStore: SQLite)."""

    def insert(self, job: JobRecord, max_waiting: int | None = None) -> tuple[JobRecord, bool]: ...

    def get(self, job_id: str) -> JobRecord | None: ...

    def update(self, job_id: str, **changes: Unpack[JobChanges]) -> JobRecord | None: ...

    def active(self) -> list[JobRecord]: ...

    def list(self, *, workflow_id: str | None = None, status: str | None = None, limit: int = 50,
             before: int | None = None) -> list[tuple[int, JobRecord]]: ...


class Launcher(Protocol):
    """Starts jobs and follows them to their end, recording every change in the job store."""

    @property
    def name(self) -> str:
        """'local' or 'databricks': recorded with each job, so a restarted server recovers its own."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def submit(self, job: JobRecord) -> None: ...

    def recover(self, job: JobRecord) -> None: ...

    def cancel(self, job: JobRecord) -> JobRecord: ...


class MetadataReader(Protocol):
    """The metadata reads behind GET /workflows/{id}/metadata and /changes (blocking: the routes run
    them in the read pool). Errors: QueryError (400), MetadataStoreError (503)."""

    def metadata(self, workflow_id: str | None, source_id: str | None,
                 run_id: str | None) -> Mapping[str, object]: ...

    def changes(self, workflow_id: str, source_id: str | None, from_run: str | None,
                to_run: str | None) -> Mapping[str, object]: ...
