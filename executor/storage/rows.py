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
from executor.metadata.incremental import PriorRun
from executor.metadata.model import RUN_RUNNING, TABLE_OK, ColumnFacts, FileRecord, MetadataResult, TableFacts
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
    files: list[S.Row] = [S.FileFactRow(
        id=row_id(run_id, "file", f.table_name, f.path, f.role), **ids, table_name=f.table_name, path=f.path,
        role=f.role, size_bytes=f.size, modified_us=f.modified_us, etag=f.etag, file_format=f.file_format,
        compression=f.compression, rule_version=f.rule_version, executor_version=f.executor_version,
        settings_fingerprint=f.settings_fingerprint, row_count=f.rows, facts=f.facts_json)
        for f in result.file_records]
    out: dict[str, list[S.Row]] = {S.SOURCES: sources, S.TABLES: tables, S.COLUMNS: columns}
    if files:
        out[S.FILE_FACTS] = files
    return out


# ---------------------------------------------------------------------- an earlier run, back from its rows


def _json(text: Any, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def table_facts(table: dict[str, Any], columns: list[dict[str, Any]]) -> TableFacts:
    """A table's result from its `tables` row and its `columns` rows: what metadata_rows wrote."""
    cols = [ColumnFacts(column_name=c["column_name"], data_type=c["data_type"], position=c["position"],
                        is_nullable=bool(c["is_nullable"]), sample_values=list(_json(c.get("sample_values"), [])),
                        is_partition=bool(c.get("is_partition")), null_count=c.get("null_count"),
                        distinct_count=c.get("distinct_count"), min_value=c.get("min_value"),
                        max_value=c.get("max_value"), profile_scope=c.get("profile_scope"))
            for c in sorted(columns, key=lambda c: c["position"])]
    return TableFacts(table_name=table["table_name"], file_path=table["file_path"], file_type=table["file_type"],
                      file_count=table.get("file_count") or 0, size_bytes=table.get("size_bytes") or 0,
                      row_count=table.get("row_count"), partition_columns=list(_json(table.get("partition_columns"), [])),
                      columns=cols, status=table.get("status") or TABLE_OK, error_message=table.get("error_message"),
                      malformed_records=table.get("malformed_records"),
                      format_details=_format_details(table), column_notes=dict(_json(table.get("column_notes"), {})))


def _format_details(table: dict[str, Any]) -> dict[str, Any]:
    """tables.format_details as written (csv_header and csv_header_reason derive from it); from those
    two columns for rows written before format_details existed."""
    details = _json(table.get("format_details"), None)
    if isinstance(details, dict):
        return dict(details)
    old = {"header": table.get("csv_header"), "header_reason": table.get("csv_header_reason")}
    return old if any(v is not None for v in old.values()) else {}


def file_record(row: dict[str, Any]) -> FileRecord:
    """A FileRecord from its file_facts row (its facts kept as the text, parsed when restored)."""
    facts, rows = row.get("facts"), row.get("row_count")
    return FileRecord(table_name=row["table_name"], path=row["path"], size=row["size_bytes"],
                      modified_us=row.get("modified_us"), etag=row.get("etag"), file_format=row["file_format"],
                      compression=row.get("compression"), rule_version=row["rule_version"],
                      executor_version=row["executor_version"], settings_fingerprint=row["settings_fingerprint"],
                      role=row.get("role") or "data", facts_json=facts if isinstance(facts, str) else None,
                      rows=rows if isinstance(rows, int) else None)


def prior_run(run_id: str, tables: list[dict[str, Any]], columns: list[dict[str, Any]],
              files: list[dict[str, Any]]) -> PriorRun:
    """What an incremental run may reuse of one completed run, from that run's rows: its ok tables'
    results and the records of their files (a failed table has none)."""
    by_table: dict[str, list[dict[str, Any]]] = {}
    for c in columns:
        by_table.setdefault(c["table_name"], []).append(c)
    ok = {t["table_name"]: table_facts(t, by_table.get(t["table_name"], []))
          for t in tables if (t.get("status") or TABLE_OK) == TABLE_OK}
    records = [file_record(r) for r in files if r.get("table_name") in ok]
    return PriorRun(run_id=run_id, tables=ok, files={r.path: r for r in records},
                    table_names={t["table_name"] for t in tables})
