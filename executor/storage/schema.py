"""The one place that knows the four Delta tables: names, columns, types and their meaning.

The seed's DDL columns come first, in the seed's order; columns this executor adds follow.
`id` is the seed's `BIGINT GENERATED ALWAYS AS IDENTITY` key made portable: a deterministic 63-bit
hash of the row's natural key (run, table, position...). Identity columns would serialise every
writer (Databricks: "declaring an identity column disables concurrent transactions"; OSS Spark 3.5
cannot even parse the DDL), while hundreds of workflows append at once. The hashed id is unique
per row in practice (collision odds about n^2/2^64: 1e-7 at 1.9 million rows), stable across
retries, and the same on every runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCES = "sources"
TABLES = "tables"
COLUMNS = "columns"
EXECUTOR_RUNS = "executor_runs"
ALL_TABLES = (SOURCES, TABLES, COLUMNS, EXECUTOR_RUNS)
DATA_TABLES = (SOURCES, TABLES, COLUMNS)


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # Spark SQL type
    comment: str
    seed: bool = True  # part of the v2 contract's DDL


def _c(name: str, sql_type: str, comment: str, seed: bool = True) -> Column:
    return Column(name, sql_type, comment, seed)


TABLE_COLUMNS: dict[str, tuple[Column, ...]] = {
    SOURCES: (
        _c("id", "BIGINT", "Row key: 63-bit hash of (run_id, source_path); unique per row"),
        _c("workflow_id", "STRING", "Primary identifier, provided by the backend (required)"),
        _c("source_id", "STRING", "Optional filter identifier; NULL when not given"),
        _c("source_path", "STRING", "The data_source_path as given, without SAS query strings"),
        _c("source_type", "STRING", "Storage kind: local, dbfs, azure_blob or adls_gen2"),
        _c("extraction_timestamp", "TIMESTAMP", "When extraction started (UTC)"),
        _c("files_found", "INT", "Data files that belong to tables (skipped files excluded)"),
        _c("total_size_bytes", "BIGINT", "Sum of the sizes of files_found"),
        _c("run_id", "STRING", "The run that wrote this row", seed=False),
        _c("files_skipped", "INT", "Files and folders skipped (hidden, markers, unsupported)", seed=False),
        _c("table_count", "INT", "Tables found under the source (failed ones included)", seed=False),
    ),
    TABLES: (
        _c("id", "BIGINT", "Row key: 63-bit hash of (run_id, table_name); unique per row"),
        _c("workflow_id", "STRING", "Primary identifier"),
        _c("source_id", "STRING", "Optional filter identifier"),
        _c("table_name", "STRING", "Path of the table's folder relative to the source root"),
        _c("file_path", "STRING", "The table's root: its folder, or the file of a one-file table"),
        _c("file_type", "STRING", "csv, tsv, parquet, json, avro, orc or delta (gzip/bzip2 text files: their format)"),
        _c("row_count", "BIGINT", "Exact number of rows (CSV: RFC 4180 records minus headers)"),
        _c("column_count", "INT", "Columns, partition columns included"),
        _c("size_bytes", "BIGINT", "Sum of the table's file sizes"),
        _c("run_id", "STRING", "The run that wrote this row", seed=False),
        _c("file_count", "INT", "Data files in the table", seed=False),
        _c("partition_columns", "STRING", "JSON array of Hive-style partition column names", seed=False),
        _c("status", "STRING", "ok, or failed (then error_message says why)", seed=False),
        _c("error_message", "STRING", "Why the table failed; NULL when ok", seed=False),
        # issue 8: malformed JSON records are rows (as Spark reads them), counted here, never dropped
        _c("malformed_records", "BIGINT", "JSON: records read as _corrupt_record (in row_count); NULL for other formats",
           seed=False),
        # issue 8: schema drift; equal schemas give equal fingerprints across runs
        _c("schema_fingerprint", "STRING", "sha256 of the ordered (name, type, nullable) columns; NULL when failed",
           seed=False),
        # issue 12: the CSV header decision and why; per-column reasons for empty samples/profiles
        _c("csv_header", "BOOLEAN", "CSV/TSV: true when the first record is the header; NULL for other formats",
           seed=False),
        _c("csv_header_reason", "STRING", "CSV/TSV: why the header was or was not taken (rule or csv_header)",
           seed=False),
        _c("column_notes", "STRING", "JSON object: column -> why its samples/profile are empty; NULL when none",
           seed=False),
    ),
    COLUMNS: (
        _c("id", "BIGINT", "Row key: 63-bit hash of (run_id, table_name, position)"),
        _c("workflow_id", "STRING", "Primary identifier"),
        _c("source_id", "STRING", "Optional filter identifier"),
        _c("table_name", "STRING", "The table the column belongs to"),
        _c("column_name", "STRING", "Name exactly as in the file (CSV header, Parquet schema)"),
        _c("data_type", "STRING", "Spark type string: int, bigint, double, string, timestamp, struct<...>"),
        _c("position", "INT", "1-based position; partition columns come after the file's columns"),
        _c("is_nullable", "BOOLEAN", "Parquet: not REQUIRED in the file schema; CSV and partitions: always true"),
        _c("sample_values", "STRING", "JSON array of up to 5 distinct non-null values, each cut to 100 chars"),
        _c("run_id", "STRING", "The run that wrote this row", seed=False),
        _c("is_partition", "BOOLEAN", "True for Hive-style partition columns", seed=False),
        # issue 8: column profiles, one pass per table, bounded by NUVYN_PROFILE_MAX_ROWS
        _c("null_count", "BIGINT", "Null values (CSV: empty fields) over the profiled rows", seed=False),
        _c("distinct_count", "BIGINT", "Distinct non-null values, exact over the profiled rows", seed=False),
        _c("min_value", "STRING", "Smallest value as text (orderable types only)", seed=False),
        _c("max_value", "STRING", "Largest value as text (orderable types only)", seed=False),
        _c("profile_scope", "STRING", "exact: every row profiled; sampled: the first NUVYN_PROFILE_MAX_ROWS rows",
           seed=False),
    ),
    EXECUTOR_RUNS: (
        _c("id", "BIGINT", "Row key: 63-bit hash of (run_id, status)"),
        _c("run_id", "STRING", "Run identifier ({{job.run_id}} on Databricks, generated locally)"),
        _c("executor_version", "STRING", "Version of the nuvyn-executor wheel"),
        _c("workflow_id", "STRING", "Primary identifier"),
        _c("source_id", "STRING", "Optional filter identifier"),
        _c("run_mode", "STRING", "Where it ran: databricks or local"),
        _c("status", "STRING", "running (written at start), then succeeded, partial or failed"),
        _c("error_message", "STRING", "Why the run failed (secrets removed)"),
        _c("started_at", "TIMESTAMP", "When the run started (UTC)"),
        _c("finished_at", "TIMESTAMP", "When it finished; NULL on the 'running' row"),
        _c("source_path", "STRING", "The data_source_path, without secrets", seed=False),
        _c("summary", "STRING", "JSON: tables, failed tables, rows, bytes, files, Spark jobs, seconds", seed=False),
    ),
}

TABLE_COMMENTS = {
    SOURCES: "One row per extracted source per run",
    TABLES: "One row per table found under a source per run",
    COLUMNS: "One row per column of each table per run",
    EXECUTOR_RUNS: "Run events: a running row at start and a final row (succeeded/partial/failed)",
}

# Delta table properties set on creation. Appends are blind (no identity column), so concurrent
# runs never conflict; txn ids of idempotent writes are kept 30 days (retries come within hours).
TABLE_PROPERTIES = {
    "delta.setTransactionRetentionDuration": "interval 30 days",
    "delta.appendOnly": "false",
}


# Delta has no CREATE INDEX: the tables are clustered (liquid clustering) or Z-ordered by these.
LAYOUT_COLUMNS = ("workflow_id", "source_id")


def sql_comment(text: str) -> str:
    """A comment as a SQL string literal (our own constant texts; quotes and backslashes removed)."""
    return "'" + text.replace("'", "").replace("\\", "") + "'"


def column_names(table: str) -> list[str]:
    return [c.name for c in TABLE_COLUMNS[table]]


def ddl_columns(table: str) -> str:
    return column_defs(TABLE_COLUMNS[table])


def column_defs(columns) -> str:
    return ", ".join(f"`{c.name}` {c.sql_type} COMMENT {sql_comment(c.comment)}" for c in columns)


def spark_schema(table: str):
    """The table's StructType (imports pyspark lazily: the pure rooms stay Spark-free)."""
    from pyspark.sql import types as T

    kinds = {"BIGINT": T.LongType, "STRING": T.StringType, "INT": T.IntegerType,
             "TIMESTAMP": T.TimestampType, "BOOLEAN": T.BooleanType}
    return T.StructType([T.StructField(c.name, kinds[c.sql_type](), True) for c in TABLE_COLUMNS[table]])
