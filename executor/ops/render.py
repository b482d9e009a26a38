"""Plain text rendering shared by the operator commands (no escape codes, safe in any log)."""

from __future__ import annotations

import json
from typing import Any


def text_table(rows: list[dict[str, Any]], columns: list[str], max_width: int = 60) -> str:
    if not rows:
        return "(none)"
    cells = [[("" if r.get(c) is None else str(r.get(c))).replace("\n", " ")[:max_width] for c in columns]
             for r in rows]
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
