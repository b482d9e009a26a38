"""Spark's type widening (``TypeCoercion``, Spark 3.5 / 4.0 with default settings) over the algebra.

* :func:`find_tightest_common_type` -- findTightestCommonType: the type both fit without any loss
  (null -> anything, integral -> a decimal wide enough, numeric precedence, date -> timestamp,
  arrays/maps/structs field by field);
* :func:`find_wider_type_for_decimal` -- findWiderTypeForDecimal (decimals widened, capped at 38;
  a decimal with float/double -> double). Above 38 digits Spark 3.5 keeps the fraction digits
  (DecimalType.bounded), Spark 4.0 the integral ones (boundedPreferIntegralDigits, unless
  spark.sql.legacy.decimal.retainFractionDigitsOnTruncate): the one rule here that differs by
  `spark_version`;
* :func:`find_wider_type_for_two` -- findWiderTypeForTwo: the two above, then string promotion,
  then complex types field by field.

The format rule sets (CSV, JSON, partitions) build their own merges on these, as Spark does.
Struct field names are matched as ``spark.sql.caseSensitive=false`` matches them (Java's
equalsIgnoreCase) unless `case_sensitive`. Nullability flags follow Spark's too (either side's,
or Cast.forceNullable of the widening), though simpleString never prints them.
"""

from __future__ import annotations

from collections.abc import Callable

from executor.metadata.types.algebra import (
    BINARY,
    BOOLEAN,
    DATE,
    DOUBLE,
    FLOAT,
    INTEGRAL,
    NULL,
    NUMERIC_PRECEDENCE,
    STRING,
    TIMESTAMP,
    TIMESTAMP_NTZ,
    ArrayType,
    AtomicType,
    DecimalType,
    MapType,
    SparkType,
    StructField,
    StructType,
    integral_decimal,
)

__all__ = [
    "find_tightest_common_type", "find_type_for_complex", "find_wider_datetime_type", "find_wider_type_for_decimal",
    "find_wider_type_for_two", "force_nullable", "is_integral", "java_equals_ignore_case", "string_promotion",
    "wider_decimal_type",
]

_INTEGRAL = frozenset(INTEGRAL)
_PRECEDENCE = {t: i for i, t in enumerate(NUMERIC_PRECEDENCE)}
_DATETIME = frozenset((DATE, TIMESTAMP, TIMESTAMP_NTZ))

Widen = Callable[[SparkType, SparkType], "SparkType | None"]


def is_integral(t: SparkType) -> bool:
    """tinyint, smallint, int or bigint (Spark's IntegralType)."""
    return isinstance(t, AtomicType) and t in _INTEGRAL


def _numeric(t: SparkType) -> int | None:
    """The position of a non-decimal numeric type in numericPrecedence, else None."""
    return _PRECEDENCE.get(t) if isinstance(t, AtomicType) else None


def find_wider_datetime_type(t1: SparkType, t2: SparkType) -> SparkType:
    """findWiderDateTimeType of two different datetime types: a timestamp with a date is that
    timestamp; timestamp with timestamp_ntz is timestamp."""
    if TIMESTAMP in (t1, t2):
        return TIMESTAMP
    return TIMESTAMP_NTZ


def find_tightest_common_type(t1: SparkType, t2: SparkType, *, case_sensitive: bool = False) -> SparkType | None:
    """TypeCoercion.findTightestCommonType: the common type both widen to without loss, or None."""
    if t1 is t2 or t1 == t2:
        return t1
    if t1 is NULL:
        return t2
    if t2 is NULL:
        return t1
    if isinstance(t2, DecimalType) and is_integral(t1) and t2.is_wider_than(t1):
        return t2
    if isinstance(t1, DecimalType) and is_integral(t2) and t1.is_wider_than(t2):
        return t1
    n1, n2 = _numeric(t1), _numeric(t2)
    if n1 is not None and n2 is not None:
        return NUMERIC_PRECEDENCE[max(n1, n2)]
    if t1 in _DATETIME and t2 in _DATETIME:
        return find_wider_datetime_type(t1, t2)

    def tightest(a: SparkType, b: SparkType) -> SparkType | None:
        return find_tightest_common_type(a, b, case_sensitive=case_sensitive)

    return find_type_for_complex(t1, t2, tightest, case_sensitive=case_sensitive)


def wider_decimal_type(d1: DecimalType, d2: DecimalType, spark_version: str = "3.5") -> DecimalType:
    """DecimalPrecision.widerDecimalType: the larger integer range and scale, capped at 38 (Spark
    3.5 drops integral digits beyond 38, Spark 4.0 fraction digits)."""
    scale = max(d1.scale, d2.scale)
    integer_range = max(d1.precision - d1.scale, d2.precision - d2.scale)
    if spark_version == "3.5":
        return DecimalType.bounded(integer_range + scale, scale)
    return DecimalType.bounded_prefer_integral_digits(integer_range + scale, scale)


def find_wider_type_for_decimal(t1: SparkType, t2: SparkType, spark_version: str = "3.5") -> SparkType | None:
    """TypeCoercion.findWiderTypeForDecimal: a wider decimal when one side is a decimal and the
    other a decimal or an integral type; double for a decimal with float or double; else None."""
    d1 = t1 if isinstance(t1, DecimalType) else integral_decimal(t1)
    d2 = t2 if isinstance(t2, DecimalType) else integral_decimal(t2)
    if d1 is not None and d2 is not None and (isinstance(t1, DecimalType) or isinstance(t2, DecimalType)):
        return wider_decimal_type(d1, d2, spark_version)
    if (isinstance(t1, DecimalType) and t2 in (FLOAT, DOUBLE)) or (isinstance(t2, DecimalType) and t1 in (FLOAT, DOUBLE)):
        return DOUBLE
    return None


def _promotable(t: SparkType) -> bool:
    """An AtomicType of Spark's other than binary and boolean (numbers, decimals, dates, strings)."""
    return isinstance(t, DecimalType) or (isinstance(t, AtomicType) and t not in (NULL, BINARY, BOOLEAN))


def string_promotion(t1: SparkType, t2: SparkType) -> SparkType | None:
    """TypeCoercion.stringPromotion: string with an atomic type other than binary/boolean."""
    if (t1 is STRING and _promotable(t2)) or (t2 is STRING and _promotable(t1)):
        return STRING
    return None


def find_wider_type_for_two(t1: SparkType, t2: SparkType, *, case_sensitive: bool = False,
                            spark_version: str = "3.5") -> SparkType | None:
    """TypeCoercion.findWiderTypeForTwo: tightest, else wider decimal, else string promotion, else
    arrays/maps/structs widened the same way field by field; None when there is no wider type."""

    def wider(a: SparkType, b: SparkType) -> SparkType | None:
        return find_wider_type_for_two(a, b, case_sensitive=case_sensitive, spark_version=spark_version)

    t = find_tightest_common_type(t1, t2, case_sensitive=case_sensitive)
    if t is None:
        t = find_wider_type_for_decimal(t1, t2, spark_version)
    if t is None:
        t = string_promotion(t1, t2)
    if t is None:
        t = find_type_for_complex(t1, t2, wider, case_sensitive=case_sensitive)
    return t


def _null_safe_to_decimal(src: SparkType, dst: DecimalType) -> bool:
    """Cast.canNullSafeCastToDecimal: every value of `src` fits `dst` (no overflow to null)."""
    if src is BOOLEAN:
        return dst.is_wider_than(DecimalType(1, 0))
    if dst.is_wider_than(src):
        return True
    return isinstance(src, DecimalType) and dst.precision - dst.scale > src.precision - src.scale


def force_nullable(src: SparkType, dst: SparkType) -> bool:
    """Cast.forceNullable: casting non-null `src` values to `dst` may give null (an overflow, an
    unparsable string, a NaN into an integer)."""
    if src is NULL or src is dst or src == dst:
        return False
    if src is STRING:
        return dst is not BINARY
    if dst is STRING:
        return False
    if src in (FLOAT, DOUBLE) and dst is TIMESTAMP:
        return True
    if src is TIMESTAMP and dst is DATE:
        return False
    if dst is DATE:
        return True
    if src is DATE and dst in (TIMESTAMP, TIMESTAMP_NTZ):
        return False
    if src is DATE:
        return True
    if isinstance(dst, DecimalType):
        return not _null_safe_to_decimal(src, dst)
    return (src in (FLOAT, DOUBLE) or isinstance(src, DecimalType)) and is_integral(dst)


def find_type_for_complex(t1: SparkType, t2: SparkType, widen: Widen, *,
                          case_sensitive: bool = False) -> SparkType | None:
    """TypeCoercion.findTypeForComplex: arrays by element, maps by key (a key cast that may give
    null is refused) and value, structs of the same length field by field (names matched by the
    resolver; the first struct's names kept). A flag is true when either side's is, or when
    widening that side may give null (Cast.forceNullable)."""
    if isinstance(t1, ArrayType) and isinstance(t2, ArrayType):
        e = widen(t1.element, t2.element)
        if e is None:
            return None
        return ArrayType(e, t1.contains_null or t2.contains_null or force_nullable(t1.element, e)
                         or force_nullable(t2.element, e))
    if isinstance(t1, MapType) and isinstance(t2, MapType):
        k = widen(t1.key, t2.key)
        if k is None or force_nullable(t1.key, k) or force_nullable(t2.key, k):
            return None
        v = widen(t1.value, t2.value)
        if v is None:
            return None
        return MapType(k, v, t1.value_contains_null or t2.value_contains_null or force_nullable(t1.value, v)
                       or force_nullable(t2.value, v))
    if isinstance(t1, StructType) and isinstance(t2, StructType) and len(t1.fields) == len(t2.fields):
        fields = []
        for f1, f2 in zip(t1.fields, t2.fields):
            if not (f1.name == f2.name or (not case_sensitive and java_equals_ignore_case(f1.name, f2.name))):
                return None
            t = widen(f1.data_type, f2.data_type)
            if t is None:
                return None
            fields.append(StructField(f1.name, t, f1.nullable or f2.nullable or force_nullable(f1.data_type, t)
                                      or force_nullable(f2.data_type, t)))
        return StructType(tuple(fields))
    return None


def _java_upper(c: str) -> str:
    """Character.toUpperCase: the simple (one character) mapping."""
    u = c.upper()
    return u if len(u) == 1 else c


def _java_lower(c: str) -> str:
    """Character.toLowerCase: the simple (one character) mapping."""
    if c == "\u0130":  # LATIN CAPITAL LETTER I WITH DOT ABOVE: simple lower case is 'i'
        return "i"
    low = c.lower()
    return low if len(low) == 1 else c


def java_equals_ignore_case(a: str, b: str) -> bool:
    """String.equalsIgnoreCase (SQLConf's case-insensitive resolver): same length, and each pair
    of characters equal, equal in upper case, or equal in lower case of upper case."""
    if len(a) != len(b):
        return False
    if a.isascii() and b.isascii():
        return a.lower() == b.lower()
    for x, y in zip(a, b):
        if x == y:
            continue
        ux, uy = _java_upper(x), _java_upper(y)
        if ux != uy and _java_lower(ux) != _java_lower(uy):
            return False
    return True
