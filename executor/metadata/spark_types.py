"""Spark's schema inference rules, ported to pure Python (no pyspark, no JVM).

Three entry points, each returning Spark type strings exactly as ``DataType.simpleString()``
prints them (``int``, ``bigint``, ``decimal(20,0)``, ``array<struct<a:int>>`` ...):

* :func:`parquet_schema_to_spark` / :func:`arrow_to_spark_type` -- what
  ``spark.read.parquet(path).schema`` reports for a file's footer
  (``ParquetToSparkSchemaConverter``, default settings).
* :func:`infer_csv_schema` (and the incremental :class:`CsvSchemaInferrer`) -- what
  ``spark.read.csv(..., header=..., inferSchema=True)`` infers (``CSVInferSchema`` with the
  default CSV options and session settings, ``CSVUtils.makeSafeHeader`` for names).
* :func:`infer_partition_types` -- the types of Hive-style ``key=value`` partition columns
  (``PartitioningUtils.inferPartitionColumnValue`` + ``findWiderTypeForPartitionColumn``).

Fallback contract: whenever a value, a setting or a file type is outside what is ported
exactly, the functions raise :class:`SparkFallback` (a ``ValueError``). The caller then asks
Spark itself; nothing here ever returns a type it is not sure Spark would give.
:class:`UnsupportedParquetType` (a subclass) means Spark itself refuses the Parquet type
("Illegal Parquet type" / "not implemented"), so the Spark fallback will fail as well.

Rules ported from Apache Spark 3.5 (checked against pyspark 3.5.7 in
tests/integration/test_spark_types_vs_spark.py); ``spark_version="4.0"`` keeps the same rules
where 4.0's defaults agree and signals a fallback where they may not.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "HIVE_DEFAULT_PARTITION",
    "SUPPORTED_SPARK_VERSIONS",
    "CsvSchemaInferrer",
    "SparkFallback",
    "UnsupportedParquetType",
    "arrow_to_spark_type",
    "infer_csv_schema",
    "infer_partition_types",
    "make_safe_header",
    "parquet_schema_to_spark",
    "partition_value_type",
]

SUPPORTED_SPARK_VERSIONS = ("3.5", "4.0")
HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
MAX_PRECISION = 38


class SparkFallback(ValueError):
    """The exact Spark answer is not known here: ask Spark (the reason is the message)."""


class UnsupportedParquetType(SparkFallback):
    """Spark itself rejects this Parquet type (reading the file with Spark fails too)."""


def _check_version(spark_version: str) -> None:
    if spark_version not in SUPPORTED_SPARK_VERSIONS:
        raise SparkFallback(f"Spark {spark_version} rules are not ported (have {SUPPORTED_SPARK_VERSIONS})")


# ============================================================================ types as values
# Internally a Spark type is a str ("int", "bigint", "double", "date", "timestamp", "boolean",
# "string", "null") or a ("decimal", precision, scale) tuple.

NULL, INT, LONG, DOUBLE, DATE, TS, BOOL, STRING = (
    "null", "int", "bigint", "double", "date", "timestamp", "boolean", "string")
_INTEGRAL_AS_DECIMAL = {"tinyint": 3, "smallint": 5, INT: 10, LONG: 20}
_NUMERIC_PRECEDENCE = ["tinyint", "smallint", INT, LONG, "float", DOUBLE]


def _is_decimal(t: Any) -> bool:
    return isinstance(t, tuple)


def _type_string(t: Any) -> str:
    if _is_decimal(t):
        return f"decimal({t[1]},{t[2]})"
    return t


def _decimal_wider_than(d: tuple, other: Any) -> bool:
    """DecimalType.isWiderThan."""
    if _is_decimal(other):
        p, s = other[1], other[2]
    elif other in _INTEGRAL_AS_DECIMAL:
        p, s = _INTEGRAL_AS_DECIMAL[other], 0
    else:
        return False
    return (d[1] - d[2]) >= (p - s) and d[2] >= s


def _tightest_common_type(t1: Any, t2: Any) -> Any | None:
    """TypeCoercion.findTightestCommonType for the atomic types inference produces."""
    if t1 == t2:
        return t1
    if t1 == NULL:
        return t2
    if t2 == NULL:
        return t1
    if t1 in _INTEGRAL_AS_DECIMAL and _is_decimal(t2) and _decimal_wider_than(t2, t1):
        return t2
    if _is_decimal(t1) and t2 in _INTEGRAL_AS_DECIMAL and _decimal_wider_than(t1, t2):
        return t1
    if t1 in _NUMERIC_PRECEDENCE and t2 in _NUMERIC_PRECEDENCE:
        return _NUMERIC_PRECEDENCE[max(_NUMERIC_PRECEDENCE.index(t1), _NUMERIC_PRECEDENCE.index(t2))]
    if t1 in (DATE, TS) and t2 in (DATE, TS):
        return TS  # findWiderDateTimeType (only TIMESTAMP_LTZ is inferred with default settings)
    return None


# ============================================================================ Java parsers

_JAVA_INT = re.compile(r"[+-]?[0-9]+\Z")
_BIG_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_JAVA_DOUBLE = re.compile(
    r"[+-]?(?:NaN|Infinity"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?"
    r"|0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+[fFdD]?)\Z")
_JAVA_TRIM = "".join(chr(c) for c in range(0x21))  # String.trim(): every char <= ' '
# Characters whose case mapping or digit value differ between Java and Python, or that Java's
# number parsers read as digits: a value holding one is left to Spark.
_JAVA_SENSITIVE = re.compile(r"[\u017f\u0131\u0130\u212a]")


def _needs_spark(s: str) -> bool:
    """Non-ASCII text that Java might read as a number or boolean differently than we would."""
    if s.isascii():
        return False
    return bool(_JAVA_SENSITIVE.search(s)) or any(ch.isdigit() or ch.isnumeric() for ch in s if not ch.isascii())


def _java_parse_int(s: str, bits: int) -> bool:
    """Integer.parseInt / Long.parseLong (ASCII digits; Unicode digits are pre-screened)."""
    if not _JAVA_INT.match(s):
        return False
    v = int(s)
    return -(1 << (bits - 1)) <= v < (1 << (bits - 1))


def _java_parse_double(s: str) -> bool:
    """java.lang.Double.parseDouble: trims chars <= ' ', then FloatingDecimal's grammar."""
    return bool(_JAVA_DOUBLE.match(s.strip(_JAVA_TRIM)))


def _big_decimal(s: str) -> tuple[int, int] | None:
    """new java.math.BigDecimal(s) -> (precision, scale), or None where it throws."""
    if not _BIG_DECIMAL.match(s):
        return None
    try:
        d = Decimal(s)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        return None
    _sign, digits, exponent = d.as_tuple()
    scale = -int(exponent)
    if not -(1 << 31) <= scale < (1 << 31):
        return None
    return len(digits), scale


def _java_bool(s: str) -> bool:
    return s.lower() in ("true", "false")


# ============================================================================ dates & timestamps

_ISO_DATE = re.compile(r"([+-]?)([0-9]{4,})-([0-9]{2})-([0-9]{2})\Z")


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _valid_date(y: int, m: int, d: int) -> bool:
    return 1 <= m <= 12 and 1 <= d <= _days_in_month(y, m)


def _strict_iso_date(s: str) -> bool:
    """Iso8601DateFormatter("yyyy-MM-dd") (java.time pattern "uuuu-MM-dd", ResolverStyle.STRICT,
    SignStyle.EXCEEDS_PAD) parses all of `s`: 4-digit unsigned years, '+' only with 5+ digits,
    '-' with 4+ digits (not minus zero), |year| <= 999999999, a real proleptic Gregorian date."""
    m = _ISO_DATE.match(s)
    if not m:
        return False
    sign, ys = m.group(1), m.group(2)
    if (sign == "" and len(ys) != 4) or (sign == "+" and len(ys) <= 4) or len(ys) > 19:
        return False
    year = int(ys)
    if sign == "-":
        if year == 0:
            return False
        year = -year
    if abs(year) > 999_999_999:
        return False
    return _valid_date(year, int(m.group(3)), int(m.group(4)))


def _zone_ok(zone: str) -> bool:
    """DateTimeUtils.getZoneId(zone) succeeds; unknown region ids are left to Spark."""
    z = zone.strip(_JAVA_TRIM)
    z = re.sub(r"^([+-])(\d):", r"\g<1>0\2:", z, count=1)
    z = re.sub(r"^([+-])(\d\d):(\d)$", r"\1\2:0\3", z, count=1)
    if z == "Z" or z in ("UTC", "GMT", "UT"):
        return True
    if z[:1] in ("+", "-"):
        return _zone_offset_ok(z)
    for prefix in ("UTC", "GMT", "UT"):
        if z.startswith(prefix) and z[len(prefix):len(prefix) + 1] in ("+", "-"):
            return _zone_offset_ok(z[len(prefix):])
    if len(z) <= 1:
        return False  # ZoneOffset.of("x") throws
    if z in _JAVA_SHORT_IDS:
        return True
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9~/._+-]+", z):
        return False  # ZoneRegion.checkName rejects it
    if z in _region_ids():
        return True
    raise SparkFallback(f"time zone id {zone!r} (unknown here; Java's tz database decides)")


_JAVA_SHORT_IDS = frozenset(
    ["EST", "MST", "HST", "ACT", "AET", "AGT", "ART", "AST", "BET", "BST", "CAT", "CNT", "CST", "CTT", "EAT", "ECT", "IET", "IST", "JST", "MIT", "NET", "NST", "PLT", "PNT", "PRT", "PST", "SST", "VST"])
_REGIONS: frozenset | None = None


def _region_ids() -> frozenset:
    """IANA region ids known to Python (Java's tzdb has the same area/city names)."""
    global _REGIONS
    if _REGIONS is None:
        try:
            _REGIONS = frozenset(zoneinfo.available_timezones())
        except OSError:  # no tz database: every region id goes to Spark
            _REGIONS = frozenset()
    return _REGIONS


def _zone_offset_ok(z: str) -> bool:
    """java.time.ZoneOffset.of for '+h', '+hh', '+hh:mm', '+hhmm', '+hh:mm:ss', '+hhmmss'."""
    body = z[1:]
    n = len(body)
    if not body.isascii() or not all(c.isdigit() or c == ":" for c in body):
        return False
    if n == 1 and body.isdigit() or n == 2 and body.isdigit():
        h, mi, se = int(body), 0, 0
    elif n == 4 and body.isdigit():
        h, mi, se = int(body[:2]), int(body[2:]), 0
    elif n == 5 and body[2] == ":" and (body[:2] + body[3:]).isdigit():
        h, mi, se = int(body[:2]), int(body[3:]), 0
    elif n == 6 and body.isdigit():
        h, mi, se = int(body[:2]), int(body[2:4]), int(body[4:])
    elif n == 8 and body[2] == ":" and body[5] == ":" and (body[:2] + body[3:5] + body[6:]).isdigit():
        h, mi, se = int(body[:2]), int(body[3:5]), int(body[6:])
    else:
        return False
    if h > 18 or mi > 59 or se > 59:
        return False
    return not (h == 18 and (mi or se))


def _timestamp_segments(s: str) -> tuple[list[int], str | None, bool] | None:
    """SparkDateTimeUtils.parseTimestampString -> (segments, zone or None, just_time) or None."""
    b = s.encode("utf-8")
    n = len(b)
    j = 0
    while j < n and b[j] in _TRIM_BYTES:
        j += 1
    end = n
    while end > j and b[end - 1] in _TRIM_BYTES:
        end -= 1
    if j == end:
        return None

    def valid(seg: int, digits: int) -> bool:
        return (seg == 6 or (seg == 0 and 4 <= digits <= 6) or (seg == 7 and digits <= 2)
                or (seg not in (0, 6, 7) and 0 < digits <= 2))

    seg = [1, 1, 1, 0, 0, 0, 0, 0, 0]
    i = 0
    value = 0
    digits = 0
    digits_milli = 0
    just_time = False
    year_sign = None
    tz = None
    if b[j] in (0x2D, 0x2B):  # '-' '+'
        year_sign = -1 if b[j] == 0x2D else 1
        j += 1
    while j < end:
        c = b[j]
        d = c - 0x30
        if d < 0 or d > 9:
            at = None  # the segment this separator ends
            if j == 0 and c == 0x54:  # 'T'
                just_time = True
                i += 3
            elif ((i < 2 and c == 0x2D) or (i == 2 and c in (0x20, 0x54)) or (i in (3, 4) and c == 0x3A)
                  or (6 < i < len(seg) and c in (0x3A, 0x20))):
                at = i
            elif i == 0 and c == 0x3A and year_sign is None:  # ':'
                just_time = True
                at = 3
            elif i in (5, 6):
                at = i
                if not (c == 0x2E and i == 5):  # not '.': the zone starts here
                    tz = b[j:end].decode("utf-8", errors="replace")
                    j = end - 1
            else:
                return None
            if at is not None:
                if not valid(at, digits):
                    return None
                seg[at] = value
                value = digits = 0
                i = at + 1
                if i == 6 and c != 0x2E:
                    i += 1
        else:
            if i == 6:
                digits_milli += 1
            if i != 6 or digits < 6:
                value = value * 10 + d
            digits += 1
        j += 1
    if not valid(i, digits):
        return None
    if i >= len(seg):
        return None  # ArrayIndexOutOfBounds in Spark -> NonFatal -> None
    seg[i] = value
    while digits_milli < 6:
        seg[6] *= 10
        digits_milli += 1
    seg[0] *= year_sign or 1
    return seg, tz, just_time


_TRIM_BYTES = frozenset(range(0x21)) | {0x7F}


def _is_timestamp(s: str) -> bool:
    """SparkDateTimeUtils.stringToTimestamp(s, sessionZone).isDefined (TIMESTAMP_LTZ)."""
    parsed = _timestamp_segments(s)
    if parsed is None:
        return False
    seg, tz, just_time = parsed
    if tz is not None and not _zone_ok(tz):
        return False
    if not (0 <= seg[3] <= 23 and 0 <= seg[4] <= 59 and 0 <= seg[5] <= 59):
        return False
    if just_time:
        return True
    if abs(seg[0]) >= 290000:
        raise SparkFallback(f"timestamp year near the microsecond range limit {s!r}")
    return _valid_date(seg[0], seg[1], seg[2])


# ============================================================================ CSV

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


def _csv_options(options: Mapping[str, Any] | None) -> dict[str, str]:
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
        if any(_JAVA_SENSITIVE.search(v) for v in names):
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


@dataclass
class CsvSchemaInferrer:
    """Incremental CSVInferSchema: feed records (lists of field strings, after CSV tokenizing)
    with :meth:`add_row` / :meth:`add_rows`, read the result with :meth:`schema`.

    One inferrer is one Spark partition's fold (``inferRowType``); :meth:`merge` is Spark's
    ``mergeRowTypes`` across partitions. Feed every sampled row of a table into ONE inferrer
    to match ``spark.read.csv(sc.parallelize(lines, 1))`` (what the extractor does: executor.spark_connect.csv_from_lines,
    one partition on classic and Spark Connect sessions alike).
    """

    n_columns: int
    options: Mapping[str, Any] | None = None
    spark_version: str = "3.5"
    types: list = field(init=False)
    _cache: dict = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _check_version(self.spark_version)
        self._opts = _csv_options(self.options)
        self.types = [NULL] * self.n_columns
        o = self._opts
        self._null = o["nullValue"]
        self._inf_nan = {o["nanValue"], o["positiveInf"], o["negativeInf"]}

    # -- the tryParse* chain of CSVInferSchema, entered at the step typeSoFar asks for
    def _chain(self, step: int, f: str) -> Any:
        if step <= 0 and _java_parse_int(f, 32):
            return INT
        if step <= 1 and _java_parse_int(f, 64):
            return LONG
        if step <= 2:
            bd = _big_decimal(f)
            if bd is not None and bd[1] == 0 and bd[0] <= MAX_PRECISION:
                return ("decimal", bd[0], 0)
        if step <= 3 and (_java_parse_double(f) or f in self._inf_nan):
            return DOUBLE
        if step <= 4 and _strict_iso_date(f):
            return DATE
        if step <= 5 and _is_timestamp(f):
            return TS
        if _java_bool(f):
            return BOOL
        return STRING



    def _infer_field(self, so_far: Any, f: str | None) -> Any:
        if f is None or f == "" or f == self._null:
            return so_far
        if so_far == STRING:
            return STRING
        step = 2 if _is_decimal(so_far) else _STEP[so_far]
        key = (step, f)
        t = self._cache.get(key)
        if t is None:
            if _needs_spark(f):
                raise SparkFallback(f"value {f[:40]!r} has characters Java may parse differently")
            t = self._chain(step, f)
            if len(self._cache) < 200_000:
                self._cache[key] = t
        return _csv_compatible(so_far, t) or STRING

    def widen(self, so_far: Any, value: str | None) -> Any:
        """The column type after one more value (Spark's inferField): equal to `so_far` when the
        value parses as that type."""
        return self._infer_field(so_far, value)

    def add_row(self, row: Sequence[str | None]) -> None:
        types = self.types
        for i in range(min(len(types), len(row))):
            if types[i] != STRING:
                types[i] = self._infer_field(types[i], row[i])

    def add_rows(self, rows: Iterable[Sequence[str | None]]) -> CsvSchemaInferrer:
        for r in rows:
            self.add_row(r)
        return self

    def merge(self, other: CsvSchemaInferrer) -> CsvSchemaInferrer:
        """mergeRowTypes: incompatible types become NullType (a Spark quirk, kept)."""
        a, b = self.types, other.types
        n = max(len(a), len(b))
        a = a + [NULL] * (n - len(a))
        b = b + [NULL] * (n - len(b))
        self.types = [_csv_compatible(x, y) or NULL for x, y in zip(a, b)]
        self.n_columns = n
        return self

    def type_strings(self) -> list[str]:
        return [_type_string(STRING if t == NULL else t) for t in self.types]

    def schema(self, names: Sequence[str]) -> list[tuple[str, str]]:
        return list(zip(names, self.type_strings()))


# where CSVInferSchema's tryParse* chain starts for each typeSoFar (decimal: 2)
_STEP = {NULL: 0, INT: 0, LONG: 1, DOUBLE: 3, DATE: 4, TS: 5, BOOL: 6}


def _csv_compatible(t1: Any, t2: Any) -> Any | None:
    """CSVInferSchema.compatibleType. Dates mixed with timestamps widen to timestamp: the
    default dateFormat (yyyy-MM-dd) is one the lenient default timestamp parser reads
    (canParseDateAsTimestamp), and no timestampFormat is set."""
    t = _tightest_common_type(t1, t2)
    if t is not None:
        return t
    if t1 == STRING or t2 == STRING:
        return STRING
    if t1 in _INTEGRAL_AS_DECIMAL and _is_decimal(t2):
        return _csv_compatible(("decimal", _INTEGRAL_AS_DECIMAL[t1], 0), t2)
    if _is_decimal(t1) and t2 in _INTEGRAL_AS_DECIMAL:
        return _csv_compatible(t1, ("decimal", _INTEGRAL_AS_DECIMAL[t2], 0))
    if (t1 == DOUBLE and _is_decimal(t2)) or (_is_decimal(t1) and t2 == DOUBLE):
        return DOUBLE
    if _is_decimal(t1) and _is_decimal(t2):
        scale = max(t1[2], t2[2])
        rng = max(t1[1] - t1[2], t2[1] - t2[2])
        return DOUBLE if rng + scale > MAX_PRECISION else ("decimal", rng + scale, scale)
    return None


def infer_csv_schema(header: Sequence[str | None] | None, rows: Iterable[Sequence[str | None]],
                     options: Mapping[str, Any] | None = None, *, case_sensitive: bool = False,
                     spark_version: str = "3.5") -> list[tuple[str, str]]:
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
    Returns [(column name, Spark type string)]. Raises :class:`SparkFallback` when a value is
    outside the exactly ported rules (region time-zone names, extended years, Unicode digits).
    """
    rows = iter(rows)
    pending: list = []
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


# ============================================================================ partitions

_PART_TS = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9])?\Z")
_PART_TS_LOOSE = re.compile(r"(?:[+-][0-9]{4,}|[0-9]{5,})-[0-9]{2}-[0-9]{2} ")


def _unescape_path_name(s: str) -> str:
    """ExternalCatalogUtils.unescapePathName: `%XX` hex escapes (Integer.parseInt(_, 16))."""
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "%" and i + 2 < len(s) and re.fullmatch(r"\+?[0-9a-fA-F]+", s[i + 1:i + 3]):
            out.append(chr(int(s[i + 1:i + 3], 16)))
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


def partition_value_type(raw: str) -> Any:
    """PartitioningUtils.inferPartitionColumnValue (typeInference on, default formats).
    `raw` is the value as it appears in the path (still %-escaped)."""
    if _needs_spark(raw):
        raise SparkFallback(f"partition value {raw[:40]!r} has characters Java may parse differently")
    if _java_parse_int(raw, 32):
        return INT
    if _java_parse_int(raw, 64):
        return LONG
    bd = _big_decimal(raw)
    if bd is not None and bd[1] <= 0:
        # Decimal(bigDecimal) rescales a negative scale to 0: "1e5" -> 100000 -> decimal(6,0)
        precision = 1 if set(raw.split("e")[0].split("E")[0]) <= set("+-.0") else bd[0] - bd[1]
        if precision <= MAX_PRECISION:
            return ("decimal", precision, 0)
    if _java_parse_double(raw):
        return DOUBLE
    # timestamp: TimestampFormatter("yyyy-MM-dd HH:mm:ss[.S]") on the unescaped value, and a
    # non-null CAST(value AS TIMESTAMP)
    ts = _unescape_path_name(raw)
    m = _PART_TS.match(ts)
    if m:
        y, mo, d, h, mi, se = (int(g) for g in m.groups())
        if _valid_date(y, mo, d) and h <= 23 and mi <= 59 and se <= 59:
            return TS
    elif _PART_TS_LOOSE.match(ts):
        raise SparkFallback(f"partition timestamp form {ts!r} is not ported")
    # date: DateFormatter("yyyy-MM-dd") on the raw value, and a non-null CAST(raw AS DATE)
    if _strict_iso_date(raw):
        return DATE
    return NULL if raw == HIVE_DEFAULT_PARTITION else STRING


def _wider_partition_type(t1: Any, t2: Any) -> Any:
    """PartitioningUtils.findWiderTypeForPartitionColumn."""
    pair = {t1 if not _is_decimal(t1) else "decimal", t2 if not _is_decimal(t2) else "decimal"}
    if pair == {DOUBLE, "decimal"} or pair == {DOUBLE, LONG}:
        return STRING
    t = _tightest_common_type(t1, t2)
    if t is not None:
        return t
    # findWiderTypeForDecimal
    d1 = ("decimal", _INTEGRAL_AS_DECIMAL[t1], 0) if t1 in _INTEGRAL_AS_DECIMAL else t1
    d2 = ("decimal", _INTEGRAL_AS_DECIMAL[t2], 0) if t2 in _INTEGRAL_AS_DECIMAL else t2
    if _is_decimal(d1) and _is_decimal(d2) and (_is_decimal(t1) or _is_decimal(t2)):
        scale = max(d1[2], d2[2])
        rng = max(d1[1] - d1[2], d2[1] - d2[2])
        return ("decimal", min(rng + scale, MAX_PRECISION), min(scale, MAX_PRECISION))
    if (_is_decimal(t1) and t2 in (DOUBLE, "float")) or (_is_decimal(t2) and t1 in (DOUBLE, "float")):
        return DOUBLE
    return STRING  # stringPromotion, or no wider type: string


def infer_partition_types(values_by_column: Mapping[str, Iterable[str]] | Sequence[tuple[str, Iterable[str]]],
                          *, spark_version: str = "3.5") -> list[tuple[str, str]]:
    """Spark's partition column types from the raw ``key=value`` directory values.

    values_by_column: {column name: every raw value seen for it, one per partition directory
    (duplicates are fine; ``__HIVE_DEFAULT_PARTITION__`` is a null)} -- in column order (a dict
    keeps insertion order) or a list of (name, values) pairs.
    Returns [(name, Spark type string)]; a column that is all nulls is ``void`` (as Spark).
    Raises :class:`SparkFallback` for values outside the exactly ported forms.
    """
    _check_version(spark_version)
    items = values_by_column.items() if isinstance(values_by_column, Mapping) else values_by_column
    out = []
    for name, values in items:
        t = None
        for raw in dict.fromkeys(values):  # distinct, order kept
            vt = partition_value_type(raw)
            t = vt if t is None else _wider_partition_type(t, vt)
        if t is None or t == NULL:
            t = "void"  # NullType: a column whose every value is __HIVE_DEFAULT_PARTITION__
        out.append((name, _type_string(t)))
    return out


# ============================================================================ Parquet


def struct_type_string(items: list[str], start: str, sep: str, end: str) -> str:
    """struct<...> as PySpark's StructType.simpleString() prints it: every field, no truncation
    (the JVM's simpleString would cut at spark.sql.debug.maxToStringFields; PySpark does not)."""
    return start + sep.join(items) + end


def arrow_to_spark_type(arrow_type: Any, spark_version: str = "3.5") -> str:
    """The Spark type of a column written by pyarrow (``pq.write_table`` defaults) from this
    Arrow type. Timestamps: with a tz -> ``timestamp``; without -> ``timestamp_ntz`` (Parquet
    isAdjustedToUTC=false, spark.sql.parquet.inferTimestampNTZ.enabled=true); nanosecond units
    are rejected by Spark (raise :class:`UnsupportedParquetType`) -- pass the Parquet schema to
    :func:`parquet_schema_to_spark` when INT96 may be involved, since Arrow reads INT96 as ns."""
    import pyarrow as pa
    import pyarrow.types as pt

    _check_version(spark_version)
    t = arrow_type
    if pt.is_dictionary(t):
        return arrow_to_spark_type(t.value_type, spark_version)
    if isinstance(t, pa.ExtensionType):
        raise SparkFallback(f"Arrow extension type {t}")
    if pt.is_boolean(t):
        return "boolean"
    simple = {
        pa.int8(): "tinyint", pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint",
        pa.uint8(): "smallint", pa.uint16(): "int", pa.uint32(): "bigint", pa.uint64(): "decimal(20,0)",
        pa.float32(): "float", pa.float64(): "double", pa.date32(): "date", pa.date64(): "date",
        pa.string(): "string", pa.large_string(): "string", pa.binary(): "binary",
        pa.large_binary(): "binary",
    }
    for k, v in simple.items():
        if t == k:
            return v
    if hasattr(pa, "string_view") and t in (pa.string_view(),):
        return "string"
    if hasattr(pa, "binary_view") and t in (pa.binary_view(),):
        return "binary"
    if pt.is_fixed_size_binary(t):
        return "binary"
    if pt.is_timestamp(t):
        if t.unit == "ns":
            raise UnsupportedParquetType(f"{t}: Spark cannot read TIMESTAMP(NANOS)")
        return "timestamp" if t.tz is not None else "timestamp_ntz"
    if pt.is_decimal(t):
        if t.precision > MAX_PRECISION:
            raise UnsupportedParquetType(f"{t}: decimal precision above 38")
        return f"decimal({t.precision},{t.scale})"
    if pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t) or (
            hasattr(pt, "is_list_view") and (pt.is_list_view(t) or pt.is_large_list_view(t))):
        return f"array<{arrow_to_spark_type(t.value_type, spark_version)}>"
    if pt.is_map(t):
        return f"map<{arrow_to_spark_type(t.key_type, spark_version)},{arrow_to_spark_type(t.item_type, spark_version)}>"
    if pt.is_struct(t):
        if t.num_fields == 0:
            raise UnsupportedParquetType("empty struct")
        parts = [f"{t.field(i).name}:{arrow_to_spark_type(t.field(i).type, spark_version)}"
                 for i in range(t.num_fields)]
        return struct_type_string(parts, "struct<", ",", ">")
    if pt.is_null(t):
        return "int"  # written as INT32 with the UNKNOWN (null) logical type
    if pt.is_duration(t):
        return "bigint"  # written as a plain INT64
    if pt.is_time(t) or pt.is_interval(t) or pt.is_float16(t):
        raise UnsupportedParquetType(f"{t}: no Spark type is inferred for it")
    raise SparkFallback(f"Arrow type {t} is not mapped")


def parquet_leaf_type(col: Any, spark_version: str) -> str:
    """ParquetToSparkSchemaConverter.convertPrimitiveField for one pyarrow ColumnSchema."""
    phys = col.physical_type
    lt = col.logical_type
    kind = lt.type
    info: dict = {}
    if kind not in ("NONE", "None"):
        try:
            info = json.loads(lt.to_json())
        except (AttributeError, TypeError, ValueError):  # older pyarrow: no JSON
            info = {}
    where = f"{col.path}: {phys} ({lt})"

    def decimal() -> str:
        p, s = col.precision, col.scale
        if p > MAX_PRECISION or p < 1 or s > p:
            raise UnsupportedParquetType(f"{where}: decimal precision {p} scale {s}")
        if phys == "INT32" and p > 9 or phys == "INT64" and p > 18:
            raise UnsupportedParquetType(f"{where}: decimal precision too large for {phys}")
        return f"decimal({p},{s})"

    if phys == "BOOLEAN":
        if kind in ("NONE", "None"):
            return "boolean"
    elif phys == "FLOAT":
        if kind in ("NONE", "None"):
            return "float"
    elif phys == "DOUBLE":
        if kind in ("NONE", "None"):
            return "double"
    elif phys == "INT32":
        if kind in ("NONE", "None", "UNKNOWN"):
            return "int"  # UNKNOWN: Arrow's null type, which pyarrow writes as INT32
        if kind == "INT":
            bits, signed = int(info.get("bitWidth") or 0), info.get("isSigned")
            if signed:
                return {8: "tinyint", 16: "smallint", 32: "int"}.get(bits) or _illegal(where)
            return {8: "smallint", 16: "int", 32: "bigint"}.get(bits) or _illegal(where)
        if kind == "DATE":
            return "date"
        if kind == "DECIMAL":
            return decimal()
        return _illegal(where)
    elif phys == "INT64":
        if kind in ("NONE", "None"):
            return "bigint"
        if kind == "INT":
            bits, signed = int(info.get("bitWidth") or 0), info.get("isSigned")
            if bits == 64:
                return "bigint" if signed else "decimal(20,0)"
            return _illegal(where)
        if kind == "DECIMAL":
            return decimal()
        if kind == "TIMESTAMP":
            unit = info.get("timeUnit")
            if unit in ("milliseconds", "microseconds"):
                return "timestamp" if info.get("isAdjustedToUTC") else "timestamp_ntz"
            return _illegal(where)
        return _illegal(where)
    elif phys == "INT96":
        if kind in ("NONE", "None"):
            return "timestamp"  # spark.sql.parquet.int96AsTimestamp=true
        return _illegal(where)
    elif phys == "BYTE_ARRAY":
        if kind in ("STRING", "ENUM", "JSON"):
            return "string"
        if kind in ("NONE", "None", "BSON"):
            return "binary"  # spark.sql.parquet.binaryAsString=false
        if kind == "DECIMAL":
            return decimal()
        return _illegal(where)
    elif phys == "FIXED_LEN_BYTE_ARRAY":
        if kind == "DECIMAL":
            return decimal()
        if kind in ("NONE", "None"):
            return "binary"
        if spark_version != "3.5":
            raise SparkFallback(f"{where}: Spark {spark_version} handling not ported")
        return _illegal(where)
    return _illegal(where)


def _illegal(where: str) -> str:
    raise UnsupportedParquetType(f"Illegal Parquet type for Spark: {where}")


def parquet_schema_to_spark(schema: Any, spark_version: str = "3.5") -> list[tuple[str, str, bool]]:
    """[(column name, Spark type string, nullable)] as ``spark.read.parquet`` reports them.

    schema: a ``pyarrow.parquet.ParquetSchema`` (``ParquetFile(f).schema`` /
    ``.metadata.schema``; exact: physical and logical Parquet types are used) or a
    ``pyarrow.Schema`` (then :func:`arrow_to_spark_type` rules, for files pyarrow wrote).
    Raises :class:`UnsupportedParquetType` when Spark rejects a column's type, and
    :class:`SparkFallback` for anything not ported.
    """
    _check_version(spark_version)
    import pyarrow as pa

    if isinstance(schema, pa.Schema):
        return [(f.name, arrow_to_spark_type(f.type, spark_version), f.nullable) for f in schema]
    arrow = schema.to_arrow_schema()
    leaves = iter([schema.column(i) for i in range(len(schema))])

    def walk(t: Any) -> str:
        import pyarrow.types as pt

        if pt.is_dictionary(t):
            return walk(t.value_type)
        if pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t):
            return f"array<{walk(t.value_type)}>"
        if pt.is_map(t):
            k = walk(t.key_type)
            return f"map<{k},{walk(t.item_type)}>"
        if pt.is_struct(t):
            parts = [f"{t.field(i).name}:{walk(t.field(i).type)}" for i in range(t.num_fields)]
            if not parts:
                raise UnsupportedParquetType("empty group")
            return struct_type_string(parts, "struct<", ",", ">")
        try:
            col = next(leaves)
        except StopIteration:  # pragma: no cover - Arrow and Parquet views disagree
            raise SparkFallback("Parquet leaves and Arrow fields disagree") from None
        return parquet_leaf_type(col, spark_version)

    out = []
    for f in arrow:
        out.append((f.name, walk(f.type), f.nullable))
    if next(leaves, None) is not None:
        raise SparkFallback("Parquet leaves and Arrow fields disagree")
    return out
