"""bench --remote's figures: the run it shows when a part runs several times (--repeat), the lower
bounds of a run's time, the targets' ratios."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.remote import REPO, _summary, _targets, compile_executor, median_run  # noqa: E402


def _run(seconds: float, exact: bool = True, requests: int = 10) -> dict[str, object]:
    return {"seconds": seconds, "rows_exact": exact, "requests": requests}


def test_the_median_run_is_shown_with_every_runs_seconds():
    shown = median_run([_run(2.5, requests=1), _run(1.5, requests=2), _run(1.9, requests=3)])
    assert shown["seconds"] == 1.9 and shown["requests"] == 3  # that run's own figures
    assert shown["runs_seconds"] == [2.5, 1.5, 1.9]  # in the order run


def test_an_even_number_of_runs_shows_the_lower_middle_one():
    assert median_run([_run(4.0), _run(1.0), _run(3.0), _run(2.0)])["seconds"] == 2.0
    assert median_run([_run(7.0)])["seconds"] == 7.0


def test_a_run_with_wrong_rows_is_shown_whatever_its_time():
    shown = median_run([_run(1.0), _run(9.0, exact=False), _run(2.0)])
    assert shown["seconds"] == 9.0 and shown["rows_exact"] is False


def test_the_scale_part_is_shown_beside_the_servers_own_growth_and_the_anchors():
    parquet = {"seconds": 6.0, "files": 2000, "connections": 32, "peak_rss_mb": 200.0, "azurite_cpu_seconds": 5.0,
               "anchor": {"seconds": 6.5}}
    scale = {"seconds": 66.0, "files": 20000, "peak_rss_mb": 260.0, "azurite_cpu_seconds": 55.0,
             "anchor": {"seconds": 65.0}}
    t = _targets({"parquet": parquet, "scale": scale})
    assert (t["scale_time_ratio"], t["scale_rss_ratio"]) == (11.0, 1.3)
    assert (t["scale_azurite_cpu_ratio"], t["scale_anchor_time_ratio"]) == (11.0, 10.0)
    assert "scale_azurite_cpu_ratio" not in _targets({"parquet": {**parquet, "azurite_cpu_seconds": 0.0},
                                                      "scale": scale})


def test_a_run_shows_its_link_limit_and_the_cpu_floor_of_the_machine():
    worker = {"seconds": 1.3, "peak_rss_mb": 300.0, "cpu_seconds": 1.5, "server_cpu_seconds": 0.7,
              "azurite_cpu_seconds": 0.5,
              "proxy": {"requests": 201, "kinds": {}, "connections": 32, "peak_open": 32, "mb_down": 126.0}}
    run = _summary("csv", worker, 200, 20.0, 32, cpus=2)
    assert run["limit_seconds"] == 0.13  # 201 round trips of 20 ms over 32 threads
    assert run["cpu_floor_seconds"] == 1.1  # (1.5 + 0.7) CPU seconds over 2 cores
    assert _summary("csv", worker, 200, 20.0, 32, cpus=4)["cpu_floor_seconds"] == 0.55


def test_the_csv_target_is_shown_beside_the_same_ratio_at_its_cpu_floor():
    parquet = {"seconds": 5.0, "files": 2000, "connections": 32, "peak_rss_mb": 170.0}
    csv = {"seconds": 1.3, "files": 200, "cpu_floor_seconds": 1.1}
    t = _targets({"parquet": parquet, "csv": csv})
    assert t["csv_per_file_over_parquet_per_file"] == 2.6  # 6.5 ms a CSV file over 2.5 ms a Parquet file
    assert t["csv_cpu_floor_per_file_over_parquet_per_file"] == 2.2  # 5.5 ms: out of reach on this machine
    assert "csv_cpu_floor_per_file_over_parquet_per_file" not in _targets(
        {"parquet": parquet, "csv": {**csv, "cpu_floor_seconds": 0.0}})


def test_the_executor_is_byte_compiled_before_the_runs_as_an_installed_wheel_is():
    import importlib.util

    module = REPO / "executor" / "metadata" / "readers" / "parquet.py"
    compiled = Path(importlib.util.cache_from_source(str(module)))
    compiled.unlink(missing_ok=True)
    assert compile_executor()
    assert compiled.exists()  # what a sandbox worker loads instead of compiling the module again
