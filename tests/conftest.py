"""Shared fixtures. Unit tests (tests/unit) need no JVM; integration tests get one local Spark +
Delta session per test session (UI off, few shuffle partitions), with its own warehouse: every
in-process test uses it (`spark`, `context`); only tests about processes (crash, concurrency,
spark-submit, a real server, the next process) start their own.

Stopping: Ctrl-C and SIGTERM both end the run through KeyboardInterrupt, so pytest runs every
fixture's teardown (Azurite, API servers, the Spark session); children also die with this process
(tests/servers.py)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "lake"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `tests.azurite`, `tests.servers` importable

_previous_sigterm = None


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    """SIGTERM ends the run like Ctrl-C (teardowns run) instead of killing it on the spot."""
    global _previous_sigterm
    _previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)


def pytest_unconfigure(config):
    if _previous_sigterm is not None:
        signal.signal(signal.SIGTERM, _previous_sigterm)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/integration" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="session")
def settings(warehouse):
    from executor.settings import Settings

    return Settings(warehouse_dir=str(warehouse), spark_master="local[2]", io_threads=4)


SPARK_XML_PACKAGE = "com.databricks:spark-xml_2.12:0.18.0"


def spark_test_packages(packages: str | None) -> str:
    """The packages the test session's Spark starts with: spark-avro added (Spark's Avro reader is
    built into Databricks, not into pyspark; integration tests compare Avro files with it), and on
    Spark 3.5 spark-xml (the XML reader Databricks Runtime 15.4/16.4 build in; Spark 4 has its own).
    Fetched from Maven Central like the Delta jars on first use, then cached in ~/.ivy2."""
    import pyspark

    scala = "2.12" if pyspark.__version__.startswith("3.") else "2.13"
    avro = f"org.apache.spark:spark-avro_{scala}:{pyspark.__version__}"
    listed = [p for p in (packages or "").split(",") if p]
    if not any("spark-avro" in p for p in listed):
        listed.append(avro)
    if scala == "2.12" and not any("spark-xml" in p for p in listed):
        listed.append(SPARK_XML_PACKAGE)
    return ",".join(listed)


def spark_test_env(environ) -> dict:
    """The environment of a test's child job: NUVYN_SPARK_PACKAGES with spark-avro (spark_test_packages)."""
    return {**environ, "NUVYN_SPARK_PACKAGES": spark_test_packages(environ.get("NUVYN_SPARK_PACKAGES"))}


@pytest.fixture(scope="session")
def spark(settings):
    from executor.spark_session import build_spark_session

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from dataclasses import replace

    with_avro = replace(settings, spark_packages=spark_test_packages(settings.spark_packages))
    session = build_spark_session(with_avro, spark_test_env(os.environ), app_name="nuvyn-tests")
    # pyspark's SIGINT handler first asks the JVM to cancel every job (a py4j call that can wait
    # behind a busy gateway): Ctrl-C raises KeyboardInterrupt at once instead; teardown stops Spark.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _drop_delta_logs(request):
    """After a test on the shared Spark session, Delta's cache of table logs is emptied. Delta keeps
    each table's DeltaLog and its snapshot (~5 MB of heap on delta-spark 3.3, with the plans and
    encoders of its state) for an hour, up to 10,000 tables: a suite that makes hundreds of tables
    in one driver filled the default 1 GiB heap (OutOfMemoryError in a late test; measured: 160
    small tables held 1.0 GB live, 0.16 GB once the cache was emptied). A job touches its four
    metadata tables (the Delta sources are read by the executor's own log reader, not by Spark's),
    so this is the test session's own concern."""
    yield
    if "spark" in request.fixturenames:
        spark = request.getfixturevalue("spark")
        spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # classic session: py4j is there


@pytest.fixture()
def api_servers():
    """start(env, log) -> a running `nuvyn-executor serve` (tests/servers.py); all stopped at teardown."""
    from tests.servers import api_servers as servers

    yield from servers()


@pytest.fixture()
def sample_lake(tmp_path) -> Path:
    """A private copy of the bundled sample lake."""
    dst = tmp_path / "lake"
    shutil.copytree(SAMPLES, dst)
    return dst


@pytest.fixture()
def context(spark, settings):
    """An ExecutorContext on the shared session; each test gets its own metadata schema."""
    import uuid
    from dataclasses import replace

    from executor.context import ExecutorContext

    s = replace(settings, schema=f"meta_{uuid.uuid4().hex[:10]}")
    return ExecutorContext(settings=s, env={}, spark=spark)
