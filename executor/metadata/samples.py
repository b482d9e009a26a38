"""Sample values as strings (pure): how every format's samples are formatted and de-duplicated."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def format_value(value: Any, limit: int) -> str:
    """A sample value as a string: Spark-like text for scalars, JSON for nested values."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, (date, Decimal, int, float)):
        text = str(value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value).hex()
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    return text[:limit]


def distinct_samples(values: Any, count: int, limit: int) -> list[str]:
    """Up to `count` distinct non-null values (in order of appearance), each cut to `limit` chars."""
    out: list[str] = []
    seen: set[str] = set()
    seen_raw: set[object] = set()
    for v in values:
        if v is None or v == "":
            continue
        try:
            if v in seen_raw:  # a repeat: nothing to format
                continue
            seen_raw.add(v)
        except TypeError:  # unhashable (nested) values are formatted every time
            pass
        text = format_value(v, limit)
        if text in seen:
            continue
        seen.add(text)
        out.append(text)
        if len(out) >= count:
            break
    return out
