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


def _launched_by_spark_submit() -> bool:
    """True when this Python process was started by spark-submit (or the pyspark shell): the JVM
    is already running, with the --master, --packages and --conf the user gave it."""
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


def build_spark_session(settings: Settings, app_name: str = "nuvyn-executor") -> SparkSession:
    """The session to run on, in this order:
    1. a session that is already running in this process (Databricks, a notebook, a caller's own
       session, spark-submit after the script started one): reused as it is;
    2. on Databricks, or under spark-submit: builder.getOrCreate(), which takes the runtime's or
       spark-submit's configuration (master, --packages, --conf) and adds nothing to it, so the
       Delta extension and catalog must come from there (see jobs/metadata_extraction.py);
    3. otherwise a local[*] session with Delta's extension and catalog, UI off, warehouse under
       settings.warehouse_dir. Delta jars come from Maven Central on first use
       (spark.jars.packages) and are cached in ~/.ivy2* for later, offline runs."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        logger.debug("reusing the running Spark %s session", active.version)
        return active
    if on_databricks() or _launched_by_spark_submit():
        return SparkSession.builder.getOrCreate()

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
