"""Progress: throttled log lines with an injected clock, the extractor's callback hook, summaries."""

from __future__ import annotations

from executor.metadata.model import TableFacts
from executor.ops.progress import LogProgress, human_bytes, human_seconds, progress_line, time_left


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def totals(done: int, total: int = 10, rows: int = 0) -> dict[str, int]:
    return {"tables_done": done, "tables_total": total, "files_done": done * 2, "files_total": total * 2,
            "bytes_done": done * 1024, "bytes_total": total * 1024, "rows": rows}


def test_log_lines_at_most_every_interval():
    clock, lines = Clock(), []
    p = LogProgress(interval=5, clock=clock, log=lines.append)
    p(None, totals(0))
    for i in range(1, 11):
        clock.now += 1.5  # a table every 1.5 s
        p(object(), totals(i, rows=i * 100))
    # t = 1.5 .. 15: lines when >= 5 s since the last one: at 6.0, 12.0
    assert len(lines) == 2
    assert lines[0].startswith("progress: 4/10 tables, 8/20 files, 4.0 KB/10.0 KB, 400 rows, elapsed 6s")
    assert "~9s left" in lines[0]  # 6 s for 4 of 10 KB -> 9 s for the other 6


def test_short_run_is_quiet():
    clock, lines = Clock(), []
    p = LogProgress(interval=5, clock=clock, log=lines.append)
    for i in range(1, 4):
        clock.now += 1
        p(None, totals(i, 3))
    assert lines == []


def test_time_left_falls_back_to_tables_and_handles_nothing_done():
    assert time_left(totals(0), 10) is None
    t = {"tables_done": 1, "tables_total": 4, "bytes_done": 0, "bytes_total": 0}
    assert time_left(t, 10) == 30
    assert "~?" in progress_line(totals(0), 3)


def test_human_units():
    assert human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KB" and human_bytes(3 * 1024**3) == "3.0 GB"
    assert human_seconds(59) == "59s" and human_seconds(62) == "1m02s" and human_seconds(3720) == "1h02m"


def test_extractor_calls_progress_before_and_after_each_table(monkeypatch):
    """The hook in MetadataExtractor.extract_metadata, with per-table work replaced (no Spark)."""
    from pathlib import Path

    from executor.metadata.extractor import MetadataExtractor
    from executor.settings import Settings

    lake = Path(__file__).resolve().parents[2] / "samples" / "lake"
    ex = MetadataExtractor(spark=None, settings=Settings(io_threads=2))

    def fake_table(ctx, source, plan):
        return TableFacts(plan.name, "x", plan.file_format, len(plan.files), plan.size_bytes, row_count=10)

    monkeypatch.setattr(ex, "_extract_table", fake_table)
    calls = []
    result = ex.extract_metadata(str(lake), progress=lambda t, tot: calls.append((t, tot)))
    assert calls[0][0] is None and calls[0][1]["tables_done"] == 0 and calls[0][1]["tables_total"] == 7
    assert len(calls) == 8
    last = calls[-1][1]
    assert last == {"tables_done": 7, "tables_total": 7, "files_done": 14, "files_total": 14,
                    "bytes_done": result.total_size_bytes, "bytes_total": result.total_size_bytes, "rows": 70}

    def broken(t, tot):
        raise RuntimeError("display gone")

    assert len(ex.extract_metadata(str(lake), progress=broken).tables) == 7  # a broken display never fails a run


def test_render_summary_and_run_row():
    from executor.ops.summary import render_summary, run_row

    run = {"run_id": "run_1", "workflow_id": "wf", "source_id": "src", "status": "partial",
           "summary": '{"tables": 3, "tables_failed": 1, "failed": [{"table": "bad", "error": "bad.csv is empty"}],'
                      ' "rows": 12345, "files": 5, "files_skipped": 2, "bytes": 2048, "spark_jobs": 9,'
                      ' "seconds": 75.5}'}
    text = render_summary(run)
    assert "Run run_1: PARTIAL (workflow_id wf, source_id src)" in text
    assert "3 extracted, 2 ok, 1 failed" in text and "failed bad: bad.csv is empty" in text
    assert "12,345" in text and "2.0 KB" in text and "spark jobs:   9" in text and "1m16s" in text
    assert run_row(run)["rows"] == 12345 and run_row(run)["failed"] == 1
    assert "no summary recorded" in render_summary({"run_id": "r", "status": "running", "summary": None})
    assert "spark jobs:   unknown" in render_summary({"run_id": "r", "status": "failed",
                                                       "summary": {"spark_jobs": -1, "seconds": 1}})


def test_estimate_ignores_set_up_time_before_the_first_table():
    clock, lines = Clock(), []
    p = LogProgress(interval=5, clock=clock, log=lines.append)
    clock.now += 60  # Spark start-up, listing
    p(None, totals(0))  # logged: 60 s since the start
    clock.now += 10
    p(object(), totals(5))  # half done after 10 s of table work
    assert lines[1].startswith("progress: 5/10 tables") and "elapsed 1m10s, ~10s left" in lines[1]


def test_make_progress_modes_and_rich_bar(monkeypatch):
    from executor.ops import progress as P

    assert P.make_progress("off") is None
    assert isinstance(P.make_progress("log"), LogProgress)
    monkeypatch.setattr(P, "interactive", lambda stream=None: False)
    assert isinstance(P.make_progress("auto"), LogProgress)
    monkeypatch.setattr(P, "interactive", lambda stream=None: True)
    bar = P.make_progress("auto")
    assert isinstance(bar, P.RichProgress)
    with bar:
        bar(None, totals(0, 3))
        bar(object(), totals(3, 3, rows=42))
    task = bar.progress.tasks[0]
    assert (task.completed, task.total) == (3, 3) and "42 rows" in task.fields["detail"]
