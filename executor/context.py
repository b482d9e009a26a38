"""The one place that wires things: settings, SparkSession, extractor, writer.

Tests build an ExecutorContext with their own session (and settings) and replace what they need.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from executor.settings import Settings, on_databricks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from executor.metadata.extractor import MetadataExtractor
    from executor.storage.databricks_writer import DatabricksWriter
    from executor.storage.queries import MetadataReads


class ExecutorContext:
    def __init__(self, settings: Settings | None = None, env: Mapping[str, str] | None = None,
                 spark: SparkSession | None = None) -> None:
        self.env = os.environ if env is None else env
        self._settings = settings
        self._spark = spark

    @cached_property
    def settings(self) -> Settings:
        return self._settings or Settings.from_env(self.env)

    @cached_property
    def databricks(self) -> bool:
        return on_databricks(self.env)

    @cached_property
    def spark(self) -> SparkSession:
        if self._spark is not None:
            return self._spark
        from executor.spark_session import build_spark_session

        return build_spark_session(self.settings)

    @cached_property
    def extractor(self) -> MetadataExtractor:
        from executor.metadata.extractor import MetadataExtractor

        return MetadataExtractor(self.spark, self.settings, env=self.env)

    @cached_property
    def writer(self) -> DatabricksWriter:
        from executor.storage.databricks_writer import DatabricksWriter

        return DatabricksWriter(self.spark, self.settings, databricks=self.databricks)

    @cached_property
    def reads(self) -> MetadataReads:
        """Metadata reads: delta-rs locally (no JVM), Spark on Databricks, or the SQL Statement
        Execution API when NUVYN_SQL_WAREHOUSE_ID is set (executor.storage.queries.build_reads)."""
        from executor.storage.queries import build_reads

        return build_reads(self.settings, self.env, spark_reads=lambda: self.writer.reads)
