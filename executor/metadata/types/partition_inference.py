"""The types Spark infers for Hive-style ``key=value`` partition columns:
``PartitioningUtils.inferPartitionColumnValue`` (typeInference on, default formats) for each
value, ``findWiderTypeForPartitionColumn`` to merge a column's values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from executor.metadata.types.algebra import (
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
)
from executor.metadata.types.fallback import SparkFallback, check_version
from executor.metadata.types.java_text import (
    big_decimal,
    java_parse_double,
    java_parse_int,
    needs_spark,
    strict_iso_date,
    valid_date,
)
from executor.metadata.types.widening import find_wider_type_for_two

__all__ = ["HIVE_DEFAULT_PARTITION", "infer_partition_types", "partition_value_type", "wider_partition_type"]

HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"

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


def _partition_decimal(raw: str) -> SparkType | None:
    """The decimal(p,0) of an integral literal too long for bigint (a scale <= 0), if it fits 38."""
    bd = big_decimal(raw)
    if bd is None or bd[1] > 0:
        return None
    # Decimal(bigDecimal) rescales a negative scale to 0: "1e5" -> 100000 -> decimal(6,0)
    precision = 1 if set(raw.split("e")[0].split("E")[0]) <= set("+-.0") else bd[0] - bd[1]
    return DecimalType(precision, 0) if precision <= MAX_PRECISION else None


def partition_value_type(raw: str) -> SparkType:
    """PartitioningUtils.inferPartitionColumnValue (typeInference on, default formats).
    `raw` is the value as it appears in the path (still %-escaped)."""
    if needs_spark(raw):
        raise SparkFallback(f"partition value {raw[:40]!r} has characters Java may parse differently")
    if java_parse_int(raw, 32):
        return INT
    if java_parse_int(raw, 64):
        return LONG
    decimal = _partition_decimal(raw)
    if decimal is not None:
        return decimal
    if java_parse_double(raw):
        return DOUBLE
    # timestamp: TimestampFormatter("yyyy-MM-dd HH:mm:ss[.S]") on the unescaped value, and a
    # non-null CAST(value AS TIMESTAMP)
    ts = _unescape_path_name(raw)
    m = _PART_TS.match(ts)
    if m:
        y, mo, d, h, mi, se = (int(g) for g in m.groups())
        if valid_date(y, mo, d) and h <= 23 and mi <= 59 and se <= 59:
            return TIMESTAMP
    elif _PART_TS_LOOSE.match(ts):
        raise SparkFallback(f"partition timestamp form {ts!r} is not ported")
    # date: DateFormatter("yyyy-MM-dd") on the raw value, and a non-null CAST(raw AS DATE)
    if strict_iso_date(raw):
        return DATE
    return NULL if raw == HIVE_DEFAULT_PARTITION else STRING


def wider_partition_type(t1: SparkType, t2: SparkType, spark_version: str = "3.5") -> SparkType:
    """PartitioningUtils.findWiderTypeForPartitionColumn: double with a decimal or with bigint
    is string; otherwise TypeCoercion.findWiderTypeForTwo, string when there is none."""
    if (t1 is DOUBLE and (isinstance(t2, DecimalType) or t2 is LONG)) or (
            t2 is DOUBLE and (isinstance(t1, DecimalType) or t1 is LONG)):
        return STRING
    return find_wider_type_for_two(t1, t2, spark_version=spark_version) or STRING


def infer_partition_types(values_by_column: Mapping[str, Iterable[str]] | Sequence[tuple[str, Iterable[str]]],
                          *, spark_version: str = "3.5") -> list[tuple[str, SparkType]]:
    """Spark's partition column types from the raw ``key=value`` directory values.

    values_by_column: {column name: every raw value seen for it, one per partition directory
    (duplicates are fine; ``__HIVE_DEFAULT_PARTITION__`` is a null)} -- in column order (a dict
    keeps insertion order) or a list of (name, values) pairs.
    Returns [(name, Spark type)]; a column that is all nulls is ``void`` (NullType, as Spark).
    Raises :class:`SparkFallback` for values outside the exactly ported forms.
    """
    check_version(spark_version)
    items = values_by_column.items() if isinstance(values_by_column, Mapping) else values_by_column
    out = []
    for name, values in items:
        t: SparkType = NULL
        for raw in dict.fromkeys(values):  # distinct, order kept
            t = wider_partition_type(t, partition_value_type(raw), spark_version)
        out.append((name, t))
    return out
