"""DatabricksWriter: the seed's entry point to the four Delta metadata tables - writes extracted
metadata (executor.storage.writer over executor.storage.rows) and reads it back
(executor.storage.queries.SparkReads: DataFrame filters only, no SQL text built from workflow_id,
source_id or run_id).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from executor.errors import MetadataStoreError
from executor.ids import new_run_id
from executor.metadata.incremental import PriorRun
from executor.metadata.model import MetadataResult
from executor.settings import Settings
from executor.storage import rows as R
from executor.storage import schema as S
from executor.storage.liveness import RunLiveness, abandoned_record, group_runs
from executor.storage.queries import DeltaReads, SparkReads
from executor.storage.rows import RunRecord
from executor.storage.writer import TablesWriter

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["DatabricksWriter", "RunRecord"]

logger = logging.getLogger(__name__)

# mark_abandoned: the runs it looks at (started within SWEEP_LOOKBACK: well inside the 30 days Delta keeps
# the txn ids that make a marker row unique), judges (SWEEP_LIMIT) and asks the Jobs API about.
SWEEP_LOOKBACK = timedelta(days=7)
SWEEP_LIMIT = 20
SWEEP_API_CHECKS = 10


class DatabricksWriter:
    """Writes extracted metadata to the Delta tables and reads it back."""

    def __init__(self, spark: SparkSession, settings: Settings | None = None,
                 databricks: bool = False, liveness: RunLiveness | None = None) -> None:
        self.spark = spark
        self.settings = settings or Settings()
        self.databricks = databricks
        self.location = self.settings.resolved_tables_location(self.databricks)
        self.tables = TablesWriter(spark, self.settings, self.location)
        self.liveness = liveness  # dead runs: reported abandoned by the reads, marked by mark_abandoned

    # ------------------------------------------------------------------ DDL and migration

    def table(self, name: str) -> str:
        return self.tables.table(name)

    def ensure_tables(self) -> list[str]:
        """Create the schema and the four tables if missing and add missing columns.

        Returns the ALTER statements that were run (empty when nothing had to change)."""
        return self.tables.ensure_tables()

    def existing_columns(self, name: str) -> list[str]:
        return self.tables.existing_columns(name)

    def missing_columns(self, name: str) -> list[S.Column]:
        return self.tables.missing_columns(name)

    def migrate(self, *, backfill_workflow_id: bool = False, optimize: bool = False,
                dry_run: bool = False) -> list[str]:
        """Upgrade the tables in place (executor.storage.writer.TablesWriter.migrate)."""
        return self.tables.migrate(backfill_workflow_id=backfill_workflow_id, optimize=optimize, dry_run=dry_run)

    # ------------------------------------------------------------------ appends

    def record_run(self, run: RunRecord) -> None:
        """Append a run event (status 'running' at start, the final status at the end)."""
        self.tables.record_run(run)

    def mark_abandoned(self, exclude_run_id: str | None = None, marked_by: str = "") -> list[str]:
        """Append the `abandoned` row of each run this process can check that died without recording
        its end (executor.storage.liveness): locally the runs of this host, on Databricks the
        Databricks runs; started within SWEEP_LOOKBACK, at most SWEEP_LIMIT judged, oldest first.
        Each row is an idempotent append (txnAppId per run and status): markers racing write it once.
        Returns the run ids marked."""
        if self.liveness is None:
            return []
        here = self.liveness.here
        reads = self._sweep_reads()
        since = self.liveness.clock() - SWEEP_LOOKBACK
        rows = reads.open_run_rows(run_mode="databricks" if self.databricks else "local", since=since,
                                   host=None if self.databricks else here.host)
        found = self.liveness.abandoned(group_runs(rows), reads.run_events, exclude=[exclude_run_id],
                                        limit=SWEEP_LIMIT, api_checks=SWEEP_API_CHECKS)
        for run_id, dead in found.items():
            self.tables.record_run(abandoned_record(dead, marked_by or f"{here.describe()}", self.liveness.clock()))
            logger.warning("run %s marked abandoned: %s", run_id, dead.reason)
        return list(found)

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
        self.tables.ensure_tables()
        run = RunRecord(run_id=rid, workflow_id=workflow_id, source_id=source_id, source_path=result.source_path,
                        run_mode="databricks" if self.databricks else "local")
        if own_run:
            self.tables.record_run(run)
        self.tables.append_rows(R.metadata_rows(result, workflow_id, source_id, rid), rid)
        if own_run:
            run.status, run.finished_at = result.status, R.utcnow()
            self.tables.record_run(run)
        return True

    @staticmethod
    def metadata_rows(result: MetadataResult, workflow_id: str, source_id: str | None,
                      run_id: str) -> dict[str, list[dict[str, Any]]]:
        """The rows each data table gets for one result, as dicts (executor.storage.rows). Pure."""
        return {name: [asdict(r) for r in rows]
                for name, rows in R.metadata_rows(result, workflow_id, source_id, run_id).items()}

    # ------------------------------------------------------------------ queries

    def _sweep_reads(self) -> SparkReads | DeltaReads:
        """Where mark_abandoned reads executor_runs: delta-rs on the tables' files when they are in a
        local folder and deltalake is installed (milliseconds, no Spark job in the run), else Spark
        (one query)."""
        if not self.databricks and self.location and self.location.startswith("/"):  # a local folder
            try:
                import deltalake  # noqa: F401 - the `local` extra
            except ImportError:
                return self.reads
            self.tables.ensure_tables()
            return DeltaReads(self.location)
        return self.reads

    @property
    def reads(self) -> SparkReads:
        """The Spark backend of executor.storage.queries (tables created or migrated first; dead runs
        reported abandoned when the writer has a liveness check)."""
        return SparkReads(self.spark, self.settings, ensure_tables=self.tables.ensure_tables, liveness=self.liveness)

    def select_runs(self, workflow_id: str | None = None, source_id: str | None = None,
                    run_id: str | None = None, completed_only: bool = True,
                    latest_only: bool = True) -> list[dict[str, Any]]:
        """The current (latest) event row of each matching run, newest first.

        With latest_only, only the newest run per (workflow_id, source_id) is kept."""
        return self.reads.select_runs(workflow_id, source_id, run_id, completed_only, latest_only)

    def prior_run(self, workflow_id: str, source_id: str | None, source_path: str | None,
                  exclude_run_id: str | None = None) -> PriorRun | None:
        """What an incremental run may reuse: the latest completed run of this workflow_id, source_id and
        source path (executor.metadata.incremental), or None when there is none."""
        found = self.reads.prior_run_rows(workflow_id, source_id, source_path, exclude_run_id)
        if found is None:
            return None
        run_id, rows = found
        return R.prior_run(run_id, rows[S.TABLES], rows[S.COLUMNS], rows[S.FILE_FACTS])

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
