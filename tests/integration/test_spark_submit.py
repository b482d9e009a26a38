"""jobs/metadata_extraction.py under a real spark-submit (this lane's own), the way a cluster or an
on-premises Spark runs it: Delta from --packages/--conf, the payload from NUVYN_JOB_PAYLOAD, the
executor package taken from the repository on disk (the script puts it on sys.path), and the
session spark-submit configured reused as it is. The rows are then read back from the Delta
tables' paths with the test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from executor import __version__

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "jobs" / "metadata_extraction.py"


def delta_package() -> str:
    """The Maven coordinate of the Delta build that matches this lane's delta-spark wheel."""
    spark_major = int(metadata.version("pyspark").split(".")[0])
    scala = "2.13" if spark_major >= 4 else "2.12"
    return f"io.delta:delta-spark_{scala}:{metadata.version('delta-spark')}"


def clean_env(warehouse: Path, payload: dict) -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYSPARK_", "SPARK_", "NUVYN_", "PYTEST_")) and k != "PYTHONPATH"}
    env.update({
        "PATH": bindir + os.pathsep + env.get("PATH", ""),  # spark-submit finds SPARK_HOME with this python
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "NUVYN_JOB_PAYLOAD": json.dumps(payload),
        "NUVYN_WAREHOUSE_DIR": str(warehouse),
        "NUVYN_IO_THREADS": "2",
    })
    return env


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    spark_submit = Path(sys.executable).parent / "spark-submit"
    if not spark_submit.exists():
        pytest.skip(f"no spark-submit next to {sys.executable}")
    work = tmp_path_factory.mktemp("submit")
    warehouse = work / "warehouse"
    payload = {"workflow_id": "wf_submit", "source_id": "src_submit"}
    cmd = [
        str(spark_submit), "--master", "local[2]",
        "--packages", delta_package(),
        "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
        "--conf", "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "--conf", "spark.sql.session.timeZone=UTC",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=2",
        "--conf", f"spark.sql.warehouse.dir={warehouse}",
        "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={work}",
        str(SCRIPT), "metadata_extraction", str(REPO / "samples" / "lake"), "csv", "default", "--write-to-db",
    ]
    # cwd is not the repository: `executor` must come from the script's own sys.path entry.
    out = subprocess.run(cmd, cwd=work, env=clean_env(warehouse, payload), capture_output=True, text=True,
                         timeout=900, check=False)
    assert out.returncode == 0, f"spark-submit failed ({out.returncode}):\n{out.stdout[-4000:]}\n{out.stderr[-6000:]}"
    # the report, then (spark-submit merges the Python driver's stderr into stdout) the tables' line
    report, end = json.JSONDecoder().raw_decode(out.stdout, out.stdout.index("{"))
    assert out.stdout[end:].strip().splitlines()[-1].startswith("metadata tables: "), out.stdout[end:]
    return {"report": report, "warehouse": warehouse, "payload": payload, "work": work}


def test_spark_submit_runs_the_job(submitted):
    report = submitted["report"]
    assert report["status"] == "succeeded", report
    assert report["workflow_id"] == "wf_submit" and report["source_id"] == "src_submit"
    assert report["summary"]["tables"] >= 3 and report["summary"]["tables_failed"] == 0


def test_rows_are_in_the_delta_tables(submitted, spark):
    base = submitted["warehouse"] / "_executor_metadata.db"
    run_id = submitted["report"]["run_id"]

    def rows(table):
        df = spark.read.format("delta").load(str(base / table))
        return [r.asDict() for r in df.filter(df.run_id == run_id).collect()]

    runs = rows("executor_runs")
    assert sorted(r["status"] for r in runs) == ["running", "succeeded"]
    assert {r["executor_version"] for r in runs} == {__version__}
    assert {r["run_mode"] for r in runs} == {"local"}
    (source,) = rows("sources")
    assert source["workflow_id"] == "wf_submit" and source["source_id"] == "src_submit"
    tables = rows("tables")
    assert tables and {t["file_type"] for t in tables} <= {"csv"}  # data_source_type csv: CSV files only
    assert all(t["row_count"] is not None and t["row_count"] > 0 for t in tables)
    by_name = {t["table_name"]: t for t in tables}
    assert "customers" in " ".join(by_name)
    columns = rows("columns")
    assert {c["table_name"] for c in columns} == set(by_name)
    assert all(c["workflow_id"] == "wf_submit" for c in columns)

