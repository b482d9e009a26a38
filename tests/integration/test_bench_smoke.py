"""python -m bench --quick --json runs end to end and reports the documented shape (no timing
assertions: the machine is shared). Lane A only: the benchmark's figures are quoted on lane A, and
the facts it compares (counts, Spark jobs) are checked on lane B by the format and Spark tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.lane_a_only


def test_bench_quick_json(tmp_path):
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", "--cache-dir", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out["seconds"]) >= {"ours", "naive_spark", "duckdb", "ours_delta_write"}
    assert set(out["ratios"]) >= {"naive_spark_over_ours", "duckdb_over_ours", "big_csv_ours_over_duckdb"}
    assert set(out["spark_jobs"]) == {"ours", "naive_spark"}
    assert out["lake"]["tables"] == 9 and out["lake"]["files"] >= 20
    assert out["counts"]["agree"], out["counts"]
    assert out["counts"]["tables_failed"] == []
    # ours reads footers and runs the ported inference rules: no Spark job at all
    assert out["spark_jobs"]["naive_spark"] > out["spark_jobs"]["ours"] >= 0
    assert out["peak_rss_mb"] > 0


def test_bench_remote_quick_json(tmp_path):
    """python -m bench --remote --quick: Azurite and the latency proxy started by the bench, every
    part's rows exact in every run, ours and each anchor run --repeat times (the scale part once)."""
    proc = subprocess.run([sys.executable, "-m", "bench", "--remote", "--quick", "--json", "--repeat", "2",
                           "--cache-dir", str(tmp_path)],
                          cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out["parts"]) == {"parquet", "csv", "big_csv", "delta", "scale"}
    for name, part in out["parts"].items():
        assert part["rows_exact"], (name, part.get("mismatch"))
        runs = 1 if name == "scale" else 2
        assert len(part["runs_seconds"]) == runs and part["seconds"] in part["runs_seconds"], name
        assert len(part["anchor"]["runs_seconds"]) == runs, name
        assert part["requests"] > 0 and part["connections"] > 0, name
        assert part["cpu_floor_seconds"] > 0, name  # the machine's bound, shown per run
    assert set(out["targets"]) >= {"parquet_over_pyarrow", "csv_per_file_over_parquet_per_file",
                                   "big_csv_over_transfer", "delta_over_deltars", "scale_time_ratio",
                                   "scale_rss_ratio", "scale_azurite_cpu_ratio", "scale_anchor_time_ratio",
                                   "csv_cpu_floor_per_file_over_parquet_per_file"}
    assert all(out["parts"][name]["azurite_cpu_seconds"] > 0 for name in ("parquet", "scale"))


def test_the_bench_azurite_looks_each_blob_up_in_its_own_container_and_snapshot(tmp_path):
    """bench/azurite_lookup.js (preloaded into the benchmark's Azurite) reorders the emulator's lookup
    conditions: the same blob name in two containers, a snapshot and the blob it was taken of, a
    missing blob and a missing container still answer as the stock emulator does."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import BlobServiceClient

    sys.path.insert(0, str(REPO))
    from bench.remote import Servers

    with Servers(tmp_path / "azurite", 0) as servers:
        service = BlobServiceClient.from_connection_string(servers.connection_string(direct=True))
        for name in ("one", "two"):
            service.create_container(name)
            service.get_blob_client(name, "t/part-0.parquet").upload_blob(f"{name} v1".encode())
        blob = service.get_blob_client("one", "t/part-0.parquet")
        snapshot = blob.create_snapshot()["snapshot"]
        blob.upload_blob(b"one v2", overwrite=True)
        got = [service.get_blob_client(c, "t/part-0.parquet").download_blob().readall() for c in ("one", "two")]
        assert got == [b"one v2", b"two v1"]
        old = service.get_blob_client("one", "t/part-0.parquet", snapshot=snapshot).download_blob().readall()
        assert old == b"one v1"
        assert service.get_container_client("two").get_container_properties().name == "two"
        with pytest.raises(ResourceNotFoundError):
            service.get_blob_client("one", "t/missing.parquet").download_blob()
        with pytest.raises(ResourceNotFoundError):
            service.get_blob_client("three", "t/part-0.parquet").download_blob()
    assert "looked up by name first" in (tmp_path / "azurite" / "azurite.log").read_text()


def test_the_bench_refuses_an_azurite_started_without_its_lookup(tmp_path, monkeypatch):
    """Figures are never the stock emulator's unsaid: an Azurite that did not load the preload (here a
    script that says nothing) stops the bench, naming --azurite-stock."""
    sys.path.insert(0, str(REPO))
    from bench import remote

    silent = tmp_path / "silent.js"
    silent.write_text("// loads, says nothing\n")
    monkeypatch.setattr(remote, "AZURITE_LOOKUP", silent)
    with pytest.raises(RuntimeError, match=r"started without silent\.js .*--azurite-stock"):
        with remote.Servers(tmp_path / "azurite", 0):
            pass
    with remote.Servers(tmp_path / "azurite", 0, stock=True) as servers:  # as shipped, when asked
        assert servers.azurite_port
