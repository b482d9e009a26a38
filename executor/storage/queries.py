"""Metadata reads: one interface, three backends, the same answers.

- `MetadataReads` (a Protocol): select_runs, query_metadata, schema_changes. The semantics are those
  of the seed's DatabricksWriter: the current state of a run is its final event row (the `running`
  row while there is none); by default the latest completed run (succeeded or partial) of each
  (workflow_id, source_id) pair; the data rows of the chosen runs; drift via executor.metadata.drift.
- Abandoned runs: a backend given a `RunLiveness` (executor.storage.liveness) reports a run whose
  current row is `running` but whose process is found dead as `abandoned`, with the reason, before
  any run has written its marker row (`with_abandoned`, the same on every backend). Reads write
  nothing: the next run of the job persists the marker (DatabricksWriter.mark_abandoned), so `runs`
  stays read-only, fast and JVM-free locally.
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
session and process in UTC; the warehouse's text is converted from its session time zone.
"""

from __future__ import annotations

import abc
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from executor.errors import MetadataStoreError, QueryError, SettingsError
from executor.metadata.drift import diff_tables
from executor.metadata.model import COMPLETED_STATUSES, RUN_RUNNING
from executor.redaction import SECRETS, Secret
from executor.settings import ReadSettings, Settings
from executor.storage import schema as S
from executor.storage.liveness import RunLiveness, abandoned_view, group_runs
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
                statement_client: Callable[[], Any] | None = None,
                liveness: RunLiveness | None = None) -> MetadataReads:
    """The reads this process should use (ReadSettings.choose). `spark_reads` builds the Spark
    backend (and its session) only when it is chosen (with `liveness` of its own); `statement_client`
    builds the databricks-sdk WorkspaceClient (default: WorkspaceClient() with the SDK's own
    configuration). `liveness` reports dead runs as abandoned (module docstring)."""
    kind = read_settings.choose(databricks)
    if kind == "statement":
        client = statement_client() if statement_client else _workspace_client()
        return StatementReads(client, str(read_settings.sql_warehouse_id), settings,
                              timeout_s=read_settings.statement_timeout_s,
                              start_timeout_s=read_settings.warehouse_start_timeout_s,
                              disposition=read_settings.result_disposition,
                              time_zone=read_settings.warehouse_timezone, liveness=liveness)
    if kind == "spark":
        if spark_reads is None:
            raise SettingsError("NUVYN_READ_BACKEND=spark needs a SparkSession in this process")
        return spark_reads()
    location = settings.resolved_tables_location(databricks)
    if not location:
        raise SettingsError("delta-rs reads need the tables' location: set NUVYN_TABLES_LOCATION (on Databricks "
                            "set NUVYN_SQL_WAREHOUSE_ID instead)")
    return DeltaReads(location, liveness=liveness)


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


# Jobs API calls one read may make to judge Databricks runs (the rest stay `running` until a later read).
READ_API_CHECKS = 20


def with_abandoned(runs: list[Row], liveness: RunLiveness | None, events_of: Callable[[list[str]], list[Row]],
                   events: Iterable[Row] | None = None) -> list[Row]:
    """`runs` (current rows, as select_runs returns them) with each open run that `liveness` finds
    dead shown as abandoned (executor.storage.liveness.abandoned_view). `events_of(run_ids)` reads
    every executor_runs row of those runs afresh; `events`, when given, are rows already read that
    hold every row of those runs (else events_of is asked first)."""
    open_ids = sorted({str(r["run_id"]) for r in runs if r.get("status") == RUN_RUNNING})
    if liveness is None or not open_ids:
        return runs
    wanted = set(open_ids)
    first = [e for e in events if str(e.get("run_id")) in wanted] if events is not None else events_of(open_ids)
    found = liveness.abandoned(group_runs(first), events_of, api_checks=READ_API_CHECKS)
    if not found:
        return runs
    return [abandoned_view(r, found[str(r["run_id"])].reason) if str(r["run_id"]) in found else r for r in runs]


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

    liveness: RunLiveness | None = None

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
        runs = current_runs(events, run_id=run_id, completed_only=completed_only, latest_only=latest_only)
        # every row of a run shares its workflow_id and source_id: `events` holds all rows of these runs
        return with_abandoned(runs, self.liveness, self.run_events, events)

    def open_run_rows(self, *, run_mode: str, since: datetime, host: str | None = None) -> list[Row]:
        """executor_runs rows of the runs of `run_mode` (and `host`) started since `since` (naive UTC):
        every row of each open run among them (closed runs' rows too: RunLiveness.abandoned skips those)."""
        equals = {"run_mode": run_mode, **({"host": host} if host else {})}
        cut = naive_utc(since)
        return [r for r in self.fetch(S.EXECUTOR_RUNS, equals)
                if isinstance(r.get("started_at"), datetime) and r["started_at"] >= cut]

    def run_events(self, run_ids: Sequence[str]) -> list[Row]:
        """Every executor_runs row of these runs."""
        return self.fetch(S.EXECUTOR_RUNS, {}, run_ids) if run_ids else []

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

    def __init__(self, location: str, liveness: RunLiveness | None = None) -> None:
        self.location = location.rstrip("/")
        self.liveness = liveness
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
STATEMENTS_PATH = "/api/2.0/sql/statements"
INLINE_BYTE_LIMIT = 25 * 1024 * 1024  # the API's INLINE limit; a larger result comes back truncated
MISSING_TABLE_SQLSTATE = "42P01"  # TABLE_OR_VIEW_NOT_FOUND
DISPOSITIONS = ("auto", "inline", "external_links")
_TIMESTAMP_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*"
    r"(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$", re.IGNORECASE)


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def parse_timestamp(text: str, zone: Callable[[], tzinfo] | tzinfo | None = None) -> datetime:
    """A warehouse's TIMESTAMP text as a naive UTC datetime. Any fraction width (0-9 digits: nanoseconds
    are cut to microseconds), `T` or space, `Z` or a numeric offset; without an offset the time is
    local time of `zone` (the warehouse's session time zone; a callable is asked only then; None:
    UTC). The same rules on every Python (3.10's fromisoformat takes only 3 or 6 digits)."""
    m = _TIMESTAMP_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a timestamp: {text!r}")
    year, month, day, hour, minute, second, frac, offset = m.groups()
    micros = int((frac or "0")[:6].ljust(6, "0"))
    value = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micros)
    if offset is None:
        tz = zone() if callable(zone) else zone
        if tz is None:
            return value
        return naive_utc(value.replace(tzinfo=tz))
    if offset.upper() == "Z":
        return value
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0), seconds=int(digits[4:6] or 0))
    return value - delta if offset[0] == "+" else value + delta


def convert_value(type_name: str, value: str | None, zone: Callable[[], tzinfo] | tzinfo | None = None) -> Any:
    """A JSON_ARRAY cell (text or null) as the Python value Spark's collect() gives; TIMESTAMP as naive
    UTC (parse_timestamp, `zone`: the warehouse's session time zone for values without an offset)."""
    if value is None:
        return None
    if type_name in _INT_TYPES:
        return int(value)
    if type_name in _FLOAT_TYPES:
        return float(value)
    if type_name == "BOOLEAN":
        return value.lower() == "true"
    if type_name == "TIMESTAMP":
        return parse_timestamp(value, zone)
    return value


def _fetch_link(url: str, headers: Mapping[str, str], timeout_s: float) -> bytes:
    """GET a presigned external link (cloud storage): only its own headers, never the workspace token."""
    import urllib.request

    request = urllib.request.Request(url, headers=dict(headers), method="GET")
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310 - https links from the API
        data: bytes = answer.read()
        return data


@dataclass(eq=False)
class StatementReads(RowReads):
    """Reads through a Databricks SQL warehouse (the Statement Execution API's REST form through the
    databricks-sdk client: `client.api_client.do`, so that `status.error.sql_state` is kept).
    Statements are `SELECT * FROM <catalog>.<schema>.<table> WHERE col = :col AND run_id IN (:run_id_0, ...)`:
    values travel only as named parameters.

    - Results: INLINE with a 25 MiB byte_limit (several chunks are followed); a result the API marks
      truncated is read again with EXTERNAL_LINKS (disposition `auto`), whose presigned links are
      fetched without the workspace token. `inline` / `external_links` force one disposition.
    - Waiting: a PENDING statement (the warehouse is starting) is polled up to `start_timeout_s`
      (NUVYN_SQL_WAREHOUSE_START_TIMEOUT_S), a RUNNING one up to `timeout_s`
      (NUVYN_SQL_STATEMENT_TIMEOUT_S); the poll interval grows from poll_seconds to max_poll_seconds.
      Past a limit the statement is cancelled and the read fails naming the setting.
    - Timestamps: values with an offset are converted to UTC; without one they are local time of the
      warehouse's session time zone (`time_zone`, NUVYN_SQL_WAREHOUSE_TIMEZONE; unset: asked once
      with `SELECT current_timezone()` when the first such value arrives).
    - Errors: a missing table is told by `sql_state` 42P01 (read as no rows); any other failure is a
      MetadataStoreError with the API's error code and first message line, secrets removed."""

    client: Any
    warehouse_id: str
    settings: Settings
    _: KW_ONLY
    timeout_s: float = 60.0
    start_timeout_s: float = 600.0
    disposition: str = "auto"
    time_zone: str | None = None
    liveness: RunLiveness | None = None
    poll_seconds: float = 0.5
    max_poll_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    fetch_link: Callable[[str, Mapping[str, str], float], bytes] = _fetch_link

    def __post_init__(self) -> None:
        if self.disposition not in DISPOSITIONS:
            raise SettingsError(f"NUVYN_SQL_RESULT_DISPOSITION={self.disposition!r} is invalid; expected one of: "
                                f"{', '.join(DISPOSITIONS)}")
        self._zone: tzinfo | None = _zone(self.time_zone) if self.time_zone else None
        self._zone_lock = threading.Lock()

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

    # ------------------------------------------------------------------ the API

    def _do(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.client.api_client.do(method, path, body=body) if body is not None else \
            self.client.api_client.do(method, path)
        return answer if isinstance(answer, dict) else {}

    def _cancel(self, statement_id: str) -> None:
        try:
            self._do("POST", f"{STATEMENTS_PATH}/{statement_id}/cancel", {})
        except Exception as exc:  # noqa: BLE001 - best effort: the timeout is the error to report
            logger.warning("cancelling statement %s failed: %s", statement_id, type(exc).__name__)

    def _run(self, sql: str, params: list[dict[str, str]], disposition: str, what: str) -> dict[str, Any]:
        """Execute and wait: the final statement response (state SUCCEEDED, FAILED, CANCELED or CLOSED)."""
        body: dict[str, Any] = {
            "statement": sql, "warehouse_id": self.warehouse_id, "parameters": params,
            "disposition": disposition, "format": "JSON_ARRAY",
            "wait_timeout": f"{max(5, min(50, int(self.timeout_s)))}s", "on_wait_timeout": "CONTINUE"}
        if disposition == "INLINE":
            body["byte_limit"] = INLINE_BYTE_LIMIT
        resp = self._do("POST", STATEMENTS_PATH, body)
        started = self.clock()
        running_since: float | None = None
        interval = self.poll_seconds
        while (state := _state(resp)) not in _DONE:
            now = self.clock()
            if state == "RUNNING" and running_since is None:
                running_since = now
            if running_since is None and now - started >= self.start_timeout_s:
                self._cancel(resp["statement_id"])
                raise MetadataStoreError(
                    f"{what}: SQL warehouse {self.warehouse_id} did not start the statement within "
                    f"{self.start_timeout_s:g} s (NUVYN_SQL_WAREHOUSE_START_TIMEOUT_S); cancelled. Is the warehouse "
                    "stopped with auto-start off, or at its queue limit?")
            if running_since is not None and now - running_since >= self.timeout_s:
                self._cancel(resp["statement_id"])
                raise MetadataStoreError(f"{what} through SQL warehouse {self.warehouse_id} took over "
                                         f"{self.timeout_s:g} s (NUVYN_SQL_STATEMENT_TIMEOUT_S); cancelled")
            self.sleep(interval)
            interval = min(self.max_poll_seconds, interval * 1.5)
            resp = self._do("GET", f"{STATEMENTS_PATH}/{resp['statement_id']}")
        return resp

    def _cells(self, resp: dict[str, Any]) -> Iterator[list[str | None]]:
        """Every row of a SUCCEEDED statement: inline chunks and external links, in chunk order."""
        sid = resp["statement_id"]
        result: dict[str, Any] | None = resp.get("result") or {}
        while result is not None:
            yield from result.get("data_array") or []
            nxt = result.get("next_chunk_index")
            for link in result.get("external_links") or []:
                yield from self._link_rows(link)
                nxt = link.get("next_chunk_index")
            result = self._do("GET", f"{STATEMENTS_PATH}/{sid}/result/chunks/{nxt}") if nxt is not None else None

    def _link_rows(self, link: dict[str, Any]) -> list[list[str | None]]:
        url = Secret(str(link["external_link"]))  # presigned: the URL (its query) is a credential
        headers = {str(k): Secret(str(v)) for k, v in (link.get("http_headers") or {}).items()}
        data = self.fetch_link(url.get_secret_value(), {k: v.get_secret_value() for k, v in headers.items()},
                               max(30.0, self.timeout_s))
        rows = json.loads(data or b"[]")
        if not isinstance(rows, list):
            raise MetadataStoreError(f"external link of chunk {link.get('chunk_index')} is not a JSON array")
        return rows

    def _session_zone(self) -> tzinfo:
        """The warehouse's session time zone (asked once, with `SELECT current_timezone()`)."""
        with self._zone_lock:
            if self._zone is None:
                resp = self._run("SELECT current_timezone()", [], "INLINE", "reading the warehouse's time zone")
                if _state(resp) != "SUCCEEDED":
                    raise MetadataStoreError(f"SQL warehouse {self.warehouse_id}: cannot read its time zone "
                                             "(set NUVYN_SQL_WAREHOUSE_TIMEZONE)")
                (row,) = list(self._cells(resp))
                self._zone = _zone(str(row[0]))
            return self._zone

    def fetch(self, table: str, equals: Mapping[str, str], run_ids: Sequence[str] | None = None) -> list[Row]:
        sql, params = self.statement(table, equals, run_ids)
        what = f"reading {table}"
        first = "EXTERNAL_LINKS" if self.disposition == "external_links" else "INLINE"
        try:
            resp = self._run(sql, params, first, what)
            truncated = bool((resp.get("manifest") or {}).get("truncated"))
            if _state(resp) == "SUCCEEDED" and truncated and first == "INLINE":
                if self.disposition == "inline":
                    raise MetadataStoreError(
                        f"{what}: the result is over the {INLINE_BYTE_LIMIT // 2**20} MiB INLINE limit and "
                        "NUVYN_SQL_RESULT_DISPOSITION=inline; set it to auto or external_links")
                logger.info("%s: the result is over the INLINE limit; reading it through external links", what)
                resp = self._run(sql, params, "EXTERNAL_LINKS", what)
            state = _state(resp)
            if state != "SUCCEEDED":
                return self._failed(table, resp, state)
            columns = [(c["name"], str(c.get("type_name") or ""))
                       for c in ((resp.get("manifest") or {}).get("schema") or {}).get("columns") or []]
            zone = self._session_zone
            rows = [{name: convert_value(t, v, zone) for (name, t), v in zip(columns, cells)}
                    for cells in self._cells(resp)]
        except MetadataStoreError:
            raise
        except Exception as exc:  # SDK/HTTP errors -> the store's error, secrets removed
            raise MetadataStoreError(SECRETS.redact(
                f"SQL warehouse {self.warehouse_id}: {what} failed: {type(exc).__name__}: {exc}")) from exc
        return with_every_column(table, rows, [n for n, _ in columns])

    def _failed(self, table: str, resp: dict[str, Any], state: str) -> list[Row]:
        err = (resp.get("status") or {}).get("error") or {}
        if err.get("sql_state") == MISSING_TABLE_SQLSTATE:
            logger.info("table %s not found in the SQL warehouse: nothing to read", table)
            return []
        code = err.get("error_code") or state
        text = str(err.get("message") or state).splitlines()[0]
        state_text = f", SQLSTATE {err['sql_state']}" if err.get("sql_state") else ""
        raise MetadataStoreError(SECRETS.redact(
            f"SQL warehouse {self.warehouse_id}: reading {table} ended {state} ({code}{state_text}): {text}"))


def _state(resp: dict[str, Any]) -> str:
    return _enum_name((resp.get("status") or {}).get("state"))


def _zone(name: str) -> tzinfo:
    """A time zone by name (IANA, `UTC`, `Z`, or a fixed offset such as `+02:00`)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = name.strip()
    if text.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
        return timezone.utc
    m = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?", text, re.IGNORECASE)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        return timezone(delta if m.group(1) == "+" else -delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"unknown time zone {name!r} (NUVYN_SQL_WAREHOUSE_TIMEZONE or the warehouse's "
                            "current_timezone()); use an IANA name such as Europe/Berlin") from None


# ---------------------------------------------------------------------- Spark


class SparkReads:
    """The reads with DataFrame filters and windows (no SQL text from values). `ensure_tables` (the
    writer's) creates or migrates the tables first, as the seed's query methods did."""

    def __init__(self, spark: SparkSession, settings: Settings,
                 ensure_tables: Callable[[], Any] | None = None, liveness: RunLiveness | None = None) -> None:
        self.spark = spark
        self.settings = settings
        self.ensure_tables = ensure_tables
        self.liveness = liveness

    def _df(self, name: str) -> DataFrame:
        return self.spark.table(self.settings.table_name(name))

    def run_events(self, run_ids: Sequence[str]) -> list[Row]:
        """Every executor_runs row of these runs."""
        from pyspark.sql import functions as F

        if not run_ids:
            return []
        return [r.asDict() for r in self._df(S.EXECUTOR_RUNS).filter(F.col("run_id").isin(*run_ids)).collect()]

    def open_run_rows(self, *, run_mode: str, since: datetime, host: str | None = None) -> list[Row]:
        """The `running` rows of the runs of `run_mode` (and `host`) started since `since` (naive UTC)
        that have no final row: one Spark query, whose answer is the few open runs (RowReads.open_run_rows
        returns more; the caller keeps the open ones)."""
        from pyspark.sql import functions as F

        if self.ensure_tables is not None:
            self.ensure_tables()
        # a naive literal goes through the conversion createDataFrame gave the stored naive values
        runs = self._df(S.EXECUTOR_RUNS).filter(F.col("started_at") >= F.lit(naive_utc(since)))
        runs = runs.filter(F.col("run_mode") == F.lit(run_mode))
        if host is not None:
            runs = runs.filter(F.col("host") == F.lit(host))
        closed = runs.filter(F.col("status") != F.lit(RUN_RUNNING)).select("run_id")
        running = runs.filter(F.col("status") == F.lit(RUN_RUNNING))
        return [r.asDict() for r in running.join(closed, "run_id", "left_anti").collect()]

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
        return with_abandoned([r.asDict() for r in ordered.collect()], self.liveness, self.run_events)

    def prior_run_rows(self, workflow_id: str, source_id: str | None, source_path: str | None,
                       exclude_run_id: str | None = None) -> tuple[str, dict[str, list[Row]]] | None:
        """The latest completed run (succeeded or partial) of this workflow_id, source_id and source path
        other than `exclude_run_id`, with its tables, columns and file_facts rows; None when there is none.
        DataFrame filters only."""
        from pyspark.sql import functions as F

        runs = [r for r in self.select_runs(workflow_id, source_id, completed_only=True, latest_only=False)
                if r.get("source_id") == source_id and r.get("source_path") == source_path
                and r.get("status") in COMPLETED_STATUSES and r.get("run_id") != exclude_run_id]
        if not runs:
            return None
        run_id = str(sort_rows(runs, [(_event_time, True), (_column("run_id"), True)])[0]["run_id"])
        out: dict[str, list[Row]] = {}
        for name in (S.TABLES, S.COLUMNS, S.FILE_FACTS):
            df = self._df(name).filter(F.col("workflow_id") == F.lit(workflow_id)).filter(
                F.col("run_id") == F.lit(run_id))
            out[name] = [r.asDict() for r in df.collect()]
        return run_id, out

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
