"""Spark's JSON schema inference (``JsonInferSchema``, Spark 3.5 / 4.0 default options:
samplingRatio=1, prefersDecimal=false, inferTimestamp=false, PERMISSIVE mode) over parsed values.

integers -> bigint (beyond 64 bits: decimal(p,0), beyond 38 digits: double), other numbers ->
double, strings -> string, booleans -> boolean, objects -> struct<...> with fields sorted by name
(Java's String order), arrays -> array<...> (elements merged). Conflicting types merge with
:func:`compatible` (JsonInferSchema.compatibleType: TypeCoercion's tightest common type first,
then double for decimal with double, wider decimals, structs' field union, arrays by element,
anything else string); records merge with :func:`compatible_root`; :func:`canonicalize` turns
null-only fields into string and drops empty structs.
"""

from __future__ import annotations

import functools

from executor.metadata.types.algebra import (
    BOOLEAN,
    DOUBLE,
    LONG,
    MAX_PRECISION,
    NULL,
    STRING,
    ArrayType,
    DecimalType,
    SparkType,
    StructField,
    StructType,
    integral_decimal,
)
from executor.metadata.types.widening import find_tightest_common_type

__all__ = ["CORRUPT", "EMPTY_STRUCT", "canonicalize", "compatible", "compatible_root", "infer_value", "root_columns"]

CORRUPT = "_corrupt_record"  # columnNameOfCorruptRecord
EMPTY_STRUCT = StructType()
CORRUPT_ONLY = StructType((StructField(CORRUPT, STRING),))

Fields = tuple[tuple[str, SparkType], ...]


def _java_key(item: tuple[str, SparkType]) -> bytes:
    return item[0].encode("utf-16-be", "surrogatepass")


@functools.lru_cache(maxsize=4096)
def _struct(fields: Fields) -> StructType:
    """The struct of these (name, type) pairs, one object per distinct struct while it is cached:
    records of one shape give the same object, so merging them is an identity check."""
    return StructType(tuple(StructField(n, t) for n, t in fields))


@functools.lru_cache(maxsize=1024)
def _array(element: SparkType) -> ArrayType:
    return ArrayType(element)


def _struct_of(types: dict[str, SparkType]) -> StructType:
    """The struct of these fields, sorted by name as Java's String.compareTo sorts (UTF-16 code
    units; Python's order of code points differs only for names beyond ASCII)."""
    if "".join(types).isascii():
        return _struct(tuple(sorted(types.items())))
    return _struct(tuple(sorted(types.items(), key=_java_key)))


def _decimal_of_int(v: int) -> SparkType:
    digits = len(str(abs(v)))
    return DecimalType(digits, 0) if digits <= MAX_PRECISION else DOUBLE


# the types of values Python's json module gives that need no look inside (ints: by size)
_SCALARS: dict[type, SparkType] = {type(None): NULL, bool: BOOLEAN, float: DOUBLE, str: STRING}


def infer_value(v: object) -> SparkType:
    """JsonInferSchema.inferField for one value parsed by Python's json module."""
    t = _SCALARS.get(type(v))
    if t is not None:
        return t
    if type(v) is int:
        return LONG if -(2**63) <= v < 2**63 else _decimal_of_int(v)
    if isinstance(v, dict):
        return _struct_of({k: infer_value(x) for k, x in v.items()})
    if isinstance(v, bool):  # before int: bool is an int
        return BOOLEAN
    if isinstance(v, int):
        return LONG if -(2**63) <= v < 2**63 else _decimal_of_int(v)
    if isinstance(v, list):
        elem: SparkType = NULL
        for x in v:
            elem = compatible(elem, infer_value(x))
        return _array(elem)
    if isinstance(v, float):
        return DOUBLE
    return STRING


def _merge_structs(s1: StructType, s2: StructType) -> StructType:
    """The union of two structs' fields (by name, case-sensitively), common fields merged."""
    merged = {f.name: f.data_type for f in s1.fields}
    for f in s2.fields:
        merged[f.name] = compatible(merged[f.name], f.data_type) if f.name in merged else f.data_type
    return _struct_of(merged)


def compatible(t1: SparkType, t2: SparkType) -> SparkType:
    """JsonInferSchema.compatibleType: the most general type of the two."""
    if t1 is t2:
        return t1
    t = find_tightest_common_type(t1, t2)
    if t is not None:
        return t
    if (t1 is DOUBLE and isinstance(t2, DecimalType)) or (isinstance(t1, DecimalType) and t2 is DOUBLE):
        return DOUBLE
    if isinstance(t1, DecimalType) and isinstance(t2, DecimalType):
        scale = max(t1.scale, t2.scale)
        integer_range = max(t1.precision - t1.scale, t2.precision - t2.scale)
        return DOUBLE if integer_range + scale > MAX_PRECISION else DecimalType(integer_range + scale, scale)
    if isinstance(t1, StructType) and isinstance(t2, StructType):
        return _merge_structs(t1, t2)
    if isinstance(t1, ArrayType) and isinstance(t2, ArrayType):
        return ArrayType(compatible(t1.element, t2.element), t1.contains_null or t2.contains_null)
    # a decimal not wide enough for the integral type (a wide enough one is the tightest type)
    if isinstance(t2, DecimalType) and (d1 := integral_decimal(t1)) is not None:
        return compatible(d1, t2)
    if isinstance(t1, DecimalType) and (d2 := integral_decimal(t2)) is not None:
        return compatible(t1, d2)
    return STRING


def _with_corrupt(struct: StructType) -> StructType:
    if CORRUPT in struct.names:
        return struct
    return _struct_of({**{f.name: f.data_type for f in struct.fields}, CORRUPT: STRING})


def compatible_root(t1: SparkType, t2: SparkType) -> SparkType:
    """JsonInferSchema.compatibleRootType (PERMISSIVE mode): arrays of records are their records;
    a record with a value that is not a record keeps the record's fields plus the corrupt column."""
    if isinstance(t1, ArrayType):
        return compatible_root(t1.element, t2)
    if isinstance(t2, ArrayType):
        return compatible_root(t1, t2.element)
    if isinstance(t1, StructType) and t2 is NULL:
        return t1
    if t1 is NULL and isinstance(t2, StructType):
        return t2
    if isinstance(t1, StructType) and not isinstance(t2, StructType):
        return _with_corrupt(t1)
    if isinstance(t2, StructType) and not isinstance(t1, StructType):
        return _with_corrupt(t2)
    return compatible(t1, t2)


def canonicalize(t: SparkType) -> SparkType | None:
    """JsonInferSchema.canonicalizeType: null -> string, empty structs (and unnamed fields) dropped."""
    if isinstance(t, ArrayType):
        e = canonicalize(t.element)
        return None if e is None else ArrayType(e, t.contains_null)
    if isinstance(t, StructType):
        fields = []
        for f in t.fields:
            if not f.name:
                continue
            c = canonicalize(f.data_type)
            if c is not None:
                fields.append(StructField(f.name, c, f.nullable))
        return StructType(tuple(fields)) if fields else None
    if t is NULL:
        return STRING
    return t


def root_columns(root: SparkType) -> list[tuple[str, SparkType]]:
    """The table's columns [(name, Spark type)] from the merged root type."""
    c = canonicalize(root)
    if not isinstance(c, StructType):
        return []
    return [(f.name, f.data_type) for f in c.fields]
