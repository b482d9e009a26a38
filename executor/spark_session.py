"""SparkSession factory: the runtime's own session on Databricks (classic or Spark Connect), a Spark Connect
session on the server SPARK_REMOTE names, local Spark + Delta elsewhere."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from executor.errors import SettingsError
from executor.logging_setup import jvm_java_options, jvm_log_level, jvm_noise
from executor.redaction import Secret
from executor.settings import Settings, on_databricks
from executor.spark_connect import active_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


class _JvmOutput:
    """The JVM started for a local session inherits file descriptors 1 and 2: both are pointed at a
    pipe while it starts, and a daemon thread copies the pipe to our stderr for the JVM's lifetime,
    dropping Ivy's resolution chatter (logging_setup.jvm_noise) unless `verbose`. So our stdout
    carries only what a command prints, and stderr only what matters. The dropped lines are kept
    (the last 500) and written out when the start fails."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.dropped: deque[str] = deque(maxlen=500)

    @contextmanager
    def redirect(self) -> Iterator[None]:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = (os.dup(1), os.dup(2))
        except (OSError, ValueError):  # no real descriptors (an embedding host): leave them alone
            yield
            return
        read_fd, write_fd = os.pipe()
        target = os.dup(saved[1])
        threading.Thread(target=self._copy, args=(read_fd, target), name="nuvyn-jvm-output", daemon=True).start()
        try:
            os.dup2(write_fd, 1)
            os.dup2(write_fd, 2)
            yield
        except BaseException:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[1], 2)
            for line in self.dropped:
                sys.stderr.write(line)
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in (*saved, write_fd):
                os.close(fd)

    def _copy(self, read_fd: int, target: int) -> None:
        with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace", newline="") as src:
            for line in src:
                if not self.verbose and jvm_noise(line):
                    self.dropped.append(line)
                    continue
                try:
                    os.write(target, line.encode("utf-8", "replace"))
                except OSError:
                    pass
        os.close(target)


def launched_by_spark_submit(env: Mapping[str, str]) -> bool:
    """True when this Python process was started by spark-submit (or the pyspark shell): the JVM
    is already running, with the --master, --packages and --conf the user gave it."""
    return bool(env.get("PYSPARK_GATEWAY_PORT"))


def connect_url(env: Mapping[str, str]) -> str | None:
    """SPARK_REMOTE, pyspark's own variable for a Spark Connect server (sc://host:port/;params)."""
    return (env.get("SPARK_REMOTE") or "").strip() or None


def _connect_address(url: str) -> tuple[str, int]:
    """(host, port) of an sc:// URL (default port 15002); SettingsError naming SPARK_REMOTE
    otherwise. The URL's parameters (a token) are never part of an error."""
    if not url.startswith("sc://"):
        raise SettingsError("SPARK_REMOTE must be a Spark Connect URL, sc://host:port (pyspark's `local` "
                            "form starts a Connect server without Delta); unset it to run on a local Spark session")
    authority = url[len("sc://"):].split("/", 1)[0]
    try:
        parts = urlsplit("//" + authority)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise SettingsError("SPARK_REMOTE has a port that is not a number: write it as sc://host:port") from None
    if not host:
        raise SettingsError("SPARK_REMOTE has no host: write it as sc://host:port")
    return host, port or 15002


def connect_session(url: str, reach_timeout_s: float = 10.0) -> SparkSession:
    """A Spark Connect session on the server of `url`. The server is reached first (one TCP
    connection): pyspark's client would retry an unreachable server for many minutes."""
    from pyspark.sql import SparkSession

    host, port = _connect_address(url)
    for param in url.split("/;", 1)[1].split(";") if "/;" in url else []:
        key, _, value = param.partition("=")
        if key.strip().lower() == "token":
            Secret(value)  # registers the token: pyspark's errors may quote the URL, no log shows it
    try:
        socket.create_connection((host, port), timeout=reach_timeout_s).close()
    except OSError as exc:
        raise SettingsError(f"cannot reach the Spark Connect server of SPARK_REMOTE ({host}:{port}): "
                            f"{exc.strerror or exc}; start it or correct SPARK_REMOTE") from None
    spark = SparkSession.builder.remote(url).getOrCreate()
    logger.debug("Spark Connect session on %s:%d (Spark %s)", host, port, spark.version)
    return spark


def build_spark_session(settings: Settings, env: Mapping[str, str], app_name: str = "nuvyn-executor") -> SparkSession:
    """The session to run on, in this order:
    1. a session that is already running in this process, classic or Spark Connect (Databricks,
       a serverless task, a notebook, a caller's own session, spark-submit after the script started
       one): reused as it is;
    2. SPARK_REMOTE set (pyspark's variable, sc://host:port): a Spark Connect session on that
       server; the server brings Delta's extension and catalog, nothing is configured here;
    3. on Databricks, or under spark-submit: builder.getOrCreate(), which takes the runtime's or
       spark-submit's configuration (master, --packages, --conf) and adds nothing to it, so the
       Delta extension and catalog must come from there (see jobs/metadata_extraction.py);
    4. otherwise a local[*] session with Delta's extension and catalog, UI off, warehouse under
       settings.warehouse_dir. Delta jars come from Maven Central on first use
       (spark.jars.packages) and are cached in ~/.ivy2* for later, offline runs."""
    from pyspark.sql import SparkSession

    active = active_session()
    if active is not None:
        logger.debug("reusing the running Spark %s session", active.version)
        return active
    url = connect_url(env)
    if url is not None:
        return connect_session(url)
    if on_databricks(env) or launched_by_spark_submit(env):
        return SparkSession.builder.getOrCreate()

    from delta import configure_spark_with_delta_pip

    from executor.settings import FileModeSettings

    umask = FileModeSettings.from_env(env).mask  # before the JVM and the warehouse folder exist: this user's
    os.umask(umask)  # files only (the tables hold sample values); Hadoop chmods its files itself, hence the conf
    os.makedirs(settings.warehouse_dir, exist_ok=True)
    level = jvm_log_level(env)
    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName(app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.warehouse.dir", os.path.abspath(settings.warehouse_dir))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.extraJavaOptions",
                "-Dderby.system.home=" + os.path.abspath(settings.warehouse_dir) + " " + jvm_java_options(level))
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.hadoop.fs.permissions.umask-mode", f"{umask:03o}")
    )
    extra = [p.strip() for p in (settings.spark_packages or "").split(",") if p.strip()]
    with _JvmOutput(verbose=level in ("ALL", "TRACE", "DEBUG", "INFO")).redirect():
        spark = configure_spark_with_delta_pip(builder, extra_packages=extra).getOrCreate()
    spark.sparkContext.setLogLevel(level)  # connect-safe: the local classic session this function just built
    logger.debug("local Spark %s started (warehouse %s)", spark.version, settings.warehouse_dir)
    return spark
