"""DatabricksWriter: creates, migrates, appends to and queries the four Delta metadata tables.

- Creation: CREATE SCHEMA/TABLE IF NOT EXISTS from executor.storage.schema (the one DDL).
  Locally the tables are external, at <warehouse>/<schema>.db/<table>, so that every process
  (the next job run, the query command, the API server) finds the same tables.
- Migration: columns a table lacks (a v1 table, an older v2 table) are added with
  ALTER TABLE ... ADD COLUMNS; nothing is dropped, no row is lost.
- Appends are blind DataFrame appends (no identity column), so concurrent runs never conflict.
  Each (run_id, table) append carries Delta's idempotent-write options txnAppId/txnVersion: a
  retried run (same run_id) never writes a table's rows twice.
- Queries (executor.storage.queries.SparkReads) use DataFrame filters only: no SQL text is built
  from workflow_id, source_id or run_id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from executor import __version__
from executor.errors import MetadataStoreError
from executor.metadata.model import (
    RUN_RUNNING,
    MetadataResult,
)
from executor.payload import new_run_id
from executor.settings import Settings, on_databricks
from executor.storage import schema as S

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from executor.storage.queries import SparkReads

logger = logging.getLogger(__name__)

_RETRYABLE = (
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "MetadataChangedException",
    "ConcurrentTransactionException",
    "ProtocolChangedException",
    "DELTA_CONCURRENT",
    "DELTA_METADATA_CHANGED",
    "DELTA_PROTOCOL_CHANGED",
    "FileAlreadyExistsException",
    "TABLE_OR_VIEW_ALREADY_EXISTS",
    "SCHEMA_ALREADY_EXISTS",
    "already exists",
    # another process is creating the same external table: its _delta_log exists, its first
    # commit does not yet; the retry finds the committed table and registers it
    "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION",
    "is not empty and also not a Delta table",
)


def row_id(*parts: Any) -> int:
    """Deterministic positive 63-bit id from a row's natural key."""
    h = hashlib.blake2b("\x1f".join("" if p is None else str(p) for p in parts).encode("utf-8"), digest_size=8)
    return int.from_bytes(h.digest(), "big") & 0x7FFF_FFFF_FFFF_FFFF


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _naive_utc(ts: datetime | None) -> datetime | None:
    """Spark's TimestampType takes naive datetimes as session-local; we store UTC."""
    if ts is None:
        return None
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


def _is_retryable(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}"
    return any(marker in text for marker in _RETRYABLE)


def with_retry(action: Callable[[], Any], what: str, attempts: int = 8, base_delay: float = 0.2) -> Any:
    """Run a Delta commit, retrying conflicts of concurrent writers with jittered backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised when not a conflict
            if attempt == attempts or not _is_retryable(exc):
                raise
            delay = base_delay * (2 ** (attempt - 1)) * (0.5 + random.random())
            logger.info("%s: concurrent Delta commit (%s); retry %d in %.2fs",
                        what, type(exc).__name__, attempt, delay)
            time.sleep(min(delay, 10.0))
    raise AssertionError("unreachable")


@dataclass
class RunRecord:
    """What executor_runs records about one run."""

    run_id: str
    workflow_id: str
    source_id: str | None = None
    source_path: str | None = None
    run_mode: str = "local"
    started_at: datetime = field(default_factory=_utcnow)
    finished_at: datetime | None = None
    status: str = RUN_RUNNING
    error_message: str | None = None
    summary: dict[str, Any] | None = None


class DatabricksWriter:
    """Writes extracted metadata to the Delta tables and reads it back."""

    def __init__(self, spark: SparkSession, settings: Settings | None = None,
                 databricks: bool | None = None) -> None:
        self.spark = spark
        self.settings = settings or Settings.from_env(os.environ)
        self.databricks = on_databricks(os.environ) if databricks is None else databricks
        self.location = self.settings.resolved_tables_location(self.databricks)
        if self.location and "'" in self.location:
            raise MetadataStoreError("NUVYN_TABLES_LOCATION must not contain a quote character")
        self._ready = False

    # ------------------------------------------------------------------ DDL and migration

    def table(self, name: str) -> str:
        return self.settings.table_name(name)

    def _table_location(self, name: str) -> str | None:
        return f"{self.location}/{name}" if self.location else None

    def ensure_tables(self) -> list[str]:
        """Create the schema and the four tables if missing and add missing columns.

        Returns the ALTER statements that were run (empty when nothing had to change)."""
        if self._ready:
            return []
        schema_sql = f"CREATE SCHEMA IF NOT EXISTS {self.settings.qualified_schema}"
        if self.location:
            schema_sql += f" LOCATION '{self.location}'"
        with_retry(lambda: self.spark.sql(schema_sql), "create schema")
        changes: list[str] = []
        for name in S.ALL_TABLES:
            with_retry(lambda n=name: self._create_table(n), f"create table {name}")
            changes.extend(self.migrate_table(name))
        self._ready = True
        return changes

    def _delta_exists_at(self, path: str) -> bool:
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(self.spark, path))

    def _create_table(self, name: str) -> None:
        full = self.table(name)
        if self.spark.catalog.tableExists(f"{self.settings.catalog}.{self.settings.schema}.{name}"):
            return
        props = ", ".join(f"'{k}' = '{v}'" for k, v in S.TABLE_PROPERTIES.items())
        comment = S.TABLE_COMMENTS[name]
        loc = self._table_location(name)
        if loc and self._delta_exists_at(loc):
            # Written by an earlier process: register it in this session's catalog as it is.
            self.spark.sql(f"CREATE TABLE IF NOT EXISTS {full} USING DELTA LOCATION '{loc}'")
            return
        sql = f"CREATE TABLE IF NOT EXISTS {full} ({S.ddl_columns(name)}) USING DELTA"
        if self.settings.table_layout == "cluster":
            sql += f" CLUSTER BY ({', '.join(S.LAYOUT_COLUMNS)})"
        sql += f" COMMENT {S.sql_comment(comment)} TBLPROPERTIES ({props})"
        if loc:
            sql += f" LOCATION '{loc}'"
        self.spark.sql(sql)

    def _delta_name(self, name: str) -> str:
        """Name for DeltaTable.forName: OSS Delta parses only `schema`.`table` for the session catalog."""
        if self.settings.catalog == "spark_catalog":
            return f"`{self.settings.schema}`.`{name}`"
        return self.table(name)

    def existing_columns(self, name: str) -> list[str]:
        return [f.name for f in self.spark.table(self.table(name)).schema.fields]

    def missing_columns(self, name: str) -> list[S.Column]:
        have = {c.lower() for c in self.existing_columns(name)}
        return [c for c in S.TABLE_COLUMNS[name] if c.name.lower() not in have]

    def migration_statements(self, name: str) -> list[str]:
        missing = self.missing_columns(name)
        if not missing:
            return []
        return [f"ALTER TABLE {self.table(name)} ADD COLUMNS ({S.column_defs(missing)})"]

    def migrate_table(self, name: str) -> list[str]:
        statements = self.migration_statements(name)
        for stmt in statements:
            logger.info("migrating %s: %s", name, stmt)
            try:
                with_retry(lambda s=stmt: self.spark.sql(s), f"migrate {name}")
            except Exception as exc:  # noqa: BLE001 - a concurrent run may have added them first
                if not self.missing_columns(name):
                    continue
                raise MetadataStoreError(f"cannot add columns to {self.table(name)}: {exc}") from exc
        return statements

    def layout_statements(self, name: str) -> list[str]:
        """What `migrate --optimize` runs for a table's layout (no request values in them)."""
        cols = ", ".join(S.LAYOUT_COLUMNS)
        if self.settings.table_layout == "cluster":
            return [f"ALTER TABLE {self.table(name)} CLUSTER BY ({cols})", f"OPTIMIZE {self.table(name)}"]
        if self.settings.table_layout == "zorder":
            return [f"OPTIMIZE {self.table(name)} ZORDER BY ({cols})"]
        return []

    BACKFILL_SQL = "UPDATE {table} SET workflow_id = source_id WHERE workflow_id IS NULL AND source_id IS NOT NULL"

    def migrate(self, *, backfill_workflow_id: bool = False, optimize: bool = False,
                dry_run: bool = False) -> list[str]:
        """Upgrade the tables in place (v1 -> v2): add missing columns, optionally backfill
        workflow_id from source_id, optionally apply the query layout. Idempotent.

        Returns the statements run (or, with dry_run, the ones that would run)."""
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        done: list[str] = []
        if dry_run:
            for name in S.ALL_TABLES:
                if not self.spark.catalog.tableExists(f"{self.settings.catalog}.{self.settings.schema}.{name}"):
                    loc = self._table_location(name)
                    if not (loc and self._delta_exists_at(loc)):
                        done.append(f"CREATE TABLE IF NOT EXISTS {self.table(name)} ({S.ddl_columns(name)}) USING DELTA")
                        continue
                    self.spark.sql(f"CREATE TABLE IF NOT EXISTS {self.table(name)} USING DELTA LOCATION '{loc}'")
                done.extend(self.migration_statements(name))
        else:
            self._ready = False
            done.extend(self.ensure_tables())
        for name in S.ALL_TABLES:
            if backfill_workflow_id:
                stmt = self.BACKFILL_SQL.format(table=self.table(name))
                done.append(stmt)
                if not dry_run:
                    table = DeltaTable.forName(self.spark, self._delta_name(name))
                    with_retry(lambda t=table: t.update(
                        condition=F.col("workflow_id").isNull() & F.col("source_id").isNotNull(),
                        set={"workflow_id": F.col("source_id")}), f"backfill {name}")
            if optimize:
                for stmt in self.layout_statements(name):
                    done.append(stmt)
                    if not dry_run:
                        try:
                            with_retry(lambda s=stmt: self.spark.sql(s), f"layout {name}")
                        except Exception as exc:  # noqa: BLE001 - e.g. a partitioned v1 table cannot cluster
                            raise MetadataStoreError(
                                f"{stmt} failed ({str(exc).splitlines()[0]}); set NUVYN_TABLE_LAYOUT=zorder "
                                "or none for this table") from exc
        return done

    # ------------------------------------------------------------------ appends

    def _append(self, name: str, rows: list[dict[str, Any]], app_id: str) -> None:
        if not rows:
            return
        schema = S.spark_schema(name)
        ordered = [tuple(r.get(f.name) for f in schema.fields) for r in rows]
        df = self.spark.createDataFrame(ordered, schema=schema)
        writer = (df.write.format("delta").mode("append")
                  .option("txnAppId", app_id).option("txnVersion", 0))
        with_retry(lambda: writer.saveAsTable(self.table(name)), f"append to {name}")
        logger.debug("appended %d rows to %s", len(rows), name)

    def record_run(self, run: RunRecord) -> None:
        """Append a run event (status 'running' at start, the final status at the end)."""
        self.ensure_tables()
        row = {
            "id": row_id(run.run_id, "run", run.status),
            "run_id": run.run_id,
            "executor_version": __version__,
            "workflow_id": run.workflow_id,
            "source_id": run.source_id,
            "run_mode": run.run_mode,
            "status": run.status,
            "error_message": run.error_message,
            "started_at": _naive_utc(run.started_at),
            "finished_at": _naive_utc(run.finished_at),
            "source_path": run.source_path,
            "summary": json.dumps(run.summary, sort_keys=True) if run.summary is not None else None,
        }
        self._append(S.EXECUTOR_RUNS, [row], f"nuvyn:{run.run_id}:{S.EXECUTOR_RUNS}:{run.status}")

    def write_metadata(self, metadata: MetadataResult | dict[str, Any], workflow_id: str | None = None,
                       source_id: str | None = None, run_id: str | None = None) -> bool:
        """Write extracted metadata to the Delta tables.

        Args:
            metadata: a MetadataResult (or its to_dict() form)
            workflow_id: required backend-provided workflow_id (primary identifier)
            source_id: optional source_id for filtering purposes
            run_id: the run these rows belong to. Without one (a direct call, not a job run) a run id
                is generated and executor_runs gets the run's 'running' and final rows as well.
        Returns True when every table's rows are stored (already stored by an earlier attempt of
        the same run counts as stored)."""
        if not workflow_id:
            raise MetadataStoreError("workflow_id is required to write metadata")
        result = metadata if isinstance(metadata, MetadataResult) else MetadataResult.from_dict(metadata)
        own_run = run_id is None
        rid = run_id or new_run_id()
        self.ensure_tables()
        run = RunRecord(run_id=rid, workflow_id=workflow_id, source_id=source_id,
                        source_path=result.source_path,
                        run_mode="databricks" if self.databricks else "local")
        if own_run:
            self.record_run(run)
        for name, rows in self.metadata_rows(result, workflow_id, source_id, rid).items():
            self._append(name, rows, f"nuvyn:{rid}:{name}")
        if own_run:
            run.status, run.finished_at = result.status, _utcnow()
            self.record_run(run)
        return True

    @staticmethod
    def metadata_rows(result: MetadataResult, workflow_id: str, source_id: str | None,
                      run_id: str) -> dict[str, list[dict[str, Any]]]:
        """The rows each data table gets for one result. Pure (no Spark)."""
        base = {"workflow_id": workflow_id, "source_id": source_id, "run_id": run_id}
        sources = [{
            **base,
            "id": row_id(run_id, "source", result.source_path),
            "source_path": result.source_path,
            "source_type": result.source_type,
            "extraction_timestamp": _naive_utc(result.extraction_timestamp),
            "files_found": result.files_found,
            "total_size_bytes": result.total_size_bytes,
            "files_skipped": len(result.skipped),
            "table_count": len(result.tables),
        }]
        tables, columns = [], []
        for t in result.tables:
            tables.append({
                **base,
                "id": row_id(run_id, "table", t.table_name),
                "table_name": t.table_name,
                "file_path": t.file_path,
                "file_type": t.file_type,
                "row_count": t.row_count,
                "column_count": t.column_count,
                "size_bytes": t.size_bytes,
                "file_count": t.file_count,
                "partition_columns": json.dumps(t.partition_columns),
                "status": t.status,
                "error_message": t.error_message,
                "malformed_records": t.malformed_records,
                "schema_fingerprint": t.schema_fingerprint,
                "csv_header": t.csv_header,
                "csv_header_reason": t.csv_header_reason,
                "column_notes": json.dumps(t.column_notes, ensure_ascii=False) if t.column_notes else None,
            })
            for c in t.columns:
                columns.append({
                    **base,
                    "id": row_id(run_id, "column", t.table_name, c.position),
                    "table_name": t.table_name,
                    "column_name": c.column_name,
                    "data_type": c.data_type,
                    "position": c.position,
                    "is_nullable": c.is_nullable,
                    "sample_values": json.dumps(c.sample_values, ensure_ascii=False),
                    "is_partition": c.is_partition,
                    "null_count": c.null_count,
                    "distinct_count": c.distinct_count,
                    "min_value": c.min_value,
                    "max_value": c.max_value,
                    "profile_scope": c.profile_scope,
                })
        return {S.SOURCES: sources, S.TABLES: tables, S.COLUMNS: columns}

    # ------------------------------------------------------------------ queries

    @property
    def reads(self) -> SparkReads:
        """The Spark backend of executor.storage.queries (tables created or migrated first)."""
        from executor.storage.queries import SparkReads

        return SparkReads(self.spark, self.settings, ensure_tables=self.ensure_tables)

    def select_runs(self, workflow_id: str | None = None, source_id: str | None = None,
                    run_id: str | None = None, completed_only: bool = True,
                    latest_only: bool = True) -> list[dict[str, Any]]:
        """The current (latest) event row of each matching run, newest first.

        With latest_only, only the newest run per (workflow_id, source_id) is kept."""
        return self.reads.select_runs(workflow_id, source_id, run_id, completed_only, latest_only)

    def query_metadata(self, workflow_id: str | None = None, source_id: str | None = None,
                       run_id: str | None = None) -> dict[str, Any]:
        """Query metadata from the Delta tables.

        Args:
            workflow_id: primary identifier (required if source_id not provided)
            source_id: optional filter; alone it matches every workflow of that source
            run_id: pick one run; by default the latest completed run of each matching
                workflow/source pair is returned, never a mixture of runs
        Returns {"sources": [...], "tables": [...], "columns": [...], "runs": [...]}, each a list
        of row dicts with the tables' column names (executor.storage.queries.SparkReads)."""
        return self.reads.query_metadata(workflow_id=workflow_id, source_id=source_id, run_id=run_id)

    def schema_changes(self, workflow_id: str, source_id: str | None = None, from_run: str | None = None,
                       to_run: str | None = None) -> dict[str, Any]:
        """What changed between two completed runs of a workflow (executor.metadata.drift).

        Without run ids: the latest completed run (of source_id when given, else of the latest
        run's source) and the completed run before it of the same workflow and source. With
        from_run and to_run: those two runs, which must belong to workflow_id (and source_id).
        Returns {"workflow_id", "source_id", "from_run_id", "to_run_id", "changes", "message"};
        reads with DataFrame filters only."""
        return self.reads.schema_changes(workflow_id, source_id, from_run, to_run)
