"""Spark types as plain JSON data and back, losslessly (nullability flags, void, empty structs, field
order and names of any text included): what a record keeps of a type an incremental run restores
(executor.metadata.incremental), where `simple_string()` would lose the flags and cannot name every field.

Forms: an atomic type is its name (``"bigint"``, ``"void"``); ``["decimal", p, s]``;
``["array", element, contains_null]``; ``["map", key, value, value_contains_null]``;
``["struct", [[name, type, nullable], ...]]``.
"""

from __future__ import annotations

from typing import Any

from executor.metadata.types.algebra import (
    ArrayType,
    AtomicType,
    DecimalType,
    MapType,
    SparkType,
    StructField,
    StructType,
)

__all__ = ["decode_type", "encode_type"]


def encode_type(t: SparkType) -> Any:
    """`t` as JSON data (decode_type gives an equal type back); TypeError for a type outside the algebra."""
    if isinstance(t, AtomicType):
        return t.name
    if isinstance(t, DecimalType):
        return ["decimal", t.precision, t.scale]
    if isinstance(t, ArrayType):
        return ["array", encode_type(t.element), t.contains_null]
    if isinstance(t, MapType):
        return ["map", encode_type(t.key), encode_type(t.value), t.value_contains_null]
    if isinstance(t, StructType):
        return ["struct", [[f.name, encode_type(f.data_type), f.nullable] for f in t.fields]]
    raise TypeError(f"not a Spark type: {type(t).__name__}")


def decode_type(data: Any) -> SparkType:
    """encode_type's type again; ValueError for data that is not one of its forms."""
    if isinstance(data, str):
        return AtomicType(data)
    try:
        kind = data[0]
        if kind == "decimal" and len(data) == 3:
            return DecimalType(int(data[1]), int(data[2]))
        if kind == "array" and len(data) == 3:
            return ArrayType(decode_type(data[1]), bool(data[2]))
        if kind == "map" and len(data) == 4:
            return MapType(decode_type(data[1]), decode_type(data[2]), bool(data[3]))
        if kind == "struct" and len(data) == 2:
            return StructType(tuple(StructField(str(n), decode_type(t), bool(nl)) for n, t, nl in data[1]))
    except (IndexError, KeyError, TypeError) as exc:
        raise ValueError(f"not an encoded Spark type: {str(data)[:200]} ({exc})") from None
    raise ValueError(f"not an encoded Spark type: {str(data)[:200]}")
