"""`python -m bench --cli --api` runs end to end on a small demo warehouse (written with delta-rs, so no
JVM here) and reports every figure; no timing is asserted (the numbers live in bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from executor.storage import schema as S
from tests import metadata_tables as M  # noqa: E402


def test_bench_cli_and_api_report_every_figure(tmp_path):
    loc = str(tmp_path / "demo-warehouse" / "_executor_metadata.db")
    M.write(loc, S.EXECUTOR_RUNS, M.run_events("run_demo", "demo_workflow", "demo_source", "succeeded", 0, rid=1))
    for name, rows in M.data_rows("run_demo", "demo_workflow", "demo_source", M.BASE_TABLES, 0).items():
        M.write(loc, name, rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUVYN_")}
    env["PYTHONPATH"] = str(REPO)
    p = subprocess.run([sys.executable, "-m", "bench", "--cli", "--api", "--json", "--cache-dir", str(tmp_path),
                        "--repeat", "1", "--requests", "20", "--concurrency", "4", "--load", "5",
                        "--skip-missing-path"], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert out["demo_setup_seconds"] is None  # the warehouse existed: no Spark run
    assert out["cli"]["query_json"]["tables"] == 2 and out["cli"]["query_json"]["seconds_median"] > 0
    assert out["api"]["metadata"]["status_codes"] == [200] and out["api"]["metadata"]["requests"] == 20
    assert out["api"]["health_under_load"]["metadata_status_codes"] == [200]
    assert out["api"]["server"] == {**out["api"]["server"], "child_processes": 0, "jvm_in_process": False}
    assert set(out["bars"]) == {"query_under_3s", "metadata_p50_under_0.5s", "health_p99_under_0.2s"}
