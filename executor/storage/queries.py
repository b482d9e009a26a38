"""Metadata reads: one interface, three backends, the same answers.

- `MetadataReads` (a Protocol): select_runs, query_metadata, schema_changes. The semantics are those
  of the seed's DatabricksWriter: the current state of a run is its final event row (the `running`
  row while there is none); by default the latest completed run (succeeded or partial) of each
  (workflow_id, source_id) pair; the data rows of the chosen runs; drift via executor.metadata.drift.
- `SparkReads`: DataFrame filters and windows on a SparkSession (Databricks jobs, notebooks, and
  DatabricksWriter.query_metadata/select_runs/schema_changes, which delegate here).
- `DeltaReads`: delta-rs (`deltalake`) reads the local Delta tables at
  `<tables_location or warehouse/schema.db>/<table>` with pyarrow dataset filters: no JVM, no SQL.
- `StatementReads`: the Databricks SQL Statement Execution API (a SQL warehouse,
  NUVYN_SQL_WAREHOUSE_ID) with named parameters (`:workflow_id`); table names come from the validated
  catalog/schema settings, never from request values.

DeltaReads and StatementReads fetch raw rows with equality filters and apply the run rules in plain
Python (`current_runs`, `sort_rows`), so the rules are unit-tested without a JVM; the parity tests
check them against SparkReads on tables Spark wrote.

Timestamps come back as naive UTC datetimes (the tables store UTC), as Spark returns them with the
session and process in UTC.
"""

from __future__ import annotations

import abc
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from executor.errors import MetadataStoreError, QueryError, SettingsError
from executor.metadata.drift import diff_tables
from executor.metadata.model import COMPLETED_STATUSES, RUN_RUNNING
from executor.redaction import SECRETS
from executor.settings import ReadSettings, Settings
from executor.storage import schema as S
from executor.storage.rows import naive_utc

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

Row = dict[str, Any]

# The order of the data rows of query_metadata (ascending, nulls first, as Spark's orderBy). The last
# keys make the order total: with several sources or runs, rows never tie.
DATA_ORDER: dict[str, tuple[str, ...]] = {
    S.SOURCES: ("workflow_id", "source_id", "run_id"),
    S.TABLES: ("workflow_id", "table_name", "source_id", "run_id"),
    S.COLUMNS: ("workflow_id", "table_name", "position", "source_id", "run_id"),
}
RESULT_KEYS = ((S.SOURCES, "sources"), (S.TABLES, "tables"), (S.COLUMNS, "columns"))


class MetadataReads(Protocol):
    """What the query, runs, tables and diff commands and the API's reads need."""

    def select_runs(self, workflow_id: str | None = None, source_id: str | None = None,
                    run_id: str | None = None, completed_only: bool = True,
                    latest_only: bool = True) -> list[Row]:
        """The current (latest) event row of each matching run, newest first (started_at, then
        run_id, descending). With latest_only, only the newest run per (workflow_id, source_id)."""
        ...

    def query_metadata(self, workflow_id: str | None = None, source_id: str | None = None,
                       run_id: str | None = None) -> dict[str, Any]:
        """{"sources", "tables", "columns", "runs"} of the latest completed run of each matching
        workflow/source pair (or of run_id)."""
        ...

    def schema_changes(self, workflow_id: str, source_id: str | None = None, from_run: str | None = None,
                       to_run: str | None = None) -> dict[str, Any]:
        """Drift between two completed runs (executor.metadata.drift)."""
        ...


def build_reads(settings: Settings, read_settings: ReadSettings, *, databricks: bool,
                spark_reads: Callable[[], MetadataReads] | None = None,
                statement_client: Callable[[], Any] | None = None) -> MetadataReads:
    """The reads this process should use (ReadSettings.choose). `spark_reads` builds the Spark
    backend (and its session) only when it is chosen; `statement_client` builds the databricks-sdk
    WorkspaceClient (default: WorkspaceClient() with the SDK's own configuration)."""
    kind = read_settings.choose(databricks)
    if kind == "statement":
        client = statement_client() if statement_client else _workspace_client()
        return StatementReads(client, str(read_settings.sql_warehouse_id), settings,
                              timeout_s=read_settings.statement_timeout_s)
    if kind == "spark":
        if spark_reads is None:
            raise SettingsError("NUVYN_READ_BACKEND=spark needs a SparkSession in this process")
        return spark_reads()
    location = settings.resolved_tables_location(databricks)
    if not location:
        raise SettingsError("delta-rs reads need the tables' location: set NUVYN_TABLES_LOCATION (on Databricks "
                            "set NUVYN_SQL_WAREHOUSE_ID instead)")
    return DeltaReads(location)


def _workspace_client() -> Any:
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient()


# ---------------------------------------------------------------------- the rules, in plain Python


def _nulls_first(key: Callable[[Row], Any], row: Row) -> tuple[bool, Any]:
    """Sort key: nulls first ascending (and last descending), as Spark's default orderings."""
    v = key(row)
    return (v is not None, v)


def _column(name: str) -> Callable[[Row], Any]:
    return lambda r: r.get(name)


def sort_rows(rows: Iterable[Row], keys: Sequence[tuple[Callable[[Row], Any], bool]]) -> list[Row]:
    """Rows sorted by several (key, descending) pairs, each with Spark's null order (ASC NULLS FIRST,
    DESC NULLS LAST). Stable: passes from the least significant key."""
    out = list(rows)
    for key, desc in reversed(keys):
        out.sort(key=functools.partial(_nulls_first, key), reverse=desc)
    return out


def _event_time(r: Row) -> Any:
    return r.get("finished_at") if r.get("finished_at") is not None else r.get("started_at")


def current_runs(events: Iterable[Row], *, run_id: str | None = None, completed_only: bool = True,
                 latest_only: bool = True) -> list[Row]:
    """From executor_runs event rows: the current row of each run (final rows before `running`, then
    the newest event, then the smallest id), optionally only completed runs and only the newest run
    per (workflow_id, source_id); newest first. The rules of SparkReads.select_runs."""
    by_run: dict[Any, list[Row]] = {}
    for r in events:
        by_run.setdefault(r.get("run_id"), []).append(r)
    current = [sort_rows(rows, [(lambda r: 1 if r.get("status") == RUN_RUNNING else 0, False),
                                (_event_time, True), (lambda r: r.get("id"), False)])[0]
               for rows in by_run.values()]
    if completed_only and not run_id:
        current = [r for r in current if r.get("status") in COMPLETED_STATUSES]
    if latest_only and not run_id:
        by_key: dict[tuple[Any, Any], list[Row]] = {}
        for r in current:
            by_key.setdefault((r.get("workflow_id"), r.get("source_id")), []).append(r)
        current = [sort_rows(rows, [(_event_time, True), (lambda r: r.get("run_id"), True)])[0]
                   for rows in by_key.values()]
    return sort_rows(current, [(lambda r: r.get("started_at"), True), (lambda r: r.get("run_id"), True)])


def _needs_ids(workflow_id: str | None, source_id: str | None, run_id: str | None) -> None:
    if not workflow_id and not source_id and not run_id:
        raise QueryError("query_metadata needs workflow_id or source_id (or a run_id)")


def _metadata(runs: list[Row], data_rows: Callable[[str, list[str]], list[Row]]) -> dict[str, Any]:
    """query_metadata on any backend: `runs` are the chosen runs (select_runs), data_rows(table,
    run_ids) gives those runs' rows of one data table in DATA_ORDER."""
    run_ids = [r["run_id"] for r in runs]
    out: dict[str, Any] = {"sources": [], "tables": [], "columns": [], "runs": runs}
    if not run_ids:
        return out
    for name, key in RESULT_KEYS:
        out[key] = data_rows(name, run_ids)
    return out


def _changes(select_runs: Callable[..., list[Row]], run_rows: Callable[[str, str, str], list[Row]],
             workflow_id: str, source_id: str | None, from_run: str | None, to_run: str | None) -> dict[str, Any]:
    """schema_changes on any backend: select_runs picks the runs, run_rows(table, run_id, workflow_id)
    gives a run's rows of one data table."""
    if not workflow_id:
        raise QueryError("schema_changes needs workflow_id")
    if bool(from_run) != bool(to_run):
        raise QueryError("give both from_run and to_run, or neither")
    out: dict[str, Any] = {"workflow_id": workflow_id, "source_id": source_id, "from_run_id": None,
                           "to_run_id": None, "changes": None, "message": None}
    if from_run and to_run:
        picked = []
        for rid in (from_run, to_run):
            rows = select_runs(workflow_id, source_id, rid)
            if not rows:
                raise QueryError(f"run {rid} of workflow {workflow_id} not found")
            if rows[0]["status"] not in COMPLETED_STATUSES:
                raise QueryError(f"run {rid} is not completed (status {rows[0]['status']})")
            picked.append(rows[0])
        older, newer = picked
    else:
        runs = select_runs(workflow_id, source_id, latest_only=False)
        runs.sort(key=lambda r: (r.get("finished_at") or r.get("started_at"), r["run_id"]), reverse=True)
        if runs:
            src = runs[0].get("source_id")
            runs = [r for r in runs if r.get("source_id") == src]
            out["source_id"] = src
        if len(runs) < 2:
            out["to_run_id"] = runs[0]["run_id"] if runs else None
            out["message"] = f"fewer than two completed runs of workflow {workflow_id}: nothing to compare"
            return out
        newer, older = runs[0], runs[1]
    out["from_run_id"], out["to_run_id"] = older["run_id"], newer["run_id"]
    out["changes"] = diff_tables(run_rows(S.TABLES, older["run_id"], workflow_id),
                                 run_rows(S.COLUMNS, older["run_id"], workflow_id),
                                 run_rows(S.TABLES, newer["run_id"], workflow_id),
                                 run_rows(S.COLUMNS, newer["run_id"], workflow_id))
    return out


def with_every_column(table: str, rows: list[Row], have: Iterable[str]) -> list[Row]:
    """The rows with the table's columns they lack as null. A table written before a column existed
    lacks it until ALTER TABLE ... ADD COLUMNS; Spark then reads it as null, after the existing
    columns, in the schema's order, and so do these reads."""
    present = set(have)
    missing = [c for c in S.column_names(table) if c not in present]
    for r in rows:
        r.update(dict.fromkeys(missing))
    return rows


class RowReads(abc.ABC):
    """The reads over a row fetcher: subclasses implement `fetch` (equality filters pushed down to the
    store, never SQL text from values); the run rules run in plain Python."""

    @abc.abstractmethod
    def fetch(self, table: str, equals: Mapping[str, str], run_ids: Sequence[str] | None = None) -> list[Row]:
        """Rows of `table` whose columns equal `equals` (and whose run_id is one of run_ids), every
        column of the table in its order; [] when the table does not exist."""

    @staticmethod
    def _equals(workflow_id: str | None, source_id: str | None, run_id: str | None = None) -> dict[str, str]:
        eq = {"workflow_id": workflow_id, "source_id": source_id, "run_id": run_id}
        return {k: v for k, v in eq.items() if v}

    def select_runs(self, workflow_id: str | None = None, source_id: str | None = None,
                    run_id: str | None = None, completed_only: bool = True,
                    latest_only: bool = True) -> list[Row]:
        _needs_ids(workflow_id, source_id, run_id)
        events = self.fetch(S.EXECUTOR_RUNS, self._equals(workflow_id, source_id, run_id))
        return current_runs(events, run_id=run_id, completed_only=completed_only, latest_only=latest_only)

    def query_metadata(self, workflow_id: str | None = None, source_id: str | None = None,
                       run_id: str | None = None) -> dict[str, Any]:
        def rows(name: str, run_ids: list[str]) -> list[Row]:
            fetched = self.fetch(name, self._equals(workflow_id, source_id), run_ids)
            return sort_rows(fetched, [(_column(c), False) for c in DATA_ORDER[name]])

        return _metadata(self.select_runs(workflow_id, source_id, run_id), rows)

    def schema_changes(self, workflow_id: str, source_id: str | None = None, from_run: str | None = None,
                       to_run: str | None = None) -> dict[str, Any]:
        return _changes(self.select_runs,
                        lambda name, rid, wf: self.fetch(name, {"run_id": rid, "workflow_id": wf}),
                        workflow_id, source_id, from_run, to_run)


# ---------------------------------------------------------------------- delta-rs


# Reader features under which a version's data is exactly its add files' Parquet rows.
_PLAIN_READER_FEATURES = {"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"}


def _pyarrow_dataset(dt: Any) -> Any:
    """The pyarrow dataset of one Delta table version. Tables without deletion vectors, column
    mapping or partitions (ours: reader version 1) are their add files read with pyarrow's own local
    filesystem and the table's schema (files written before a column existed read it as null; Spark's
    INT96 timestamps are cast to the schema's UTC microseconds). Others go through delta-rs's
    `to_pyarrow_dataset`. The plain route also avoids delta-rs's Python filesystem handler, which can
    abort the interpreter at exit ("terminate called without an active exception", delta-rs #2184)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    proto = dt.protocol()
    features = set(proto.reader_features or [])
    plain_protocol = proto.min_reader_version == 1 or (proto.min_reader_version == 3 and
                                                       features <= _PLAIN_READER_FEATURES)
    files = dt.file_uris()
    if plain_protocol and not dt.metadata().partition_columns and all(f.startswith("/") for f in files):
        return ds.dataset(files, schema=pa.schema(dt.schema().to_arrow()), format="parquet")
    return dt.to_pyarrow_dataset()


class DeltaReads(RowReads):
    """delta-rs on the local tables: `<location>/<table>`; filters are pyarrow dataset expressions
    (pushed down to Parquet statistics). Every read brings each table to its latest version
    (`update_incremental`: runs committed by other processes are seen at once); the pyarrow dataset of
    a version is built once and reused while the version stays the same (its files never change)."""

    def __init__(self, location: str) -> None:
        self.location = location.rstrip("/")
        self._lock = threading.Lock()
        self._table_locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, tuple[Any, int, Any]] = {}  # table -> (DeltaTable, version, dataset)

    def path(self, table: str) -> str:
        return f"{self.location}/{table}"

    def _error(self, what: str, table: str, exc: BaseException) -> MetadataStoreError:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return MetadataStoreError(f"cannot {what} the Delta table {self.path(table)}: {type(exc).__name__}: {first}")

    def dataset(self, table: str) -> Any:
        """The pyarrow dataset of the table's latest version; None when there is no table."""
        try:
            from deltalake import DeltaTable
            from deltalake.exceptions import DeltaError, TableNotFoundError
        except ImportError:
            raise MetadataStoreError("reading the local metadata tables needs deltalake (delta-rs): "
                                     "pip install 'nuvyn-executor[local]', or set NUVYN_READ_BACKEND=spark") from None
        with self._lock:
            lock = self._table_locks.setdefault(table, threading.Lock())
        with lock:
            cached = self._cache.get(table)
            dt = None
            if cached is not None:
                try:
                    cached[0].update_incremental()
                    dt = cached[0]
                except (DeltaError, OSError):  # e.g. the table was replaced: open it afresh below
                    self._cache.pop(table, None)
                    cached = None
            if dt is None:
                try:
                    dt = DeltaTable(self.path(table))
                except TableNotFoundError:
                    logger.info("no Delta table at %s: nothing to read", self.path(table))
                    return None
                except Exception as exc:  # delta-rs errors (corrupt log, protocol) -> one clear error
                    raise self._error("open", table, exc) from exc
            version = dt.version()
            if cached is None or cached[1] != version:
                try:
                    self._cache[table] = (dt, version, _pyarrow_dataset(dt))
                except Exception as exc:  # e.g. a reader feature delta-rs lacks
                    raise self._error("read", table, exc) from exc
            return self._cache[table][2]

    def fetch(self, table: str, equals: Mapping[str, str], run_ids: Sequence[str] | None = None) -> list[Row]:
        import pyarrow.dataset as ds

        dataset = self.dataset(table)
        if dataset is None:
            return []
        expr = None
        for col, value in equals.items():
            term = ds.field(col) == value
            expr = term if expr is None else expr & term
        if run_ids is not None:
            term = ds.field("run_id").isin(list(run_ids))
            expr = term if expr is None else expr & term
        try:
            data = dataset.to_table(filter=expr)
        except Exception as exc:  # a file gone (vacuumed) or unreadable
            raise self._error("read", table, exc) from exc
        rows = data.to_pylist()
        for r in rows:
            for k, v in r.items():
                if isinstance(v, datetime):
                    r[k] = naive_utc(v)
        return with_every_column(table, rows, data.column_names)


# ---------------------------------------------------------------------- Databricks SQL Statement Execution


_INT_TYPES = {"LONG", "INT", "SHORT", "BYTE"}
_FLOAT_TYPES = {"DOUBLE", "FLOAT"}
_DONE = {"SUCCEEDED", "FAILED", "CANCELED", "CLOSED"}


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def convert_value(type_name: str, value: str | None) -> Any:
    """A JSON_ARRAY cell (text or null) as the Python value Spark's collect() gives."""
    if value is None:
        return None
    if type_name in _INT_TYPES:
        return int(value)
    if type_name in _FLOAT_TYPES:
        return float(value)
    if type_name == "BOOLEAN":
        return value.lower() == "true"
    if type_name == "TIMESTAMP":
        text = value.replace(" ", "T")
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        return naive_utc(parsed)
    return value


@dataclass(eq=False)
class StatementReads(RowReads):
    """Reads through a Databricks SQL warehouse (Statement Execution API, databricks-sdk
    `w.statement_execution`). Statements are `SELECT * FROM <catalog>.<schema>.<table> WHERE col = :col
    AND run_id IN (:run_id_0, ...)`: values travel only as named parameters."""

    client: Any
    warehouse_id: str
    settings: Settings
    _: KW_ONLY
    timeout_s: float = 60.0
    poll_seconds: float = 0.5
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def statement(self, table: str, equals: Mapping[str, str],
                  run_ids: Sequence[str] | None = None) -> tuple[str, list[dict[str, str]]]:
        """The SQL text and its named parameters. Column and table names are our constants and the
        validated catalog/schema identifiers; every value is a parameter."""
        known = set(S.column_names(table))
        where: list[str] = []
        params: list[dict[str, str]] = []
        for col, value in equals.items():
            if col not in known:
                raise QueryError(f"unknown column {col!r} of {table}")
            where.append(f"`{col}` = :{col}")
            params.append({"name": col, "value": value, "type": "STRING"})
        if run_ids is not None:
            names = [f"run_id_{i}" for i in range(len(run_ids))]
            where.append("`run_id` IN (" + ", ".join(f":{n}" for n in names) + ")" if names else "FALSE")
            params += [{"name": n, "value": v, "type": "STRING"} for n, v in zip(names, run_ids)]
        sql = f"SELECT * FROM {self.settings.table_name(table)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql, params

    def fetch(self, table: str, equals: Mapping[str, str], run_ids: Sequence[str] | None = None) -> list[Row]:
        from databricks.sdk.service.sql import (
            Disposition,
            ExecuteStatementRequestOnWaitTimeout,
            Format,
            StatementParameterListItem,
        )

        sql, params = self.statement(table, equals, run_ids)
        api = self.client.statement_execution
        deadline = self.clock() + self.timeout_s
        try:
            resp = api.execute_statement(
                statement=sql, warehouse_id=self.warehouse_id,
                parameters=[StatementParameterListItem(**p) for p in params],
                disposition=Disposition.INLINE, format=Format.JSON_ARRAY,
                wait_timeout=f"{max(5, min(50, int(self.timeout_s)))}s",
                on_wait_timeout=ExecuteStatementRequestOnWaitTimeout.CONTINUE)
            while _enum_name(resp.status.state if resp.status else None) not in _DONE:
                if self.clock() >= deadline:
                    try:
                        api.cancel_execution(resp.statement_id)
                    except OSError as exc:  # SDK and HTTP errors; best effort: the timeout is the error to report
                        logger.warning("cancelling statement %s failed: %s", resp.statement_id, type(exc).__name__)
                    raise MetadataStoreError(f"reading {table} through SQL warehouse {self.warehouse_id} took over "
                                             f"{self.timeout_s:g} s (NUVYN_SQL_STATEMENT_TIMEOUT_S); cancelled")
                self.sleep(self.poll_seconds)
                resp = api.get_statement(resp.statement_id)
        except MetadataStoreError:
            raise
        except Exception as exc:  # SDK/HTTP errors -> the store's error, secrets removed
            raise MetadataStoreError(SECRETS.redact(
                f"SQL warehouse {self.warehouse_id}: reading {table} failed: {type(exc).__name__}: {exc}")) from exc
        state = _enum_name(resp.status.state)
        if state != "SUCCEEDED":
            err = resp.status.error
            text = (getattr(err, "message", None) or state) if err else state
            if "TABLE_OR_VIEW_NOT_FOUND" in text:
                logger.info("table %s not found in the SQL warehouse: nothing to read", table)
                return []
            raise MetadataStoreError(SECRETS.redact(
                f"SQL warehouse {self.warehouse_id}: reading {table} ended {state}: {text.splitlines()[0]}"))
        columns = [(c.name, _enum_name(c.type_name)) for c in resp.manifest.schema.columns]
        rows: list[Row] = []
        result = resp.result
        while result is not None:
            for cells in result.data_array or []:
                rows.append({name: convert_value(t, v) for (name, t), v in zip(columns, cells)})
            nxt = result.next_chunk_index
            result = api.get_statement_result_chunk_n(resp.statement_id, nxt) if nxt is not None else None
        return with_every_column(table, rows, [n for n, _ in columns])


# ---------------------------------------------------------------------- Spark


class SparkReads:
    """The reads with DataFrame filters and windows (no SQL text from values). `ensure_tables` (the
    writer's) creates or migrates the tables first, as the seed's query methods did."""

    def __init__(self, spark: SparkSession, settings: Settings,
                 ensure_tables: Callable[[], Any] | None = None) -> None:
        self.spark = spark
        self.settings = settings
        self.ensure_tables = ensure_tables

    def _df(self, name: str) -> DataFrame:
        return self.spark.table(self.settings.table_name(name))

    def select_runs(self, workflow_id: str | None = None, source_id: str | None = None,
                    run_id: str | None = None, completed_only: bool = True,
                    latest_only: bool = True) -> list[Row]:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        _needs_ids(workflow_id, source_id, run_id)
        if self.ensure_tables is not None:
            self.ensure_tables()
        runs = self._df(S.EXECUTOR_RUNS)
        if workflow_id:
            runs = runs.filter(F.col("workflow_id") == F.lit(workflow_id))
        if source_id:
            runs = runs.filter(F.col("source_id") == F.lit(source_id))
        if run_id:
            runs = runs.filter(F.col("run_id") == F.lit(run_id))
        event_time = F.coalesce(F.col("finished_at"), F.col("started_at"))
        final_first = F.when(F.col("status") == F.lit(RUN_RUNNING), F.lit(1)).otherwise(F.lit(0))
        per_run = Window.partitionBy("run_id").orderBy(final_first, event_time.desc(), F.col("id"))
        current = runs.withColumn("_rn", F.row_number().over(per_run)).filter(F.col("_rn") == 1).drop("_rn")
        if completed_only and not run_id:
            current = current.filter(F.col("status").isin(*COMPLETED_STATUSES))
        if latest_only and not run_id:
            per_key = Window.partitionBy("workflow_id", "source_id").orderBy(
                F.coalesce(F.col("finished_at"), F.col("started_at")).desc(), F.col("run_id").desc())
            current = current.withColumn("_rk", F.row_number().over(per_key)).filter(F.col("_rk") == 1).drop("_rk")
        ordered = current.orderBy(F.col("started_at").desc(), F.col("run_id").desc())
        return [r.asDict() for r in ordered.collect()]

    def query_metadata(self, workflow_id: str | None = None, source_id: str | None = None,
                       run_id: str | None = None) -> dict[str, Any]:
        from pyspark.sql import functions as F

        def rows(name: str, run_ids: list[str]) -> list[Row]:
            df = self._df(name).filter(F.col("run_id").isin(*run_ids))
            if workflow_id:
                df = df.filter(F.col("workflow_id") == F.lit(workflow_id))
            if source_id:
                df = df.filter(F.col("source_id") == F.lit(source_id))
            return [r.asDict() for r in df.orderBy(*DATA_ORDER[name]).collect()]

        return _metadata(self.select_runs(workflow_id, source_id, run_id), rows)

    def schema_changes(self, workflow_id: str, source_id: str | None = None, from_run: str | None = None,
                       to_run: str | None = None) -> dict[str, Any]:
        from pyspark.sql import functions as F

        def rows(name: str, rid: str, wf: str) -> list[Row]:
            df = self._df(name).filter(F.col("run_id") == F.lit(rid)).filter(F.col("workflow_id") == F.lit(wf))
            return [r.asDict() for r in df.collect()]

        return _changes(self.select_runs, rows, workflow_id, source_id, from_run, to_run)
