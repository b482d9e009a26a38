"""The four Delta tables on a SparkSession: creation (CREATE SCHEMA/TABLE IF NOT EXISTS from
executor.storage.schema; with a tables location they are external, at <location>/<table>, so that every
process finds the same tables), migration (ALTER TABLE ... ADD COLUMNS for the columns a table lacks;
nothing is dropped; the dry run walks the same code and returns the statements instead), and blind,
idempotent appends (Delta's txnAppId/txnVersion per run and table: a retried run never writes a
table's rows twice). Every Delta operation goes through executor.storage.retry.

Catalogs: `spark_catalog` locally, `hive_metastore` (the workspace's Hive metastore) or a Unity Catalog
catalog on Databricks (NUVYN_METADATA_CATALOG, the bundle variable metadata_catalog). On a Unity
Catalog catalog the tables are managed (no LOCATION) unless NUVYN_TABLES_LOCATION names an external
location; the schema never gets a LOCATION there. The schema and the tables are created only when
they do not exist, so a run on an existing schema needs USE CATALOG, USE SCHEMA, CREATE TABLE (first
run), MODIFY and SELECT, and no CREATE SCHEMA. A catalog that does not exist, or that this identity
may not use or write, is a MetadataStoreError naming the setting (check_catalog, _store_error)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from executor.errors import MetadataStoreError
from executor.settings import Settings
from executor.spark_connect import is_delta_table
from executor.storage import schema as S
from executor.storage.retry import Backoff, DeltaRaces
from executor.storage.rows import RunRecord, run_event_app_id, run_row

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

BACKFILL_SQL = "UPDATE {table} SET workflow_id = source_id WHERE workflow_id IS NULL AND source_id IS NOT NULL"

# Catalogs that are not Unity Catalog catalogs: the session catalog and the workspace's Hive metastore.
LEGACY_CATALOGS = frozenset({"spark_catalog", "hive_metastore"})
CATALOG_SETTING = "NUVYN_METADATA_CATALOG (bundle variable metadata_catalog)"
# Spark / Databricks error classes of a missing catalog or schema, and of a refused privilege.
MISSING_ERROR_CLASSES = frozenset({
    "CATALOG_NOT_FOUND", "NO_SUCH_CATALOG_EXCEPTION", "REQUIRES_SINGLE_PART_NAMESPACE", "SCHEMA_NOT_FOUND",
    "UC_HIVE_METASTORE_DISABLED_EXCEPTION", "UC_NOT_ENABLED",
})
PERMISSION_ERROR_CLASSES = frozenset({
    "PERMISSION_DENIED", "INSUFFICIENT_PERMISSIONS", "INSUFFICIENT_PERMISSIONS_NO_OWNER_PERMISSION",
    "UNAUTHORIZED_ACCESS", "TABLE_OR_VIEW_NOT_FOUND_OR_NO_PERMISSION",
})
PERMISSION_SQLSTATE = "42501"  # insufficient privilege (SQL standard)
GRANTS_HINT = ("grant the job's identity USE CATALOG on the catalog, USE SCHEMA, CREATE TABLE, MODIFY and SELECT "
               "on the schema (docs/DEPLOY.md, Unity Catalog)")


def is_unity_catalog(catalog: str) -> bool:
    """True for a Unity Catalog catalog: anything but spark_catalog and hive_metastore."""
    return catalog.lower() not in LEGACY_CATALOGS


def _sql_state(exc: BaseException) -> str | None:
    get = getattr(exc, "getSqlState", None)
    try:
        return str(get()) if callable(get) and get() else None
    except Exception:  # noqa: BLE001 - a py4j error without a state
        return None


def store_error(exc: BaseException, settings: Settings, what: str) -> MetadataStoreError | None:
    """A MetadataStoreError naming the catalog setting for a missing catalog/schema or a refused
    privilege (by Spark error class or SQLSTATE, never by message text); None for other errors."""
    from executor.storage.retry import error_class

    name = error_class(exc)
    where = f"metadata catalog {settings.catalog!r} (schema {settings.schema!r})"
    if name in MISSING_ERROR_CLASSES:
        return MetadataStoreError(
            f"{what}: the {where} does not exist or is not visible to this identity [{name}]; set "
            f"{CATALOG_SETTING} to an existing catalog (on a workspace without hive_metastore: a Unity Catalog "
            f"catalog), or {GRANTS_HINT}")
    if name in PERMISSION_ERROR_CLASSES or (name is None and _sql_state(exc) == PERMISSION_SQLSTATE):
        return MetadataStoreError(f"{what}: this identity may not use or write the {where} [{name or 'SQLSTATE 42501'}]; "
                                  f"{GRANTS_HINT}, or set {CATALOG_SETTING} to a catalog it may write")
    return None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class TablesWriter:
    """Creates, migrates and appends to the four tables named by `settings` (catalog, schema) at
    `location` (None: managed tables)."""

    def __init__(self, spark: SparkSession, settings: Settings, location: str | None,
                 backoff: Backoff | None = None) -> None:
        if location and "'" in location:
            raise MetadataStoreError("NUVYN_TABLES_LOCATION must not contain a quote character")
        self.spark = spark
        self.settings = settings
        self.location = location
        self.backoff = backoff or Backoff()
        self.races = DeltaRaces()
        self._ready = False

    def _retry(self, action: Callable[[], Any], what: str) -> Any:
        try:
            return self.backoff.run(action, what, self.races)
        except MetadataStoreError:
            raise
        except Exception as exc:
            clear = store_error(exc, self.settings, what)
            if clear is None:
                raise
            raise clear from exc

    def _sql(self, statement: str, what: str) -> None:
        self._retry(lambda: self.spark.sql(statement), what)

    # ------------------------------------------------------------------ names and statements

    def table(self, name: str) -> str:
        return self.settings.table_name(name)

    def _table_location(self, name: str) -> str | None:
        return f"{self.location}/{name}" if self.location else None

    @property
    def unity_catalog(self) -> bool:
        return is_unity_catalog(self.settings.catalog)

    def create_schema_sql(self) -> str:
        """CREATE SCHEMA; with the schema's LOCATION outside Unity Catalog only (a Unity Catalog schema
        takes a MANAGED LOCATION from its admin, not from this job; its external tables name theirs)."""
        sql = f"CREATE SCHEMA IF NOT EXISTS {self.settings.qualified_schema}"
        return sql + (f" LOCATION '{self.location}'" if self.location and not self.unity_catalog else "")

    def check_catalog(self) -> None:
        """A Unity Catalog catalog must exist and be visible (SHOW CATALOGS through the catalog API, or a
        catalog configured in this session): else MetadataStoreError naming the setting. Spark itself
        would read a missing `cat`.`schema` as a two-level namespace of the session catalog and fail with
        an internal error."""
        catalog = self.settings.catalog
        if not self.unity_catalog:
            return
        try:
            names = {c.name.lower() for c in self.spark.catalog.listCatalogs()}
        except Exception as exc:
            raise store_error(exc, self.settings, "listing the catalogs") or MetadataStoreError(
                f"cannot list the catalogs to find the metadata catalog {catalog!r}: {_first_line(exc)}") from exc
        if catalog.lower() in names or self.spark.conf.get(f"spark.sql.catalog.{catalog}", None):
            return
        raise MetadataStoreError(
            f"the metadata catalog {catalog!r} does not exist or is not visible to this identity; set "
            f"{CATALOG_SETTING} to an existing catalog (hive_metastore where the workspace has one, else a "
            f"Unity Catalog catalog), or create it and {GRANTS_HINT}")

    def _schema_exists(self) -> bool:
        return bool(self.spark.catalog.databaseExists(f"{self.settings.catalog}.{self.settings.schema}"))

    def _table_exists(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(f"{self.settings.catalog}.{self.settings.schema}.{name}"))

    def create_table_sql(self, name: str) -> str:
        return S.create_table_sql(name, self.table(name), cluster=self.settings.table_layout == "cluster",
                                  location=self._table_location(name))

    def register_sql(self, name: str) -> str | None:
        """The statement that registers the Delta table found at the table's location (written by an
        earlier process) in this session's catalog as it is; None when there is none."""
        loc = self._table_location(name)
        if loc and is_delta_table(self.spark, loc):  # not delta.tables: Spark Connect has no py4j
            return f"CREATE TABLE IF NOT EXISTS {self.table(name)} USING DELTA LOCATION '{loc}'"
        return None

    def _create_table(self, name: str) -> None:
        self.spark.sql(self.register_sql(name) or self.create_table_sql(name))

    def existing_columns(self, name: str) -> list[str]:
        return [f.name for f in self.spark.table(self.table(name)).schema.fields]

    def missing_columns(self, name: str) -> list[S.Column]:
        have = {c.lower() for c in self.existing_columns(name)}
        return [c for c in S.TABLE_COLUMNS[name] if c.name.lower() not in have]

    def migration_statements(self, name: str) -> list[str]:
        missing = self.missing_columns(name)
        return [S.add_columns_sql(self.table(name), missing)] if missing else []

    def layout_statements(self, name: str) -> list[str]:
        """What `migrate --optimize` runs for a table's layout (no request values in them)."""
        cols = ", ".join(S.layout_columns(name))
        if self.settings.table_layout == "cluster":
            return [f"ALTER TABLE {self.table(name)} CLUSTER BY ({cols})", f"OPTIMIZE {self.table(name)}"]
        if self.settings.table_layout == "zorder":
            return [f"OPTIMIZE {self.table(name)} ZORDER BY ({cols})"]
        return []

    # ------------------------------------------------------------------ DDL and migration

    def ensure_tables(self) -> list[str]:
        """Create the schema and the four tables if missing and add missing columns (once per writer).

        Returns the ALTER statements that were run (empty when nothing had to change)."""
        if self._ready:
            return []
        changes = self._converge(dry_run=False)
        self._ready = True
        return changes

    def _converge(self, dry_run: bool) -> list[str]:
        """Bring the schema and tables to executor.storage.schema. Returns the ALTER statements run;
        with dry_run, changes nothing and returns the CREATE and ALTER statements that would run."""
        statements: list[str] = []
        self.check_catalog()
        schema_exists = self._retry(self._schema_exists, "look up the schema")
        if not dry_run and not schema_exists:
            self._sql(self.create_schema_sql(), "create schema")
        elif not schema_exists:
            statements.append(self.create_schema_sql())
        for name in S.ALL_TABLES:
            exists = schema_exists and self._retry(functools.partial(self._table_exists, name), f"look up {name}")
            if not dry_run and not exists:
                self._retry(functools.partial(self._create_table, name), f"create table {name}")
            elif not exists:
                register = self.register_sql(name)
                if register is None:
                    statements.append(self.create_table_sql(name))
                    continue
                self.spark.sql(register)  # only the session catalog learns of the table
            statements.extend(self.migrate_table(name, dry_run=dry_run))
        return statements

    def migrate_table(self, name: str, dry_run: bool = False) -> list[str]:
        """Add the columns the table lacks; returns the statements (run unless dry_run)."""
        statements = self.migration_statements(name)
        for stmt in [] if dry_run else statements:
            logger.info("migrating %s: %s", name, stmt)
            try:
                self._sql(stmt, f"migrate {name}")
            except Exception as exc:
                if self.missing_columns(name):
                    raise MetadataStoreError(f"cannot add columns to {self.table(name)}: {exc}") from exc
                logger.info("columns of %s were added by a concurrent run", name)
        return statements

    def migrate(self, *, backfill_workflow_id: bool = False, optimize: bool = False,
                dry_run: bool = False) -> list[str]:
        """Upgrade the tables in place (v1 -> v2): add missing columns, optionally backfill
        workflow_id from source_id, optionally apply the query layout. Idempotent.

        Returns the statements run (or, with dry_run, the ones that would run)."""
        if dry_run:
            done = self._converge(dry_run=True)
        else:
            self._ready = False
            done = self.ensure_tables()
        for name in S.ALL_TABLES:
            if backfill_workflow_id:
                done.append(BACKFILL_SQL.format(table=self.table(name)))
                if not dry_run:
                    self._backfill(name)
            if optimize:
                for stmt in self.layout_statements(name):
                    done.append(stmt)
                    if not dry_run:
                        self._layout(name, stmt)
        return done

    def _backfill(self, name: str) -> None:
        self._sql(BACKFILL_SQL.format(table=self.table(name)), f"backfill {name}")  # SQL: classic and Connect

    def _layout(self, name: str, stmt: str) -> None:
        try:
            self._sql(stmt, f"layout {name}")
        except Exception as exc:  # e.g. a partitioned v1 table cannot cluster
            raise MetadataStoreError(f"{stmt} failed ({_first_line(exc)}); set NUVYN_TABLE_LAYOUT=zorder "
                                     "or none for this table") from exc

    # ------------------------------------------------------------------ appends

    def append(self, name: str, rows: Sequence[S.Row], app_id: str) -> None:
        """Append rows to a table once per app_id (Delta's txnAppId/txnVersion idempotent write)."""
        if not rows:
            return
        df = self.spark.createDataFrame([S.values(r) for r in rows], schema=S.spark_schema(name))
        writer = df.write.format("delta").mode("append").option("txnAppId", app_id).option("txnVersion", 0)
        self._retry(lambda: writer.saveAsTable(self.table(name)), f"append to {name}")
        logger.debug("appended %d rows to %s", len(rows), name)

    def record_run(self, run: RunRecord) -> None:
        """Append a run event (status 'running' at start, the final status at the end, or 'abandoned'
        written by a later run), once per executor.storage.rows.run_event_app_id."""
        self.ensure_tables()
        self.append(S.EXECUTOR_RUNS, [run_row(run)], run_event_app_id(run))

    def append_rows(self, rows: dict[str, list[S.Row]], run_id: str) -> None:
        """Append each data table's rows of one run (once per run and table)."""
        self.ensure_tables()
        for name, table_rows in rows.items():
            self.append(name, table_rows, f"nuvyn:{run_id}:{name}")
