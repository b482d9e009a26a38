"""Progress of a long extraction: a throttled log line, or a rich progress bar on a terminal.

Both are callables matching executor.metadata.extractor.ProgressCallback: progress(table, totals),
called once before the first table (table=None) and after each table. `totals` holds tables_done,
tables_total, files_done, files_total, bytes_done, bytes_total and rows.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import TaskID

logger = logging.getLogger("executor.progress")

DEFAULT_INTERVAL = 5.0


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"  # pragma: no cover


def human_seconds(s: float | None) -> str:
    if s is None:
        return "?"
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def time_left(totals: dict[str, int], elapsed: float) -> float | None:
    """A rough estimate: `elapsed` (time spent on tables so far) scaled by the share still to do,
    the share being the mean of the tables' and the bytes' fractions (small tables cost a Spark job
    each, big ones cost their bytes)."""
    fractions = [totals.get(d, 0) / totals[t] for d, t in (("tables_done", "tables_total"), ("bytes_done", "bytes_total"))
                 if totals.get(t)]
    if not fractions:
        return None
    frac = sum(fractions) / len(fractions)
    if frac <= 0:
        return None
    return max(0.0, elapsed * (1 - frac) / frac)


def progress_line(totals: dict[str, int], elapsed: float, working: float | None = None) -> str:
    """`elapsed`: since the run started; `working`: since the first table started (for the estimate)."""
    t = totals
    return (f"progress: {t.get('tables_done', 0)}/{t.get('tables_total', 0)} tables, "
            f"{t.get('files_done', 0)}/{t.get('files_total', 0)} files, "
            f"{human_bytes(t.get('bytes_done', 0))}/{human_bytes(t.get('bytes_total', 0))}, "
            f"{t.get('rows', 0):,} rows, elapsed {human_seconds(elapsed)}, "
            f"~{human_seconds(time_left(t, elapsed if working is None else working))} left")


class LogProgress:
    """Logs a progress line at most every `interval` seconds (never before `interval` has passed,
    so short runs stay quiet). `clock` is injectable for tests."""

    def __init__(self, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic,
                 log: Callable[[str], Any] | None = None) -> None:
        self.interval = interval
        self.clock = clock
        self.log = log or (lambda line: logger.info("%s", line))
        self.start = clock()
        self.last = self.start
        self.first: float | None = None  # when the first table started (listing and set-up excluded)
        self.lines = 0

    def __call__(self, table: Any, totals: dict[str, int]) -> None:
        now = self.clock()
        if self.first is None:
            self.first = now
        if now - self.last < self.interval:
            return
        self.last = now
        self.lines += 1
        self.log(progress_line(totals, now - self.start, now - self.first))

    def close(self) -> None:
        pass

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class RichProgress:
    """A progress bar on stderr (tables done / total, bytes, rows, elapsed, time left).

    Log lines written meanwhile are printed above the bar (rich redirects stderr while it runs)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]tables"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False, redirect_stderr=True, redirect_stdout=False,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.progress.stop()

    def __call__(self, table: Any, totals: dict[str, int]) -> None:
        detail = (f"{totals.get('files_done', 0)}/{totals.get('files_total', 0)} files  "
                  f"{human_bytes(totals.get('bytes_done'))}/{human_bytes(totals.get('bytes_total'))}  "
                  f"{totals.get('rows', 0):,} rows")
        if self.task is None:
            self.task = self.progress.add_task("extract", total=totals.get("tables_total") or None, detail=detail)
        self.progress.update(self.task, completed=totals.get("tables_done", 0), detail=detail)


def interactive(stream: Any = None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def make_progress(mode: str = "auto", interval: float = DEFAULT_INTERVAL) -> LogProgress | RichProgress | None:
    """'bar' (rich), 'log' (throttled log lines), 'off', or 'auto': a bar on a terminal, else log lines."""
    if mode == "off":
        return None
    if mode == "bar" or (mode == "auto" and interactive()):
        try:
            return RichProgress()
        except ImportError:
            pass
    return LogProgress(interval=interval)
