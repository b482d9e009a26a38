"""The one place that wires things: settings, the SparkSession, the source stores, extractor, writer
and reads. main, cli and the API server hand it the environment; nothing below reads os.environ.

Tests build an ExecutorContext with their own session (and settings) and replace what they need.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from executor.metadata.grouping import prune_listing
from executor.payload import JobRequest
from executor.sandbox.pool import READER_PRELOAD, ReaderSandbox, scrub_environment
from executor.settings import ReadSettings, SandboxSettings, Settings, on_databricks
from executor.sources.azure import AzureBlobFileStore
from executor.sources.base import FileStore
from executor.sources.databricks_credentials import GovernedCredentials
from executor.sources.location import Location, source_location
from executor.spark_connect import active_session
from executor.spark_session import build_spark_session, connect_url
from executor.storage.databricks_writer import DatabricksWriter
from executor.storage.liveness import RunLiveness, SdkJobRunStates, current_process, workspace_client
from executor.storage.queries import MetadataReads, build_reads
from executor.storage.schema import CONTRACT_TABLES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from executor.metadata.extractor import MetadataExtractor
    from executor.sources.policy import SourceGuard


class ExecutorContext:
    """`request`: the job this context runs (its ids reach the extractor), when there is one."""

    def __init__(self, settings: Settings | None = None, env: Mapping[str, str] | None = None,
                 spark: SparkSession | None = None, request: JobRequest | None = None) -> None:
        self.env: Mapping[str, str] = {} if env is None else env
        self.request = request
        self._settings = settings
        self._spark = spark

    @cached_property
    def settings(self) -> Settings:
        return self._settings or Settings.from_env(self.env)

    @cached_property
    def read_settings(self) -> ReadSettings:
        return ReadSettings.from_env(self.env)

    @cached_property
    def sandbox_settings(self) -> SandboxSettings:
        return SandboxSettings.from_env(self.env)

    @cached_property
    def sandbox(self) -> ReaderSandbox:
        """The run's native-reader isolation (executor/sandbox, docs/ARCHITECTURE.md): worker processes
        that decode Parquet, ORC and Avro contents, started at first use, with an environment without
        credentials. One per run: close_sandbox() stops its workers (run_job does at the run's end)
        and the next run gets a new one."""
        return ReaderSandbox(self.sandbox_settings, env=scrub_environment(self.env), preload=READER_PRELOAD)

    def close_sandbox(self) -> None:
        """Stop the run's reader workers (no-op when none was made)."""
        box = self.__dict__.pop("sandbox", None)
        if box is not None:
            box.close()

    @cached_property
    def source_guard(self) -> SourceGuard | None:
        """Set for the jobs the API's local launcher starts (NUVYN_JOB_ENFORCE_SOURCE_ROOTS): the
        source is checked again against NUVYN_API_SOURCE_ROOTS and local files are read confined to
        the root (executor.sources.policy.SourceGuard). None for every other run."""
        from executor.settings import SourceGuardSettings
        from executor.sources.policy import SourceGuard

        return SourceGuard.from_settings(SourceGuardSettings.from_env(self.env))

    @cached_property
    def databricks(self) -> bool:
        return on_databricks(self.env)

    @cached_property
    def spark(self) -> SparkSession:
        if self._spark is not None:
            return self._spark
        return build_spark_session(self.settings, self.env)

    @property
    def spark_running(self) -> bool:
        """True when a session exists already or costs no local JVM (given, built, Databricks,
        spark-submit, a Spark Connect server named by SPARK_REMOTE, a Connect session made by the
        runtime): using it costs nothing. False when the first use would start a local JVM."""
        if self._spark is not None or "spark" in self.__dict__ or self.databricks:
            return True
        if self.env.get("PYSPARK_GATEWAY_PORT") or connect_url(self.env):
            return True
        if "pyspark" not in sys.modules:
            return False
        return active_session() is not None

    @cached_property
    def governed_credentials(self) -> GovernedCredentials:
        """Unity Catalog's temporary path credentials and the secret-scope service principal, through
        one databricks-sdk WorkspaceClient (the runtime's own credentials), built at first use."""
        return GovernedCredentials()

    def store_factory(self, location: Location, settings: Settings, retry_total: int = 3) -> FileStore:
        """The store of a source: the file system for local and DBFS paths, azure-storage-blob for
        Azure (with this process's Databricks rules and credentials and, when it runs already, its
        Spark session)."""
        from executor.metadata.plan import default_store_factory  # the readers: numpy, pyarrow

        if self.source_guard is not None:  # a job of the API: checked again, local files read confined
            self.source_guard.check(location)
            if not location.is_azure:
                return self.source_guard.local_store(location)
        if not location.is_azure:
            return default_store_factory(location, settings)
        return AzureBlobFileStore.from_location(location, settings, databricks=self.databricks,
                                                spark=self.spark if self.spark_running else None,
                                                retry_total=retry_total,
                                                governed=self.governed_credentials if self.databricks else None)

    def check_source(self, data_source_path: str, data_source_type: str = "auto") -> None:
        """Open the source and read the first entry of its listing, without Spark: a missing path,
        an unreachable account or a refused credential raises SourceError within a second or two,
        with the message the run itself would give."""
        def one_try(location: Location, settings: Settings) -> FileStore:
            return self.store_factory(location, settings, retry_total=0)  # an unreachable account answers at once

        factory = getattr(self.__dict__.get("extractor"), "store_factory", one_try)
        store = factory(source_location(data_source_path, data_source_type, self.settings), self.settings)
        for _first in store.list_files(prune_listing):
            break

    def tables_line(self) -> str:
        """One line naming the catalog, schema and location of the four metadata tables (file_facts lives
        beside them)."""
        s = self.settings
        where = s.resolved_tables_location(self.databricks) or "managed by the metastore"
        return f"metadata tables: {s.catalog}.{s.schema}.{{{','.join(CONTRACT_TABLES)}}} at {where}"

    @cached_property
    def extractor(self) -> MetadataExtractor:
        from executor.metadata.extractor import MetadataExtractor  # numpy, pyarrow

        ids = self.request
        return MetadataExtractor(self.spark, self.settings, store_factory=self.store_factory,
                                 workflow_id=ids.workflow_id if ids else None,
                                 source_id=ids.source_id if ids else None, sandbox=lambda: self.sandbox)

    @cached_property
    def liveness(self) -> RunLiveness:
        """How this process tells a dead run from a live one (executor.storage.liveness): this process's
        identity, the job's timeout, and the Jobs API through databricks-sdk (built at first use)."""
        return RunLiveness(current_process(), max_age_s=self.settings.run_timeout_s,
                           jobs=SdkJobRunStates(workspace_client))

    @cached_property
    def writer(self) -> DatabricksWriter:
        return DatabricksWriter(self.spark, self.settings, databricks=self.databricks, liveness=self.liveness)

    @cached_property
    def reads(self) -> MetadataReads:
        """Metadata reads: delta-rs locally (no JVM), Spark on Databricks, or the SQL Statement
        Execution API when NUVYN_SQL_WAREHOUSE_ID is set (executor.storage.queries.build_reads)."""
        return build_reads(self.settings, self.read_settings, databricks=self.databricks,
                           spark_reads=lambda: self.writer.reads, liveness=self.liveness)
