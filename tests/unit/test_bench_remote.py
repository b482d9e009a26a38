"""bench --remote's choice of the run it shows when a part runs several times (--repeat)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.remote import _targets, median_run  # noqa: E402


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
