"""executor.storage.schema / rows / writer without a JVM: one column list, the DDL and migration
derived from it, pure rows, and a dry run that walks the code the real run executes."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import get_type_hints

import pytest

from executor.metadata.model import ColumnFacts, MetadataResult, TableFacts
from executor.settings import Settings
from executor.storage import rows as R
from executor.storage import schema as S
from executor.storage.databricks_writer import DatabricksWriter
from executor.storage.retry import Backoff
from executor.storage.writer import TablesWriter
from tests.unit.test_storage_retry import FakeClock, analysis


def test_row_fields_are_the_columns_with_matching_python_types():
    for name, row_type in S.ROW_TYPES.items():
        hints = get_type_hints(row_type)
        assert [f.name for f in fields(row_type)] == S.column_names(name)
        for c in S.TABLE_COLUMNS[name]:
            assert hints[c.name] == S.PYTHON_TYPES[c.sql_type] | None, (name, c.name)
            assert c.nullable  # rows written before a column existed read it as NULL


def test_ddl_is_derived_from_the_rows():
    sql = S.create_table_sql(S.EXECUTOR_RUNS, "`c`.`s`.`executor_runs`", cluster=True, location="/w/executor_runs")
    assert sql.startswith("CREATE TABLE IF NOT EXISTS `c`.`s`.`executor_runs` (`id` BIGINT COMMENT 'Row key: "
                          "63-bit hash of (run_id, status; a running row: and its process)', `run_id` STRING COMMENT ")
    assert ("`finished_at` TIMESTAMP COMMENT 'When it finished (abandoned: when a later run found it dead); NULL on "
            "the running row'") in sql
    assert sql.endswith(") USING DELTA CLUSTER BY (workflow_id, source_id) COMMENT 'Run events: a running row at "
                        "start and a final row (succeeded/partial/failed/abandoned)' TBLPROPERTIES "
                        "('delta.setTransactionRetentionDuration' = 'interval 30 days', 'delta.appendOnly' = "
                        "'false') LOCATION '/w/executor_runs'")
    assert sql.count(" COMMENT ") == len(S.TABLE_COLUMNS[S.EXECUTOR_RUNS]) + 1
    plain = S.create_table_sql(S.SOURCES, "t", cluster=False, location=None)
    assert "CLUSTER BY" not in plain and "LOCATION" not in plain
    added = [c for c in S.TABLE_COLUMNS[S.SOURCES] if not c.seed]
    assert S.add_columns_sql("t", added) == (
        "ALTER TABLE t ADD COLUMNS (`run_id` STRING COMMENT 'The run that wrote this row', `files_skipped` INT "
        "COMMENT 'Files and folders skipped (hidden, markers, unsupported)', `table_count` INT COMMENT 'Tables "
        "found under the source (failed ones included)')")


def result() -> MetadataResult:
    cols = [ColumnFacts(column_name="a", data_type="int", position=1, is_nullable=True, sample_values=["1", "é"]),
            ColumnFacts(column_name="p", data_type="string", position=2, is_nullable=True, sample_values=[],
                           is_partition=True)]
    table = TableFacts(table_name="t", file_path="/lake/t", file_type="csv", row_count=2,
                          size_bytes=10, file_count=1, partition_columns=["p"], columns=cols)
    return MetadataResult(source_path="/lake", source_type="local", tables=[table], files_found=1, total_size_bytes=10,
                          extraction_timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))


def test_metadata_rows_are_pure_and_keyed_by_run():
    rows = R.metadata_rows(result(), "wf", None, "run_1")
    (source,), (table,), columns = rows[S.SOURCES], rows[S.TABLES], rows[S.COLUMNS]
    assert (source.workflow_id, source.source_id, source.run_id, source.table_count) == ("wf", None, "run_1", 1)
    assert source.extraction_timestamp == datetime(2026, 1, 2, 3, 4, 5)  # naive UTC
    assert (table.partition_columns, table.column_notes) == ('["p"]', None)
    assert [c.sample_values for c in columns] == ['["1", "é"]', "[]"]
    assert source.id == R.row_id("run_1", "source", "/lake") and 0 < source.id < 2 ** 63
    assert R.metadata_rows(result(), "wf", None, "run_1") == rows  # same run, same ids
    assert R.metadata_rows(result(), "wf", None, "run_2")[S.TABLES][0].id != table.id
    assert S.values(source)[:3] == (source.id, "wf", None)
    assert DatabricksWriter.metadata_rows(result(), "wf", None, "run_1")[S.TABLES][0]["status"] == "ok"


def test_run_row():
    run = R.RunRecord(run_id="r", workflow_id="wf", started_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                      summary={"b": 1, "a": 2})
    row = R.run_row(run)
    assert (row.status, row.summary, row.started_at, row.finished_at) == (
        "running", '{"a": 2, "b": 1}', datetime(2026, 1, 1), None)
    assert row.id == R.row_id("r", "run", "running")


class FakeSpark:
    """Records SQL; tables have the columns given (default: all of them); fails statements on demand."""

    def __init__(self, columns: dict[str, list[str]] | None = None, exists: bool = False) -> None:
        self.ran: list[str] = []
        self.failures: list[BaseException] = []
        self.columns = columns or {}
        self.catalog = SimpleNamespace(databaseExists=lambda name: exists, tableExists=lambda name: exists)

    def sql(self, statement: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.ran.append(statement)

    def table(self, full_name: str) -> SimpleNamespace:
        name = full_name.rsplit(".", 1)[1].strip("`")
        cols = self.columns.get(name, S.column_names(name))
        return SimpleNamespace(schema=SimpleNamespace(fields=[SimpleNamespace(name=c) for c in cols]))


def writer(spark: FakeSpark, clock: FakeClock | None = None) -> TablesWriter:
    clock = clock or FakeClock()
    return TablesWriter(spark, Settings(), None, Backoff(sleep=clock.sleep, monotonic=clock.monotonic,
                                                         jitter=lambda: 0.5))


def test_dry_run_lists_what_the_real_run_executes():
    dry_spark, real_spark = FakeSpark(), FakeSpark()
    planned = writer(dry_spark).migrate(dry_run=True)
    assert dry_spark.ran == []
    assert writer(real_spark).ensure_tables() == []  # created complete: nothing to alter
    assert planned == real_spark.ran
    assert planned[0].startswith("CREATE SCHEMA IF NOT EXISTS") and len(planned) == 1 + len(S.ALL_TABLES) == 6


def test_missing_columns_are_added_and_the_dry_run_shows_the_same_alter():
    old = {S.SOURCES: [c for c in S.column_names(S.SOURCES) if c not in ("run_id", "table_count")]}
    dry = writer(FakeSpark(old, exists=True)).migrate(dry_run=True)
    spark = FakeSpark(old)
    done = writer(spark).ensure_tables()
    assert len(dry) == len(done) == 1 and dry == done and done[0] in spark.ran
    assert "ADD COLUMNS (`run_id` STRING" in done[0] and "`table_count` INT" in done[0]


def test_a_create_race_is_retried_through_the_backoff():
    spark, clock = FakeSpark(), FakeClock()
    spark.failures = [analysis("SCHEMA_ALREADY_EXISTS"), analysis("TABLE_OR_VIEW_ALREADY_EXISTS")]
    writer(spark, clock).ensure_tables()
    assert len(spark.ran) == 1 + len(S.ALL_TABLES) and clock.waits == pytest.approx([0.2, 0.4])  # CREATE SCHEMA: third try


def test_file_facts_is_clustered_for_the_lookup_of_one_run_and_migrated_like_the_others():
    sql = S.create_table_sql(S.FILE_FACTS, "`c`.`s`.`file_facts`", cluster=True, location=None)
    assert " USING DELTA CLUSTER BY (workflow_id, source_id, run_id) COMMENT " in sql
    assert writer(FakeSpark()).layout_statements(S.FILE_FACTS)[0].endswith("CLUSTER BY (workflow_id, source_id, run_id)")
    # a store made before file_facts existed: the table is created, the others are left as they are
    spark = FakeSpark(exists=True)
    spark.catalog.tableExists = lambda name: not name.endswith(".file_facts")
    assert writer(spark).ensure_tables() == []  # nothing altered
    (created,) = spark.ran
    assert created.startswith("CREATE TABLE IF NOT EXISTS `spark_catalog`.`_executor_metadata`.`file_facts`")
    assert all(c.seed is False for c in S.TABLE_COLUMNS[S.FILE_FACTS])
    assert S.CONTRACT_TABLES == (S.SOURCES, S.TABLES, S.COLUMNS, S.EXECUTOR_RUNS)  # the contract's four


def test_a_location_with_a_quote_is_refused():
    from executor.errors import MetadataStoreError

    with pytest.raises(MetadataStoreError, match="quote"):
        TablesWriter(FakeSpark(), Settings(), "/w/it's")


class UcSpark(FakeSpark):
    """A session whose catalog API knows these catalogs (SHOW CATALOGS)."""

    def __init__(self, catalogs: list[str], **kw) -> None:
        super().__init__(**kw)
        self.catalog.listCatalogs = lambda: [SimpleNamespace(name=c) for c in catalogs]
        self.conf = SimpleNamespace(get=lambda key, default=None: default)


def uc_writer(spark, catalog: str = "main", location: str | None = None) -> TablesWriter:
    return TablesWriter(spark, Settings(catalog=catalog), location, Backoff(sleep=lambda s: None))


def test_unity_catalog_tables_are_managed_three_part_and_quoted():
    spark = UcSpark(["hive_metastore", "main", "system"])
    writer_ = uc_writer(spark)
    assert writer_.unity_catalog and not uc_writer(spark, "hive_metastore").unity_catalog
    writer_.ensure_tables()
    assert spark.ran[0] == "CREATE SCHEMA IF NOT EXISTS `main`.`_executor_metadata`"
    for stmt in spark.ran[1:]:
        assert stmt.startswith("CREATE TABLE IF NOT EXISTS `main`.`_executor_metadata`.`")
        assert "LOCATION" not in stmt and ("CLUSTER BY (workflow_id, source_id)" in stmt
                                           or "`file_facts`" in stmt and "CLUSTER BY (workflow_id, source_id, run_id)" in stmt)
        assert "TBLPROPERTIES ('delta.setTransactionRetentionDuration' = 'interval 30 days'" in stmt
    # an external location for the tables: each table names its own; the schema never gets one in UC
    spark = UcSpark(["main"])
    ext = uc_writer(spark, location="abfss://meta@acct.dfs.core.windows.net/nuvyn")
    assert ext.create_schema_sql() == "CREATE SCHEMA IF NOT EXISTS `main`.`_executor_metadata`"
    assert ext.create_table_sql(S.SOURCES).endswith("LOCATION 'abfss://meta@acct.dfs.core.windows.net/nuvyn/sources'")
    assert ext.migration_statements(S.SOURCES) == []
    old = UcSpark(["main"], columns={S.SOURCES: ["id", "workflow_id"]})
    (alter,) = uc_writer(old).migration_statements(S.SOURCES)
    assert alter.startswith("ALTER TABLE `main`.`_executor_metadata`.`sources` ADD COLUMNS (`source_id` STRING")


def test_an_existing_schema_and_tables_are_not_created_again():
    """On an existing schema the job needs no CREATE SCHEMA (nor CREATE TABLE after the first run)."""
    spark = UcSpark(["main"], exists=True)
    assert uc_writer(spark).ensure_tables() == [] and spark.ran == []


def test_a_missing_unity_catalog_catalog_names_the_setting():
    from executor.errors import MetadataStoreError

    spark = UcSpark(["hive_metastore", "main"])
    with pytest.raises(MetadataStoreError, match="metadata catalog 'mian' does not exist") as err:
        uc_writer(spark, "mian").ensure_tables()
    assert "NUVYN_METADATA_CATALOG (bundle variable metadata_catalog)" in str(err.value)
    assert "USE CATALOG" in str(err.value) and spark.ran == []


@pytest.mark.parametrize(("error_class", "words"), [
    ("PERMISSION_DENIED", "may not use or write"), ("INSUFFICIENT_PERMISSIONS", "may not use or write"),
    ("SCHEMA_NOT_FOUND", "does not exist or is not visible"),
    ("UC_HIVE_METASTORE_DISABLED_EXCEPTION", "does not exist or is not visible")])
def test_a_catalog_this_identity_may_not_write_is_a_clear_error(error_class, words):
    from executor.errors import MetadataStoreError

    spark = UcSpark(["main"])
    spark.failures = [analysis(error_class)]
    with pytest.raises(MetadataStoreError, match=words) as err:
        uc_writer(spark).ensure_tables()
    assert "NUVYN_METADATA_CATALOG (bundle variable metadata_catalog)" in str(err.value) and error_class in str(err.value)
