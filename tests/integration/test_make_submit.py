"""`make submit` (the job under spark-submit) prints its result and little else: at most 50 other
lines (no log4j INFO, no Ivy resolution report), and ends with the line naming the catalog, schema
and location of the four tables. One spark-submit run (slow: a JVM plus Ivy's offline resolve)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_OTHER_LINES = 50
WAIT_SECONDS = 1800  # a JVM start, Ivy and the Delta writes on a busy 2-core machine: generous


def test_make_submit_prints_the_result_and_the_tables_line(tmp_path):
    if int(metadata.version("pyspark").split(".")[0]) >= 4:
        pytest.skip("`make submit` runs lane A's Spark 3.5 with delta-spark_2.12 (this is lane B)")
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = Path(sys.executable).parent.parent
    warehouse = tmp_path / "warehouse"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYSPARK_", "SPARK_", "NUVYN_", "PYTEST_")) and k != "PYTHONPATH"}
    env.update({"NUVYN_WAREHOUSE_DIR": str(warehouse), "NUVYN_IO_THREADS": "2"})
    try:
        # -o setup: the venv running this test is the one to use (no bootstrap, no reinstall)
        proc = subprocess.run(["make", "--no-print-directory", "-o", "setup", "submit", f"VENV={venv}"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=WAIT_SECONDS)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"waited {WAIT_SECONDS}s for `make submit` (spark-submit of the sample lake) to finish; "
                    f"output so far:\n{(exc.stdout or '')[-3000:]}")
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    start = out.index("\n{") + 1
    report, end = json.JSONDecoder().raw_decode(out, start)
    assert report["status"] == "succeeded" and report["workflow_id"] == "demo_workflow", report
    others = [line for line in (out[:start] + out[end:]).splitlines() if line.strip()]
    assert len(others) <= MAX_OTHER_LINES, f"{len(others)} lines besides the result:\n" + "\n".join(others)
    assert not [line for line in others if " INFO " in line and "executor." not in line], "\n".join(others)
    assert not [line for line in others if ":: resolution report ::" in line or "loading settings" in line]
    location = warehouse / "_executor_metadata.db"
    assert others[-1] == (f"metadata tables: spark_catalog._executor_metadata."
                          f"{{sources,tables,columns,executor_runs}} at {location}"), others[-1]
    assert (location / "executor_runs" / "_delta_log").is_dir()
