"""Table output: long values (sample_values) end with an ellipsis, timestamps carry their zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from executor.ops.commands import render_metadata
from executor.ops.render import ELLIPSIS, cell, format_timestamp, text_table


def test_long_values_are_cut_with_an_ellipsis():
    assert cell("x" * 100, 10) == "x" * 9 + ELLIPSIS
    assert cell("short", 10) == "short"
    assert cell(["alpha", None, "beta"], 60) == "alpha, , beta"
    assert cell("a\nb", 10) == "a b"


def test_timestamps_are_shown_in_utc_with_the_zone():
    aware = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(aware) == "2026-01-02 01:04:05 UTC"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=timezone.utc)) == "2026-01-02 03:04:05.25 UTC"
    naive = datetime(2026, 1, 2, 3, 4, 5)  # pyspark's TIMESTAMP: the local zone's wall time
    assert format_timestamp(naive) == format_timestamp(naive.astimezone())
    assert cell(aware).endswith(" UTC")


def test_metadata_table_output_cuts_samples_and_shows_zones():
    started = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
    result = {
        "runs": [{"run_id": "r1", "workflow_id": "wf", "source_id": "s", "status": "succeeded",
                  "started_at": started, "finished_at": started + timedelta(seconds=3), "summary": None}],
        "tables": [{"table_name": "t", "file_type": "csv", "row_count": 3, "column_count": 1, "size_bytes": 10,
                    "status": "ok", "error_message": None}],
        "columns": [{"table_name": "t", "position": 0, "column_name": "c", "data_type": "string",
                     "is_nullable": True, "sample_values": ["v" * 50, "w" * 50]}],
        "sources": [],
    }
    text = render_metadata(result)
    assert "2026-11-27 10:00:00 UTC" in text and "2026-11-27 10:00:03 UTC" in text
    sample_line = next(line for line in text.splitlines() if line.startswith("0 "))
    assert sample_line.rstrip().endswith(ELLIPSIS) and "v" * 50 + ", " + "w" * 7 + ELLIPSIS in sample_line
    assert len(sample_line.split("string")[1].split("True")[1].strip()) == 60


def test_text_table_still_aligns():
    out = text_table([{"a": 1, "b": "xy"}, {"a": 22, "b": None}], ["a", "b"])
    assert out.splitlines() == ["a   b", "--  --", "1   xy", "22"]
