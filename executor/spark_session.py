"""SparkSession factory: the runtime's own session on Databricks, local Spark + Delta elsewhere."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from executor.settings import Settings, on_databricks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


@contextmanager
def _jvm_stdout_to_stderr() -> Iterator[None]:
    """The JVM (and Ivy's jar resolution) inherits file descriptor 1 when it starts: point it at
    stderr so that our stdout carries only the JSON a command prints."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def build_spark_session(settings: Settings, app_name: str = "nuvyn-executor") -> SparkSession:
    """On Databricks: the active session. Locally: local[*] with Delta's extension and catalog,
    UI off, warehouse under settings.warehouse_dir. Delta jars come from Maven Central on first use
    (spark.jars.packages) and are cached in ~/.ivy2* for later, offline runs."""
    from pyspark.sql import SparkSession

    if on_databricks():
        active = SparkSession.getActiveSession()
        return active if active is not None else SparkSession.builder.getOrCreate()

    from delta import configure_spark_with_delta_pip

    os.makedirs(settings.warehouse_dir, exist_ok=True)
    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName(app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.warehouse.dir", os.path.abspath(settings.warehouse_dir))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + os.path.abspath(settings.warehouse_dir))
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
    )
    extra = [p for p in os.environ.get("NUVYN_SPARK_PACKAGES", "").split(",") if p]
    with _jvm_stdout_to_stderr():
        spark = configure_spark_with_delta_pip(builder, extra_packages=extra).getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("NUVYN_SPARK_LOG_LEVEL", "ERROR"))
    logger.debug("local Spark %s started (warehouse %s)", spark.version, settings.warehouse_dir)
    return spark
