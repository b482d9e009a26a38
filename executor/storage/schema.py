"""The four Delta tables: one row dataclass per table is the single column list (names, Spark SQL
types, nullability, meaning), and the DDL, the Spark schema and the added-columns migration are
derived from it. The seed's DDL columns come first, in the seed's order; columns this executor adds follow.
`id` is the seed's `BIGINT GENERATED ALWAYS AS IDENTITY` key made portable: a deterministic 63-bit
hash of the row's natural key (run, table, position...). Identity columns would serialise every
writer (Databricks: "declaring an identity column disables concurrent transactions"; OSS Spark 3.5
cannot even parse the DDL), while hundreds of workflows append at once. The hashed id is unique
per row in practice (collision odds about n^2/2^64: 1e-7 at 1.9 million rows), stable across
retries, and the same on every runtime. Every column is nullable: rows written before a column
existed read it as NULL.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin, get_type_hints

from executor.formats import FORMAT_NAMES

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

SOURCES = "sources"
TABLES = "tables"
COLUMNS = "columns"
EXECUTOR_RUNS = "executor_runs"
ALL_TABLES = (SOURCES, TABLES, COLUMNS, EXECUTOR_RUNS)
DATA_TABLES = (SOURCES, TABLES, COLUMNS)

# The Python type a value of each Spark SQL type has in a row.
PYTHON_TYPES: dict[str, type] = {"BIGINT": int, "INT": int, "STRING": str, "BOOLEAN": bool, "TIMESTAMP": datetime}


def col(sql_type: str, comment: str, *, seed: bool = True) -> Any:
    """A row field: its Spark SQL type, what it means, and whether the v2 contract's DDL has it."""
    return field(metadata={"sql_type": sql_type, "comment": comment, "seed": seed})


@dataclass(frozen=True, kw_only=True)
class SourceRow:
    id: int | None = col("BIGINT", "Row key: 63-bit hash of (run_id, source_path); unique per row")
    workflow_id: str | None = col("STRING", "Primary identifier, provided by the backend (required)")
    source_id: str | None = col("STRING", "Optional filter identifier; NULL when not given")
    source_path: str | None = col("STRING", "The data_source_path as given, without SAS query strings")
    source_type: str | None = col("STRING", "Storage kind: local, dbfs, azure_blob or adls_gen2")
    extraction_timestamp: datetime | None = col("TIMESTAMP", "When extraction started (UTC)")
    files_found: int | None = col("INT", "Data files that belong to tables (skipped files excluded)")
    total_size_bytes: int | None = col("BIGINT", "Sum of the sizes of files_found")
    run_id: str | None = col("STRING", "The run that wrote this row", seed=False)
    files_skipped: int | None = col("INT", "Files and folders skipped (hidden, markers, unsupported)", seed=False)
    table_count: int | None = col("INT", "Tables found under the source (failed ones included)", seed=False)


@dataclass(frozen=True, kw_only=True)
class TableRow:
    id: int | None = col("BIGINT", "Row key: 63-bit hash of (run_id, table_name); unique per row")
    workflow_id: str | None = col("STRING", "Primary identifier")
    source_id: str | None = col("STRING", "Optional filter identifier")
    table_name: str | None = col("STRING", "Path of the table's folder relative to the source root")
    file_path: str | None = col("STRING", "The table's root: its folder, or the file of a one-file table")
    file_type: str | None = col(
        "STRING", f"{', '.join(FORMAT_NAMES[:-1])} or {FORMAT_NAMES[-1]} (gzip/bzip2 text files: their format)")
    row_count: int | None = col("BIGINT", "Exact number of rows (CSV: RFC 4180 records minus headers)")
    column_count: int | None = col("INT", "Columns, partition columns included")
    size_bytes: int | None = col("BIGINT", "Sum of the table's file sizes")
    run_id: str | None = col("STRING", "The run that wrote this row", seed=False)
    file_count: int | None = col("INT", "Data files in the table", seed=False)
    partition_columns: str | None = col("STRING", "JSON array of Hive-style partition column names", seed=False)
    status: str | None = col("STRING", "ok, or failed (then error_message says why)", seed=False)
    error_message: str | None = col("STRING", "Why the table failed; NULL when ok", seed=False)
    # malformed JSON records are rows (as Spark reads them), counted here, never dropped
    malformed_records: int | None = col(
        "BIGINT", "JSON: records read as _corrupt_record (in row_count); NULL for other formats", seed=False)
    # equal schemas give equal fingerprints across runs: the key of schema drift
    schema_fingerprint: str | None = col(
        "STRING", "sha256 of the ordered (name, type, nullable) columns; NULL when failed", seed=False)
    csv_header: bool | None = col(
        "BOOLEAN", "CSV/TSV: true when the first record is the header; NULL for other formats", seed=False)
    csv_header_reason: str | None = col(
        "STRING", "CSV/TSV: why the header was or was not taken (rule or csv_header)", seed=False)
    column_notes: str | None = col(
        "STRING", "JSON object: column -> why its samples/profile are empty; NULL when none", seed=False)
    format_details: str | None = col(
        "STRING", "JSON object: what the format's reader found (CSV: header, header_reason, delimiter; "
        "XML: row_tag); csv_header and csv_header_reason are derived from it", seed=False)


@dataclass(frozen=True, kw_only=True)
class ColumnRow:
    id: int | None = col("BIGINT", "Row key: 63-bit hash of (run_id, table_name, position)")
    workflow_id: str | None = col("STRING", "Primary identifier")
    source_id: str | None = col("STRING", "Optional filter identifier")
    table_name: str | None = col("STRING", "The table the column belongs to")
    column_name: str | None = col("STRING", "Name exactly as in the file (CSV header, Parquet schema)")
    data_type: str | None = col(
        "STRING", "Spark type string: int, bigint, double, string, timestamp, struct<...>")
    position: int | None = col("INT", "1-based position; partition columns come after the file's columns")
    is_nullable: bool | None = col(
        "BOOLEAN", "Parquet: not REQUIRED in the file schema; CSV and partitions: always true")
    sample_values: str | None = col(
        "STRING", "JSON array of up to 5 distinct non-null values, each cut to 100 chars")
    run_id: str | None = col("STRING", "The run that wrote this row", seed=False)
    is_partition: bool | None = col("BOOLEAN", "True for Hive-style partition columns", seed=False)
    # column profiles: one pass per table, bounded by NUVYN_PROFILE_MAX_ROWS
    null_count: int | None = col(
        "BIGINT", "Null values (CSV: empty fields) over the profiled rows", seed=False)
    distinct_count: int | None = col(
        "BIGINT", "Distinct non-null values, exact over the profiled rows", seed=False)
    min_value: str | None = col("STRING", "Smallest value as text (orderable types only)", seed=False)
    max_value: str | None = col("STRING", "Largest value as text (orderable types only)", seed=False)
    profile_scope: str | None = col(
        "STRING", "exact: every row profiled; sampled: the first NUVYN_PROFILE_MAX_ROWS rows", seed=False)


@dataclass(frozen=True, kw_only=True)
class RunRow:
    id: int | None = col("BIGINT", "Row key: 63-bit hash of (run_id, status; a running row: and its process)")
    run_id: str | None = col("STRING", "Run identifier ({{job.run_id}} on Databricks, generated locally)")
    executor_version: str | None = col("STRING", "Version of the nuvyn-executor wheel")
    workflow_id: str | None = col("STRING", "Primary identifier")
    source_id: str | None = col("STRING", "Optional filter identifier")
    run_mode: str | None = col("STRING", "Where it ran: databricks or local")
    status: str | None = col(
        "STRING", "running (written at start), then succeeded, partial or failed; abandoned: its process died")
    error_message: str | None = col("STRING", "Why the run failed or was abandoned (secrets removed)")
    started_at: datetime | None = col("TIMESTAMP", "When the run started (UTC)")
    finished_at: datetime | None = col("TIMESTAMP", "When it finished (abandoned: when a later run found it dead); NULL on the 'running' row")
    source_path: str | None = col("STRING", "The data_source_path, without secrets", seed=False)
    summary: str | None = col(
        "STRING", "JSON: tables, failed tables, rows, bytes, files, Spark jobs, seconds", seed=False)
    # who runs it: how a later run or a read tells a dead run from a live one (executor.storage.liveness)
    host: str | None = col("STRING", "Host name of the process that ran it", seed=False)
    pid: int | None = col("BIGINT", "Process id of the process that ran it", seed=False)
    process_start: str | None = col(
        "STRING", "That process's start (Linux: boot id, pid namespace, start tick): a reused pid is told apart",
        seed=False)


Row = Union[SourceRow, TableRow, ColumnRow, RunRow]

ROW_TYPES: dict[str, type[Row]] = {SOURCES: SourceRow, TABLES: TableRow, COLUMNS: ColumnRow, EXECUTOR_RUNS: RunRow}

TABLE_COMMENTS = {
    SOURCES: "One row per extracted source per run",
    TABLES: "One row per table found under a source per run",
    COLUMNS: "One row per column of each table per run",
    EXECUTOR_RUNS: "Run events: a running row at start and a final row (succeeded/partial/failed/abandoned)",
}

# Delta table properties set on creation. Appends are blind (no identity column), so concurrent
# runs never conflict; txn ids of idempotent writes are kept 30 days (retries come within hours).
TABLE_PROPERTIES = {
    "delta.setTransactionRetentionDuration": "interval 30 days",
    "delta.appendOnly": "false",
}

# Delta has no CREATE INDEX: the tables are clustered (liquid clustering) or Z-ordered by these.
LAYOUT_COLUMNS = ("workflow_id", "source_id")


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # Spark SQL type
    comment: str
    seed: bool = True  # part of the v2 contract's DDL
    nullable: bool = True


def _nullable(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def row_columns(row_type: type[Row]) -> tuple[Column, ...]:
    """The table's columns, in order, from its row dataclass."""
    hints = get_type_hints(row_type)
    return tuple(Column(f.name, f.metadata["sql_type"], f.metadata["comment"], f.metadata["seed"],
                        _nullable(hints[f.name])) for f in fields(row_type))


TABLE_COLUMNS: dict[str, tuple[Column, ...]] = {name: row_columns(row) for name, row in ROW_TYPES.items()}


def values(row: Row) -> tuple[Any, ...]:
    """A row's values in its table's column order."""
    return tuple(getattr(row, f.name) for f in fields(row))


def sql_comment(text: str) -> str:
    """A comment as a SQL string literal (our own constant texts; quotes and backslashes removed)."""
    return "'" + text.replace("'", "").replace("\\", "") + "'"


def column_names(table: str) -> list[str]:
    return [c.name for c in TABLE_COLUMNS[table]]


def column_defs(columns: Iterable[Column]) -> str:
    return ", ".join(f"`{c.name}` {c.sql_type}{'' if c.nullable else ' NOT NULL'} COMMENT {sql_comment(c.comment)}"
                     for c in columns)


def create_table_sql(table: str, full_name: str, *, cluster: bool, location: str | None) -> str:
    """CREATE TABLE IF NOT EXISTS with every column, the table comment and properties; liquid
    clustering by LAYOUT_COLUMNS when `cluster`; external at `location` when given."""
    props = ", ".join(f"'{k}' = '{v}'" for k, v in TABLE_PROPERTIES.items())
    sql = f"CREATE TABLE IF NOT EXISTS {full_name} ({column_defs(TABLE_COLUMNS[table])}) USING DELTA"
    if cluster:
        sql += f" CLUSTER BY ({', '.join(LAYOUT_COLUMNS)})"
    sql += f" COMMENT {sql_comment(TABLE_COMMENTS[table])} TBLPROPERTIES ({props})"
    if location:
        sql += f" LOCATION '{location}'"
    return sql


def add_columns_sql(full_name: str, columns: Iterable[Column]) -> str:
    return f"ALTER TABLE {full_name} ADD COLUMNS ({column_defs(columns)})"


def spark_schema(table: str) -> StructType:
    """The table's StructType (imports pyspark lazily: the pure rooms stay Spark-free)."""
    from pyspark.sql import types as T

    kinds = {"BIGINT": T.LongType, "STRING": T.StringType, "INT": T.IntegerType,
             "TIMESTAMP": T.TimestampType, "BOOLEAN": T.BooleanType}
    return T.StructType([T.StructField(c.name, kinds[c.sql_type](), c.nullable) for c in TABLE_COLUMNS[table]])
