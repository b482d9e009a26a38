"""A run's summary (executor.run.summarize, stored as JSON in executor_runs.summary) for humans."""

from __future__ import annotations

from typing import Any

from executor.metadata.model import RUN_ABANDONED, TABLE_NOTE
from executor.ops.progress import human_bytes, human_seconds
from executor.ops.render import parse_summary


def render_summary(run: dict[str, Any]) -> str:
    """`run`: a run report of executor.run.run_job, or an executor_runs row (summary as JSON text)."""
    s = parse_summary(run.get("summary")) or {}
    head = f"Run {run.get('run_id')}: {str(run.get('status', '?')).upper()}"
    ids = ", ".join(f"{k} {run[k]}" for k in ("workflow_id", "source_id") if run.get(k))
    lines = [head + (f" ({ids})" if ids else "")]
    if run.get("error_message"):
        lines.append(f"  error: {run['error_message']}")
    if "tables" in s:
        written = s["tables"] - s.get("tables_failed", 0)
        lines.append(f"  tables:       {s['tables']} extracted, {written} ok, {s.get('tables_failed', 0)} failed")
        for f in s.get("failed", []):
            lines.append(f"    failed {f.get('table')}: {f.get('error')}")
        if s.get("tables_failed", 0) > len(s.get("failed", [])):
            lines.append(f"    ... and {s['tables_failed'] - len(s.get('failed', []))} more failed tables")
        lines.append(f"  rows counted: {s.get('rows', 0):,}")
        lines.extend(render_reads(s))
        lines.extend(render_notes(s))
    if "spark_jobs" in s:
        jobs = s["spark_jobs"]
        lines.append(f"  spark jobs:   {jobs if jobs is not None and jobs >= 0 else 'unknown'}")
    if "seconds" in s:
        lines.append(f"  seconds:      {s['seconds']} ({human_seconds(s['seconds'])})")
    if s.get("marked_by"):
        lines.append(f"  marked by:    {s['marked_by']}")
    if run.get("status") == RUN_ABANDONED:
        lines.append("  (abandoned: its process died before recording its end; its tables may be partly written and "
                     "are never returned as a completed run)")
    elif not s:
        lines.append("  (no summary recorded: the run is still running or ended before recording it)")
    return "\n".join(lines)


def render_reads(s: dict[str, Any]) -> list[str]:
    """Files and bytes: found, and (summaries with bytes_read) what was read and what was reused."""
    if "bytes_read" not in s:  # a summary written before bytes_read existed
        return [f"  files:        {s.get('files', 0):,} read, {s.get('files_skipped', 0):,} skipped",
                f"  bytes read:   {human_bytes(s.get('bytes'))} ({s.get('bytes', 0):,} bytes)"]
    lines = [f"  files:        {s.get('files', 0):,} found ({human_bytes(s.get('bytes'))}), "
             f"{s.get('files_read', 0):,} read, {s.get('files_reused', 0):,} reused, "
             f"{s.get('files_skipped', 0):,} skipped"]
    fetched = s.get("bytes_read")
    lines.append(f"  bytes read:   {human_bytes(fetched)} ({fetched:,} bytes fetched from storage)" if fetched is not None
                 else "  bytes read:   not counted by this store")
    if s.get("refresh"):
        mode = str(s["refresh"])
        if s.get("reused_from_run"):
            mode += (f" (from run {s['reused_from_run']}: {s.get('tables_reused', 0)} tables reused, "
                     f"{len(s.get('tables_changed', []))} changed, {len(s.get('tables_added', []))} added, "
                     f"{len(s.get('tables_removed', []))} removed"
                     + (f", {s['windows_reused']} changed without reading their window" if s.get("windows_reused") else "")
                     + ")")
        elif s.get("refresh_note"):
            mode += f" ({s['refresh_note']})"
        lines.append(f"  refresh:      {mode}")
    for key, sign in (("tables_removed", "-"), ("tables_added", "+"), ("tables_changed", "~")):
        for name in s.get(key, [])[:10]:
            lines.append(f"    {sign} table {name}")
    return lines


def render_notes(s: dict[str, Any]) -> list[str]:
    lines = []
    for h in s.get("csv_headers", []):
        lines.append(f"    csv {h.get('table')}: {'header' if h.get('header') else 'no header'} ({h.get('reason')})")
    for f in s.get("format_details", []):
        lines.append(f"    {f.get('format')} {f.get('table')}: {f.get('details')}")
    for n in s.get("column_notes", []):
        if n.get("column") == TABLE_NOTE:
            lines.append(f"    table {n.get('table')}: {n.get('reason')}")
        else:
            lines.append(f"    column {n.get('table')}.{n.get('column')}: {n.get('reason')}")
    more = s.get("column_notes_total", 0) - len(s.get("column_notes", []))
    if more > 0:
        lines.append(f"    ... and {more} more column notes (tables.column_notes)")
    return (["  notes:"] + lines) if lines else []


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """One executor_runs row, flattened for a table: status, times and the summary's main figures."""
    s = parse_summary(run.get("summary")) or {}
    return {
        "run_id": run.get("run_id"),
        "workflow_id": run.get("workflow_id"),
        "source_id": run.get("source_id"),
        "status": run.get("status"),
        "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"),
        "seconds": s.get("seconds"),
        "tables": s.get("tables"),
        "failed": s.get("tables_failed"),
        "rows": s.get("rows"),
        "bytes": s.get("bytes"),
        "bytes_read": s.get("bytes_read"),
        "error": run.get("error_message"),
    }
