"""Spark's CSV schema inference (``CSVInferSchema``, ``inferSchema=true`` with the default CSV
options and session settings) and its column names (``CSVUtils.makeSafeHeader``), over records
already tokenized (lists of field strings, quotes removed).

Each value climbs CSVInferSchema's tryParse* chain from the step its column's type so far asks
for: int, bigint, decimal(p,0), double (and the nanValue/positiveInf/negativeInf tokens), date
(yyyy-MM-dd), timestamp, boolean, else string. Column types merge with :func:`csv_compatible`
(CSVInferSchema.compatibleType). Values or options outside the ported rules raise
:class:`SparkFallback`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from executor.metadata.types.algebra import (
    BOOLEAN,
    DATE,
    DOUBLE,
    INT,
    LONG,
    MAX_PRECISION,
    NULL,
    STRING,
    TIMESTAMP,
    DecimalType,
    SparkType,
    integral_decimal,
)
from executor.metadata.types.fallback import SparkFallback, check_version
from executor.metadata.types.java_text import (
    JAVA_SENSITIVE,
    big_decimal,
    is_timestamp,
    java_bool,
    java_parse_double,
    java_parse_int,
    needs_spark,
    strict_iso_date,
)
from executor.metadata.types.widening import find_tightest_common_type

__all__ = ["CsvSchemaInferrer", "csv_compatible", "infer_csv_schema", "make_safe_header"]

_CSV_DEFAULT_OPTIONS = {
    "nullValue": "",
    "nanValue": "NaN",
    "positiveInf": "Inf",
    "negativeInf": "-Inf",
    "preferDate": "true",
    "inferSchema": "true",
}
# Options that do not change inferred types (they shape the tokens, which the caller supplies).
_CSV_NEUTRAL_OPTIONS = {
    "header", "sep", "delimiter", "quote", "escape", "multiLine", "mode", "encoding", "charset",
    "lineSep", "comment", "maxColumns", "maxCharsPerColumn", "unescapedQuoteHandling",
    "columnNameOfCorruptRecord", "enforceSchema", "emptyValue", "ignoreLeadingWhiteSpace",
    "ignoreTrailingWhiteSpace", "samplingRatio", "escapeQuotes", "quoteAll", "charToEscapeQuoteEscaping",
}


def _csv_options(options: Mapping[str, object] | None) -> dict[str, str]:
    opts = dict(_CSV_DEFAULT_OPTIONS)
    for key, value in (options or {}).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if key in _CSV_DEFAULT_OPTIONS:
            if key in ("preferDate", "inferSchema") and text.lower() != "true":
                raise SparkFallback(f"CSV option {key}={value!r} is not ported")
            opts[key] = text
        elif key in _CSV_NEUTRAL_OPTIONS:
            continue
        else:
            raise SparkFallback(f"CSV option {key}={value!r} changes inference and is not ported")
    return opts


def make_safe_header(row: Sequence[str | None] | None, n_columns: int | None = None, *,
                     header: bool = True, case_sensitive: bool = False, null_value: str = "") -> list[str]:
    """CSVUtils.makeSafeHeader: empty or nullValue names -> `_c{i}`; duplicate names (case-
    insensitively unless spark.sql.caseSensitive) get their index appended; no header ->
    `_c0.._c{n-1}`."""
    if not header or row is None:
        return [f"_c{i}" for i in range(n_columns if n_columns is not None else len(row or []))]
    names = [v for v in row if v is not None]
    if not case_sensitive:
        names = [v.lower() for v in names]
        if any(JAVA_SENSITIVE.search(v) for v in names):
            raise SparkFallback("header name whose case mapping differs between Java and Python")
    seen: set[str] = set()
    dups: set[str] = set()
    for v in names:
        if v in seen:
            dups.add(v)
        seen.add(v)
    out = []
    for i, cell in enumerate(row):
        if cell is None or cell == "" or cell == null_value:
            out.append(f"_c{i}")
        elif (cell.lower() if not case_sensitive else cell) in dups:
            out.append(f"{cell}{i}")
        else:
            out.append(cell)
    return out


# a value for which the tryParse* chain entered at typeSoFar's step returns typeSoFar itself
# (ASCII values: needs_spark is False for them); decimals and nulls are left to widen
_KEEPS: dict[SparkType, Callable[[str], bool]] = {
    INT: lambda v: java_parse_int(v, 32), LONG: lambda v: java_parse_int(v, 64), DOUBLE: java_parse_double,
    DATE: strict_iso_date, TIMESTAMP: is_timestamp, BOOLEAN: java_bool,
}

# values that surely keep each type: an ASCII subset of what _KEEPS accepts (RE2, matched by
# Arrow over a whole column at once); any other value goes through widen, in order
_SURE_DAY = (r"[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
             r"|(?:0[13578]|1[02])-31)")
_SURE: dict[SparkType, str] = {
    INT: r"^[+-]?[0-9]{1,9}$",
    LONG: r"^[+-]?[0-9]{1,18}$",
    DOUBLE: r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$",
    DATE: f"^{_SURE_DAY}$",
    # Spark's timestamp parser reads a date alone too (midnight)
    TIMESTAMP: f"^{_SURE_DAY}" + r"(?:[ T](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?)?$",
    BOOLEAN: r"^(?i:true|false)$",
}

_FIRST_BLOCK = 64  # the values add_columns converts to Python first (then 4 times as many each time)

# where CSVInferSchema's tryParse* chain starts for each typeSoFar (a decimal: 2)
_STEP: dict[SparkType, int] = {NULL: 0, INT: 0, LONG: 1, DOUBLE: 3, DATE: 4, TIMESTAMP: 5, BOOLEAN: 6}


def csv_compatible(t1: SparkType, t2: SparkType) -> SparkType | None:
    """CSVInferSchema.compatibleType. Dates mixed with timestamps widen to timestamp: the
    default dateFormat (yyyy-MM-dd) is one the lenient default timestamp parser reads
    (canParseDateAsTimestamp), and no timestampFormat is set."""
    t = find_tightest_common_type(t1, t2)
    if t is not None:
        return t
    if t1 is STRING or t2 is STRING:
        return STRING
    if isinstance(t2, DecimalType) and (d1 := integral_decimal(t1)) is not None:
        return csv_compatible(d1, t2)
    if isinstance(t1, DecimalType) and (d2 := integral_decimal(t2)) is not None:
        return csv_compatible(t1, d2)
    if (t1 is DOUBLE and isinstance(t2, DecimalType)) or (isinstance(t1, DecimalType) and t2 is DOUBLE):
        return DOUBLE
    if isinstance(t1, DecimalType) and isinstance(t2, DecimalType):
        scale = max(t1.scale, t2.scale)
        integer_range = max(t1.precision - t1.scale, t2.precision - t2.scale)
        return DOUBLE if integer_range + scale > MAX_PRECISION else DecimalType(integer_range + scale, scale)
    return None


@dataclass
class CsvSchemaInferrer:
    """Incremental CSVInferSchema: feed records (lists of field strings, after CSV tokenizing)
    with :meth:`add_row` / :meth:`add_rows`, read the result with :meth:`schema`.

    One inferrer is one Spark partition's fold (``inferRowType``); :meth:`merge` is Spark's
    ``mergeRowTypes`` across partitions. Feed every sampled row of a table into ONE inferrer
    to match ``spark.read.csv(sc.parallelize(lines, 1))`` (what the extractor does:
    executor.spark_connect.csv_from_lines, one partition on classic and Spark Connect sessions
    alike).
    """

    n_columns: int
    options: Mapping[str, object] | None = None
    spark_version: str = "3.5"
    types: list[SparkType] = field(init=False)
    _cache: dict[tuple[int, str], SparkType] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        check_version(self.spark_version)
        o = _csv_options(self.options)
        self.types = [NULL] * self.n_columns
        self._null = o["nullValue"]
        self._inf_nan = {o["nanValue"], o["positiveInf"], o["negativeInf"]}

    def _chain(self, step: int, f: str) -> SparkType:
        """The tryParse* chain of CSVInferSchema, entered at the step typeSoFar asks for."""
        if step <= 0 and java_parse_int(f, 32):
            return INT
        if step <= 1 and java_parse_int(f, 64):
            return LONG
        if step <= 2:
            bd = big_decimal(f)
            if bd is not None and bd[1] == 0 and bd[0] <= MAX_PRECISION:
                return DecimalType(bd[0], 0)
        if step <= 3 and (java_parse_double(f) or f in self._inf_nan):
            return DOUBLE
        if step <= 4 and strict_iso_date(f):
            return DATE
        if step <= 5 and is_timestamp(f):
            return TIMESTAMP
        if java_bool(f):
            return BOOLEAN
        return STRING

    def widen(self, so_far: SparkType, value: str | None) -> SparkType:
        """The column type after one more value (Spark's inferField): `so_far` itself when the
        value parses as that type (or is null)."""
        if value is None or value == "" or value == self._null:
            return so_far
        if so_far is STRING:
            return STRING
        step = 2 if isinstance(so_far, DecimalType) else _STEP[so_far]
        key = (step, value)
        t = self._cache.get(key)
        if t is None:
            if needs_spark(value):
                raise SparkFallback(f"value {value[:40]!r} has characters Java may parse differently")
            t = self._chain(step, value)
            if len(self._cache) < 200_000:
                self._cache[key] = t
        if t is so_far:
            return t
        return csv_compatible(so_far, t) or STRING

    def add_row(self, row: Sequence[str | None]) -> None:
        types = self.types
        for i in range(min(len(types), len(row))):
            if types[i] is not STRING:
                types[i] = self.widen(types[i], row[i])

    def add_rows(self, rows: Iterable[Sequence[str | None]]) -> CsvSchemaInferrer:
        """add_row for each record. Computed a column at a time (a column's type depends on its
        own values only, in order); when a value is left to Spark, the records are fed again one
        by one, so that the SparkFallback raised names the first such value in record order."""
        rows = rows if isinstance(rows, list) else list(rows)
        before = list(self.types)
        try:
            self._add_columns(rows)
        except SparkFallback:
            self.types = before
            for r in rows:
                self.add_row(r)
        return self

    def add_column(self, i: int, rows: Sequence[Sequence[str | None]]) -> SparkType:
        """Column i's type after the records' values in it (what add_rows gives that column: a
        column's type depends on its own values only), as Spark reports it (a column of nulls only
        is string). Raises SparkFallback at the column's first value left to Spark."""
        self._add_columns(rows if isinstance(rows, list) else list(rows), (i,))
        return self.column_types()[i]

    def _add_columns(self, rows: list[Sequence[str | None]], only: Sequence[int] | None = None) -> None:
        types = self.types
        for i in range(len(types)) if only is None else only:
            values = [r[i] for r in rows if i < len(r)]
            t, start = types[i], 0
            while t is not STRING:
                t, changed_at = self._first_change(t, values, start)
                if changed_at is None:
                    break
                start = changed_at + 1
            types[i] = t

    def _first_change(self, t: SparkType, values: Sequence[str | None], start: int) -> tuple[SparkType, int | None]:
        """From values[start], the type after the first value that changes `t` and that value's
        position, or (t, None) when none does. A value that parses as the type keeps it (what widen
        gives, sooner); a value seen keeping it is not parsed again (repeated values are common)."""
        keeps = _KEEPS.get(t)
        kept: set[str] = set()
        null = self._null
        for k in range(start, len(values)):
            v = values[k]
            if v is None or v == "" or v == null or v in kept:
                continue
            if keeps is not None and v.isascii() and keeps(v):
                if len(kept) < 65536:
                    kept.add(v)
                continue
            w = self.widen(t, v)
            if w != t:
                return w, k
        return t, None

    def add_columns(self, columns: Sequence[Any]) -> CsvSchemaInferrer:
        """add_rows for records given as columns (Arrow string arrays of one length, null or ''
        for a missing value): the values that surely keep a column's type (_SURE) are matched by
        Arrow over the column at once, the others go through the rules in record order. When a
        value is left to Spark, the records are fed again one by one (see add_rows)."""
        before = list(self.types)
        try:
            for i, column in enumerate(columns[: len(self.types)]):
                self.types[i] = self._column_type(self.types[i], column)
        except SparkFallback:
            self.types = before
            for r in zip(*(c.to_pylist() for c in columns)):
                self.add_row(r)
        return self

    def _column_type(self, t: SparkType, column: Any) -> SparkType:
        """The type after a column's values, from `t`: each pass skips the values that are null or
        surely keep the type so far, and takes the others in order until one changes it; the next
        pass starts after that value (a type changes a few times at most)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        pos, n = 0, len(column)
        while t is not STRING and pos < n:
            rest = column.slice(pos) if pos else column
            skip = pc.fill_null(pc.equal(rest, ""), True)
            if self._null != "":
                skip = pc.or_(skip, pc.fill_null(pc.equal(rest, self._null), False))
            sure = _SURE.get(t)
            if sure is not None:
                skip = pc.or_(skip, pc.fill_null(pc.match_substring_regex(rest, sure), False))
            todo = np.flatnonzero(~skip.to_numpy(zero_copy_only=False))
            if not todo.size:
                break
            # the values to look at, as Python strings a block at a time: the first one often changes
            # the type (a column's first value from null), and the rest need not be converted
            changed_at, lo, step = None, 0, _FIRST_BLOCK
            while changed_at is None and lo < todo.size:
                block = todo[lo:lo + step]
                t, at = self._first_change(t, rest.take(pa.array(block)).to_pylist(), 0)
                if at is not None:
                    changed_at = lo + at
                lo, step = lo + block.size, step * 4
            if changed_at is None:
                break
            pos += int(todo[changed_at]) + 1
        return t

    def merge(self, other: CsvSchemaInferrer) -> CsvSchemaInferrer:
        """mergeRowTypes: incompatible types become NullType (a Spark quirk, kept)."""
        a, b = self.types, other.types
        n = max(len(a), len(b))
        a = a + [NULL] * (n - len(a))
        b = b + [NULL] * (n - len(b))
        self.types = [csv_compatible(x, y) or NULL for x, y in zip(a, b)]
        self.n_columns = n
        return self

    def column_types(self) -> list[SparkType]:
        """The columns' types as Spark reports them (a column of nulls only is string)."""
        return [STRING if t is NULL else t for t in self.types]

    def type_strings(self) -> list[str]:
        return [t.simple_string() for t in self.column_types()]

    def schema(self, names: Sequence[str]) -> list[tuple[str, SparkType]]:
        return list(zip(names, self.column_types()))


def infer_csv_schema(header: Sequence[str | None] | None, rows: Iterable[Sequence[str | None]],
                     options: Mapping[str, object] | None = None, *, case_sensitive: bool = False,
                     spark_version: str = "3.5", columns: Sequence[Any] | None = None) -> list[tuple[str, SparkType]]:
    """Spark's CSV schema inference (``inferSchema=true``) over already-tokenized records.

    header:  the header record's fields (``header=true``), or None for ``header=false`` (then
             the columns are named ``_c0..`` and counted from the first row).
    rows:    data records as lists of field strings (quotes removed, as Spark's tokenizer gives
             them; ``None`` or ``""`` is a null). Rows shorter than the header leave the missing
             columns untouched; extra fields are ignored -- as Spark does.
    options: Spark CSV read options. Tokenizing options (sep, quote, escape, multiLine...) are
             accepted and ignored; nullValue/nanValue/positiveInf/negativeInf are honoured; any
             other option that changes inference (dateFormat, timestampFormat, locale,
             preferDate=false ...) raises :class:`SparkFallback`.
    columns: the same records as columns (Arrow string arrays, see CsvSchemaInferrer.add_columns)
             instead of `rows` (then given as ()).
    Returns [(column name, Spark type)]. Raises :class:`SparkFallback` when a value is outside
    the exactly ported rules (region time-zone names, extended years, Unicode digits).
    """
    if columns is not None:
        if header is None and (not columns or not len(columns[0])):
            return []
        n = len(header) if header is not None else len(columns)
        names = make_safe_header(header, n, header=header is not None, case_sensitive=case_sensitive,
                                 null_value=_csv_options(options)["nullValue"])
        return CsvSchemaInferrer(n, options, spark_version).add_columns(columns).schema(names)
    rows = iter(rows)
    pending: list[Sequence[str | None]] = []
    if header is None:
        first = next(rows, None)
        if first is None:
            return []
        pending.append(first)
        n = len(first)
    else:
        n = len(header)
    null_value = _csv_options(options)["nullValue"]
    names = make_safe_header(header, n, header=header is not None, case_sensitive=case_sensitive,
                             null_value=null_value)
    inf = CsvSchemaInferrer(n, options, spark_version)
    inf.add_rows(pending)
    inf.add_rows(rows)
    return inf.schema(names)
