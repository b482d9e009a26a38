"""Shared fixtures. Unit tests (tests/unit) need no JVM; integration tests get one local Spark +
Delta session per test session (UI off, few shuffle partitions), with its own warehouse."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "lake"


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


@pytest.fixture(scope="session")
def spark(settings):
    from executor.spark_session import build_spark_session

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = build_spark_session(settings, app_name="nuvyn-tests")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


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
