"""Plain text rendering shared by the operator commands (no escape codes, safe in any log)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

ELLIPSIS = "\u2026"


def format_timestamp(value: datetime) -> str:
    """A timestamp with its zone, in UTC: '2026-11-27 22:19:37 UTC'. A naive value is taken as the
    local time zone's (that is how pyspark returns TIMESTAMP values), an aware one is converted."""
    aware = value.astimezone(timezone.utc)  # naive: astimezone assumes the local zone
    text = aware.strftime("%Y-%m-%d %H:%M:%S")
    if aware.microsecond:
        text += f".{aware.microsecond:06d}".rstrip("0")
    return text + " UTC"


def cell(value: Any, max_width: int = 60) -> str:
    """One table cell: timestamps with their zone, lists joined with ', ', one line, and at most
    `max_width` characters (a longer value ends with an ellipsis)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = format_timestamp(value)
    elif isinstance(value, (list, tuple)):
        text = ", ".join("" if v is None else str(v) for v in value)
    else:
        text = str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    if len(text) > max_width:
        text = text[: max(0, max_width - 1)] + ELLIPSIS
    return text


def to_json(obj: Any) -> str:
    """What the commands print for --format json: indented, non-ASCII kept, datetimes as text."""
    return json.dumps(obj, indent=2, default=str, ensure_ascii=False)


def text_table(rows: list[dict[str, Any]], columns: list[str], max_width: int = 60) -> str:
    if not rows:
        return "(none)"
    cells = [[cell(r.get(c), max_width) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join([line, sep, *body])


def parse_summary(value: Any) -> dict[str, Any] | None:
    """executor_runs.summary is stored as JSON text; give it back as a dict (None when absent/bad)."""
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None
