"""From an extraction result or a run event to the rows of the four Delta tables (pure: no Spark).

Timestamps are stored as naive UTC datetimes (Spark's TimestampType reads naive values as
session-local time, and the sessions run in UTC); JSON columns are serialised here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, overload

from executor import __version__
from executor.metadata.model import RUN_RUNNING, MetadataResult
from executor.storage import schema as S


def row_id(*parts: Any) -> int:
    """Deterministic positive 63-bit id from a row's natural key."""
    h = hashlib.blake2b("\x1f".join("" if p is None else str(p) for p in parts).encode("utf-8"), digest_size=8)
    return int.from_bytes(h.digest(), "big") & 0x7FFF_FFFF_FFFF_FFFF


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@overload
def naive_utc(ts: datetime) -> datetime: ...
@overload
def naive_utc(ts: None) -> None: ...
def naive_utc(ts: datetime | None) -> datetime | None:
    """The datetime in UTC without tzinfo (naive values are taken as UTC already)."""
    if ts is not None and ts.tzinfo is not None:
        return ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


@dataclass
class RunRecord:
    """What executor_runs records about one run."""

    run_id: str
    workflow_id: str
    source_id: str | None = None
    source_path: str | None = None
    run_mode: str = "local"
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    status: str = RUN_RUNNING
    error_message: str | None = None
    summary: dict[str, Any] | None = None
    # the process that runs it (executor.storage.liveness.ProcessIdentity); None when not known
    host: str | None = None
    pid: int | None = None
    process_start: str | None = None

    @property
    def attempt(self) -> tuple[Any, ...]:
        """What tells one attempt of the run from another: its process (empty when not recorded)."""
        return (self.host, self.pid, self.process_start) if self.host is not None else ()


def run_row(run: RunRecord) -> S.RunRow:
    """The executor_runs row of one run event. Its id: run and status; a `running` row's also its
    process, so that each attempt of a run (a retry in another process) records who runs it."""
    return S.RunRow(
        id=run_event_id(run),
        run_id=run.run_id,
        executor_version=__version__,
        workflow_id=run.workflow_id,
        source_id=run.source_id,
        run_mode=run.run_mode,
        status=run.status,
        error_message=run.error_message,
        started_at=naive_utc(run.started_at),
        finished_at=naive_utc(run.finished_at),
        source_path=run.source_path,
        summary=json.dumps(run.summary, sort_keys=True) if run.summary is not None else None,
        host=run.host,
        pid=run.pid,
        process_start=run.process_start,
    )


def run_event_id(run: RunRecord) -> int:
    """The row id of a run event: (run_id, status), and the process for a `running` row."""
    if run.status == RUN_RUNNING:
        return row_id(run.run_id, "run", run.status, *run.attempt)
    return row_id(run.run_id, "run", run.status)


def run_event_app_id(run: RunRecord) -> str:
    """The Delta txnAppId of a run event: one commit per (run, status), and per process for `running`
    rows. Two processes that mark the same run abandoned write its row once."""
    app_id = f"nuvyn:{run.run_id}:executor_runs:{run.status}"
    return f"{app_id}:{run_event_id(run)}" if run.status == RUN_RUNNING and run.attempt else app_id


def _row(row_type: type[S.Row], facts: object, **values: Any) -> S.Row:
    """A row whose columns take the same-named attributes of `facts`, then `values` (ids and the
    columns that need a conversion)."""
    same = {f.name: getattr(facts, f.name) for f in fields(row_type) if hasattr(facts, f.name)}
    return row_type(**{**same, **values})


def metadata_rows(result: MetadataResult, workflow_id: str, source_id: str | None,
                  run_id: str) -> dict[str, list[S.Row]]:
    """The rows each data table gets for one result: {sources: [...], tables: [...], columns: [...]}."""
    ids = {"workflow_id": workflow_id, "source_id": source_id, "run_id": run_id}
    sources: list[S.Row] = [_row(
        S.SourceRow, result, **ids, id=row_id(run_id, "source", result.source_path),
        extraction_timestamp=naive_utc(result.extraction_timestamp),
        files_skipped=len(result.skipped), table_count=len(result.tables))]
    tables: list[S.Row] = []
    columns: list[S.Row] = []
    for t in result.tables:
        tables.append(_row(
            S.TableRow, t, **ids, id=row_id(run_id, "table", t.table_name),
            partition_columns=json.dumps(t.partition_columns),
            column_notes=json.dumps(t.column_notes, ensure_ascii=False) if t.column_notes else None,
            format_details=json.dumps(t.format_details, ensure_ascii=False, sort_keys=True, default=str)
            if any(v is not None for v in t.format_details.values()) else None))
        columns.extend(_row(
            S.ColumnRow, c, **ids, id=row_id(run_id, "column", t.table_name, c.position), table_name=t.table_name,
            sample_values=json.dumps(c.sample_values, ensure_ascii=False)) for c in t.columns)
    return {S.SOURCES: sources, S.TABLES: tables, S.COLUMNS: columns}
