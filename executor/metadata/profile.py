"""Column profiles: null count, distinct count, min and max. Pure Python, one pass per table.

A profile is computed over the rows the executor reads for the table, bounded by
NUVYN_PROFILE_MAX_ROWS (the first rows of the first files). When those are all the table's rows
the profile is `exact`; otherwise it is `sampled` (the row count of the table stays exact whatever
the bound). Exact facts from file metadata (Parquet footer statistics, Delta log statistics)
replace the sampled null count, min and max when every file carries them (`apply_exact`).

- `null_count`: values that are null (CSV: an empty field or a missing trailing field, as Spark
  reads them; JSON: a missing field or null).
- `distinct_count`: distinct non-null values, counted exactly over the rows profiled (a set of
  their text form; nested values as canonical JSON). Exact when the profile is exact; over a
  sample it is a lower bound of the table's true distinct count (no estimator error: it is the
  sample's exact count).
- `min_value` / `max_value`: as text, for orderable types only (numbers compared as numbers,
  strings, dates and timestamps in their natural order, booleans false < true); NULL for binary,
  nested types and columns without a non-null value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

PROFILE_EXACT = "exact"
PROFILE_SAMPLED = "sampled"

_INTEGRAL = ("tinyint", "smallint", "int", "bigint")
_FRACTIONAL = ("float", "double")


def orderable(type_string: str) -> bool:
    t = type_string.lower()
    return (t in _INTEGRAL or t in _FRACTIONAL or t.startswith("decimal") or t in (
        "string", "date", "timestamp", "timestamp_ntz", "boolean") or t.startswith(("char", "varchar")))


def _text_key(type_string: str) -> Callable[[str], Any] | None:
    """How a CSV text value of this Spark type compares (None when the text does not parse)."""
    t = type_string.lower()
    if t in _INTEGRAL:
        return int
    if t in _FRACTIONAL:
        return float
    if t.startswith("decimal"):
        return Decimal
    if t == "boolean":
        return lambda v: {"true": True, "false": False}[v.strip().lower()]
    return str


def render(value: Any) -> str:
    """A value as profile text (Spark-like for scalars, canonical JSON for nested values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, Decimal, int, float)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    return str(value)


@dataclass
class ColumnProfile:
    null_count: int | None = None
    distinct_count: int | None = None
    min_value: str | None = None
    max_value: str | None = None
    profile_scope: str | None = None  # exact | sampled


class ColumnProfiler:
    """Accumulates one column's profile. `add(value)` per row; values may be Python objects
    (Parquet, ORC, Avro, JSON) or text (`text=True`: CSV, where '' is null and text parses by type)."""

    def __init__(self, type_string: str, *, text: bool = False, max_chars: int = 100) -> None:
        self.type_string = type_string
        self.text = text
        self.max_chars = max_chars
        self.nulls = 0
        self.rows = 0
        self.distinct: set[str] = set()
        self.ordered = orderable(type_string)
        self._key = _text_key(type_string) if text else None
        self._min: Any = None
        self._max: Any = None
        self._min_raw: Any = None
        self._max_raw: Any = None

    def add(self, value: Any) -> None:
        self.rows += 1
        if value is None or (self.text and value == ""):
            self.nulls += 1
            return
        if isinstance(value, float) and value != value:  # NaN: a value, never a min/max
            self.distinct.add("NaN")
            return
        self.distinct.add(render(value))
        if not self.ordered:
            return
        if self.text:
            if self._key is None:
                return
            try:
                key = self._key(value)
            except (ValueError, KeyError, InvalidOperation, TypeError):
                return
        else:
            key = value
        try:
            if self._min is None or key < self._min:
                self._min, self._min_raw = key, value
            if self._max is None or key > self._max:
                self._max, self._max_raw = key, value
        except TypeError:  # mixed Python types (should not happen within one Spark type)
            pass

    def add_all(self, values: Iterable[Any]) -> ColumnProfiler:
        for v in values:
            self.add(v)
        return self

    def result(self, scope: str) -> ColumnProfile:
        def cut(v: Any) -> str | None:
            return None if v is None else render(v)[: self.max_chars]

        return ColumnProfile(null_count=self.nulls, distinct_count=len(self.distinct),
                             min_value=cut(self._min_raw), max_value=cut(self._max_raw),
                             profile_scope=scope)


def apply_exact(profile: ColumnProfile, *, null_count: int | None = None, min_value: Any = None,
                max_value: Any = None, max_chars: int = 100, orderable_type: bool = True) -> ColumnProfile:
    """Replace sampled facts with exact ones from file metadata (None = not known exactly)."""
    if null_count is not None:
        profile.null_count = null_count
    if orderable_type and min_value is not None:
        profile.min_value = render(min_value)[:max_chars]
    if orderable_type and max_value is not None:
        profile.max_value = render(max_value)[:max_chars]
    return profile


def profile_rows(names_types: list[tuple[str, str]], rows: Iterable[dict[str, Any]], scope: str,
                 max_chars: int = 100) -> dict[str, ColumnProfile]:
    """Profiles of dict rows (a missing key is a null)."""
    profilers = {n: ColumnProfiler(t, max_chars=max_chars) for n, t in names_types}
    for row in rows:
        for n, p in profilers.items():
            p.add(row.get(n))
    return {n: p.result(scope) for n, p in profilers.items()}


def profile_arrow(names_types: list[tuple[str, str]], batches: Iterable[Any], scope: str,
                  max_chars: int = 100) -> dict[str, ColumnProfile]:
    """Profiles of Arrow record batches (columns by name; a column missing from a batch is null)."""
    import pyarrow as pa

    batches = list(batches)
    out: dict[str, ColumnProfile] = {}
    for n, t in names_types:
        chunks = []
        for batch in batches:
            names = batch.schema.names
            chunks.append(batch.column(names.index(n)) if n in names else pa.nulls(batch.num_rows))
        types = {c.type for c in chunks if not pa.types.is_null(c.type)}
        if len(types) > 1:  # files disagree on the Arrow type: profile the Python values
            values = [v for c in chunks for v in c.to_pylist()]
            out[n] = ColumnProfiler(t, max_chars=max_chars).add_all(values).result(scope)
            continue
        typ = types.pop() if types else pa.null()
        column = pa.chunked_array([c if c.type == typ else pa.nulls(len(c), typ) for c in chunks], typ)
        out[n] = profile_column(column, t, scope, max_chars=max_chars)
    return out


# ---------------------------------------------------------------------------- vectorized (pyarrow)

_ARROW_TEXT_CASTS = {
    "tinyint": "int64", "smallint": "int64", "int": "int64", "bigint": "int64",
    "float": "float64", "double": "float64", "boolean": "bool_", "date": "date32",
    "timestamp": "timestamp_us", "timestamp_ntz": "timestamp_us",
}


def _arrow_cast_target(type_string: str) -> Any:
    import pyarrow as pa

    t = type_string.lower()
    if t.startswith("decimal("):
        p, s = (int(x) for x in t[len("decimal("):-1].split(","))
        return pa.decimal128(p, s) if p <= 38 else None
    name = _ARROW_TEXT_CASTS.get(t)
    if name is None:
        return pa.string() if t == "string" or t.startswith(("char", "varchar")) else None
    return pa.timestamp("us") if name == "timestamp_us" else getattr(pa, name)()


def profile_column(values: Any, type_string: str, scope: str, *, text: bool = False,
                   max_chars: int = 100) -> ColumnProfile:
    """One column's profile with pyarrow compute (C++), the same facts as ColumnProfiler.

    `values`: a pyarrow Array/ChunkedArray, or a Python list (text=True: CSV strings, '' is null).
    Columns pyarrow cannot do exactly the same way (nested values, text that does not cast to its
    Spark type, e.g. a timestamp format Arrow does not parse) go through ColumnProfiler."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def slow() -> ColumnProfile:
        py = values.to_pylist() if hasattr(values, "to_pylist") else values
        return ColumnProfiler(type_string, text=text, max_chars=max_chars).add_all(py).result(scope)

    try:
        arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(
            values, pa.string() if text else None)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return slow()
    if text:
        if not pa.types.is_string(arr.type):
            return slow()
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    elif pa.types.is_nested(arr.type) or pa.types.is_dictionary(arr.type) or pa.types.is_null(arr.type):
        return slow()
    profile = ColumnProfile(null_count=arr.null_count, profile_scope=scope)
    profile.distinct_count = pc.count_distinct(arr, mode="only_valid").as_py()
    if not orderable(type_string) or arr.null_count == len(arr):
        return profile
    typed = arr
    if text:
        target = _arrow_cast_target(type_string)
        if target is None:
            return slow()
        try:
            typed = pc.cast(arr, target) if target != pa.string() else arr
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return slow()
        if pa.types.is_floating(typed.type) and pc.any(pc.is_nan(typed)).as_py():
            return slow()  # NaN text: the slow path's exact rules (never a min or max)
    elif pa.types.is_binary(typed.type) or pa.types.is_large_binary(typed.type):
        return profile
    mm = pc.min_max(typed)
    lo, hi = mm["min"], mm["max"]
    if not lo.is_valid:
        return profile
    if text:  # the file's own text of the smallest / largest value
        lo_raw = arr[pc.index(typed, lo).as_py()].as_py()
        hi_raw = arr[pc.index(typed, hi).as_py()].as_py()
    else:
        lo_raw, hi_raw = lo.as_py(), hi.as_py()
    profile.min_value = render(lo_raw)[:max_chars]
    profile.max_value = render(hi_raw)[:max_chars]
    return profile
