"""A real Spark Connect server with Delta, for the Connect lane (tests/integration/test_connect.py).

The server is this interpreter's pyspark started through its own `spark-submit` with the class
org.apache.spark.sql.connect.service.SparkConnectServer, on 127.0.0.1 and a free port:
- Spark 3.5 (lane A): org.apache.spark:spark-connect_2.12:<pyspark version> and
  io.delta:delta-spark_2.12:<delta-spark version> from Maven Central;
- Spark 4.0 (lane B): pyspark ships the connect server in its jars; io.delta:delta-spark_2.13.
Jars are cached by Ivy after the first start (~/.ivy2 or ~/.ivy2.5.2), like the local sessions'.
Delta's Python API over Connect would need Delta 4's delta-connect-server plugin; the executor uses
none of it (executor/spark_connect.py), so the server has none either.

The server's warehouse is the clients' NUVYN_WAREHOUSE_DIR: the metadata tables of a schema S are at
<warehouse>/S.db, where a classic session (or delta-rs) reads them back. The process dies with the
test run (tests/servers.py: die_with_parent) and is stopped by the fixture's teardown.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

from tests.servers import die_with_parent, free_port, stop_process, wait_budget

CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _scala(jars: Path) -> str:
    core = next(jars.glob("spark-core_2.*.jar"))
    return core.name.split("_", 1)[1].split("-", 1)[0]  # spark-core_2.12-3.5.7.jar -> 2.12


def server_packages() -> list[str]:
    """The Maven coordinates this lane's server needs beside pyspark's own jars."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    scala = _scala(jars)
    packages = [f"io.delta:delta-spark_{scala}:{version('delta-spark')}"]
    if not any(jars.glob("spark-connect_*.jar")):  # pyspark 3.5 does not ship the server
        packages.insert(0, f"org.apache.spark:spark-connect_{scala}:{pyspark.__version__}")
    return packages


class ConnectServer:
    """One Spark Connect server (local[2]) with Delta's extension and catalog."""

    def __init__(self, warehouse: Path, log: Path) -> None:
        self.warehouse, self.log = warehouse, log
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        import pyspark

        from executor.logging_setup import jvm_java_options

        home = Path(pyspark.__file__).parent
        conf = {
            "spark.connect.grpc.binding.port": str(self.port),
            "spark.connect.grpc.binding.address": "127.0.0.1",  # Spark 4; Spark 3.5 binds every interface
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            "spark.sql.warehouse.dir": str(self.warehouse),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.warehouse} {jvm_java_options('ERROR')}",
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            # a local relation is split into min(rows, this) partitions: more than 2, as on a cluster, where
            # Spark's CSV inference merges partitions differently from one fold (test_connect.py)
            "spark.default.parallelism": "4",
            "spark.sql.session.timeZone": "UTC",
            "spark.databricks.delta.snapshotPartitions": "2",
        }
        cmd = [str(home / "bin" / "spark-submit"), "--master", "local[2]", "--class", CONNECT_SERVER_CLASS,
               "--name", "nuvyn-connect-tests", "--packages", ",".join(server_packages())]
        for key, value in conf.items():
            cmd += ["--conf", f"{key}={value}"]
        return cmd

    def start(self) -> ConnectServer:
        import pyspark

        self.warehouse.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent), "SPARK_LOCAL_IP": "127.0.0.1"}
        env.pop("SPARK_REMOTE", None)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.command(), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        limit = wait_budget(600)  # the first start fetches the jars from Maven Central
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the Spark Connect server exited ({self.proc.returncode}):\n" + self.tail())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise AssertionError(f"waited {limit:.0f}s for the Spark Connect server on port {self.port}:\n" + self.tail())

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def connect_server(root: Path) -> Iterator[ConnectServer]:
    """Generator for a fixture: a started server whose warehouse and log are under `root`."""
    server = ConnectServer(root / "warehouse", root / "connect-server.log")
    try:
        yield server.start()
    finally:
        server.stop()

