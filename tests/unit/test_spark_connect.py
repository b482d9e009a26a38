"""Spark Connect without a server: SPARK_REMOTE, telling a Connect session apart, job counts, error
classes as pyspark's Connect client raises them (the real server: tests/integration/test_connect.py)."""

from __future__ import annotations

import socket
import sys
import time
import types

import pytest
from pyspark.errors.exceptions.connect import AnalysisException as ConnectAnalysisException
from pyspark.errors.exceptions.connect import SparkConnectGrpcException

from executor.context import ExecutorContext
from executor.errors import SettingsError
from executor.settings import Settings
from executor.spark_connect import active_session, is_connect
from executor.spark_jobs import job_group
from executor.spark_session import _connect_address, build_spark_session, connect_session
from executor.storage.retry import DeltaRaces, error_class


def connect_like(cls: type) -> type:
    """A stand-in whose class lives where pyspark's Connect session does."""
    cls.__module__ = "pyspark.sql.connect.session"
    return cls


@connect_like
class FakeConnectSession:
    version = "3.5.7"

    def __init__(self) -> None:
        self.tags: list[tuple[str, str]] = []

    @property
    def sparkContext(self):
        raise AssertionError("a Connect session's sparkContext must never be reached")

    def addTag(self, tag: str) -> None:
        self.tags.append(("add", tag))

    def removeTag(self, tag: str) -> None:
        self.tags.append(("remove", tag))


def test_a_connect_session_is_told_by_its_class():
    assert is_connect(FakeConnectSession())
    assert not is_connect(object())


def test_on_connect_the_job_count_is_unknown_and_the_run_is_tagged():
    spark = FakeConnectSession()
    with job_group(spark, "nuvyn-run,1", "work") as jobs:
        assert jobs.count == -1
        assert spark.tags == [("add", "nuvyn-run_1")]  # Connect refuses commas in tags
    assert spark.tags == [("add", "nuvyn-run_1"), ("remove", "nuvyn-run_1")]


@pytest.mark.parametrize(("url", "address"), [
    ("sc://127.0.0.1:15099", ("127.0.0.1", 15099)),
    ("sc://spark.example.internal", ("spark.example.internal", 15002)),
    ("sc://[::1]:4000/;token=abc;use_ssl=true", ("::1", 4000)),
    ("sc://host:443/;user_id=me", ("host", 443)),
])
def test_spark_remote_address(url, address):
    assert _connect_address(url) == address


@pytest.mark.parametrize("url", ["local", "local[2]", "http://host:1", "sc://:15002", "sc://host:port/;token=s3cr3t"])
def test_a_spark_remote_that_is_no_connect_url_fails_naming_the_variable(url):
    with pytest.raises(SettingsError, match="SPARK_REMOTE") as err:
        _connect_address(url)
    assert "s3cr3t" not in str(err.value)


def test_an_unreachable_connect_server_fails_at_once_without_the_token():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(SettingsError, match=f"SPARK_REMOTE \\(127.0.0.1:{port}\\)") as err:
        connect_session(f"sc://127.0.0.1:{port}/;token=s3cr3t", reach_timeout_s=5)
    assert time.monotonic() - t0 < 5  # a refused connection answers at once (pyspark would retry for minutes)
    assert "s3cr3t" not in str(err.value)


def test_build_spark_session_takes_spark_remote_from_the_env_it_is_given(monkeypatch, tmp_path):
    built = []
    monkeypatch.setattr("executor.spark_session.active_session", lambda: None)
    monkeypatch.setattr("executor.spark_session.connect_session", lambda url: built.append(url) or "connect")
    session = build_spark_session(Settings(warehouse_dir=str(tmp_path)), {"SPARK_REMOTE": "sc://127.0.0.1:1"})
    assert session == "connect" and built == ["sc://127.0.0.1:1"]


def test_an_active_connect_session_is_found_and_reused(monkeypatch, tmp_path):
    session = FakeConnectSession()
    fake = types.ModuleType("pyspark.sql.connect.session")
    fake.SparkSession = types.SimpleNamespace(active=lambda: session)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyspark.sql.connect.session", fake)
    assert active_session() is session
    assert build_spark_session(Settings(warehouse_dir=str(tmp_path)), {}) is session
    ctx = ExecutorContext(settings=Settings(warehouse_dir=str(tmp_path)), env={})
    assert ctx.spark_running and ctx.spark is session


def test_spark_remote_means_no_local_jvm_is_started(tmp_path):
    ctx = ExecutorContext(settings=Settings(warehouse_dir=str(tmp_path)), env={"SPARK_REMOTE": "sc://127.0.0.1:1"})
    assert ctx.spark_running and "spark" not in ctx.__dict__  # told without connecting


# pyspark 3.5's Connect client raises these with the server's message only (no error class).
@pytest.mark.parametrize(("exc", "name"), [
    (ConnectAnalysisException("[TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create table or view `m`.`t` because it "
                              "already exists."), "TABLE_OR_VIEW_ALREADY_EXISTS"),
    (SparkConnectGrpcException("[DELTA_CONCURRENT_APPEND] ConcurrentAppendException: Files were added",
                               reason="io.delta.exceptions.ConcurrentAppendException"), "DELTA_CONCURRENT_APPEND"),
    (ConnectAnalysisException("[DELTA_CONCURRENT_APPEND.WITH_PARTITION_HINT] Files were added to partition"),
     "DELTA_CONCURRENT_APPEND.WITH_PARTITION_HINT"),
    (ConnectAnalysisException("Table exists [TABLE_OR_VIEW_ALREADY_EXISTS] later in the text"), None),
    (SparkConnectGrpcException("failed to connect to all addresses"), None),
])
def test_error_classes_of_connect_errors(exc, name):
    assert error_class(exc) == name
    assert DeltaRaces()(exc) is (name is not None)



def test_the_token_of_spark_remote_is_a_secret():
    from executor.redaction import SECRETS

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SettingsError):
        connect_session(f"sc://127.0.0.1:{port}/;user_id=me;token=tok-s3cr3t-value", reach_timeout_s=5)
    assert "tok-s3cr3t-value" not in SECRETS.redact("the server said: tok-s3cr3t-value was refused")
