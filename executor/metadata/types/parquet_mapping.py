"""The Spark types of Parquet columns (``ParquetToSparkSchemaConverter``, default settings) and of
the Arrow types pyarrow writes: what ``spark.read.parquet(path).schema`` reports for a footer.

* :func:`parquet_schema_to_spark` -- a file's columns from its Parquet schema (physical and
  logical types, exact) or from an Arrow schema;
* :func:`parquet_leaf_type` -- convertPrimitiveField for one leaf column (also used on the
  footer's own schema tree when pyarrow refuses it, readers/parquet_footer.py);
* :func:`arrow_to_spark_type` -- one Arrow type as pyarrow writes it (ORC's reader builds on it).

Spark-refused types raise :class:`UnsupportedParquetType`; anything not ported raises
:class:`SparkFallback`. pyarrow is imported inside the functions (the module stays pure).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from executor.metadata.types.algebra import (
    BINARY,
    BOOLEAN,
    BYTE,
    DATE,
    DOUBLE,
    FLOAT,
    INT,
    LONG,
    MAX_PRECISION,
    SHORT,
    STRING,
    TIMESTAMP,
    TIMESTAMP_NTZ,
    ArrayType,
    DecimalType,
    MapType,
    SparkType,
    StructField,
    StructType,
)
from executor.metadata.types.fallback import SparkFallback, UnsupportedParquetType, check_version

__all__ = ["arrow_to_spark_type", "parquet_leaf_type", "parquet_schema_to_spark"]

_UINT64 = DecimalType(20, 0)


@functools.cache
def _plain_arrow_types() -> dict[Any, SparkType]:
    import pyarrow as pa

    plain = {
        pa.int8(): BYTE, pa.int16(): SHORT, pa.int32(): INT, pa.int64(): LONG,
        pa.uint8(): SHORT, pa.uint16(): INT, pa.uint32(): LONG, pa.uint64(): _UINT64,
        pa.float32(): FLOAT, pa.float64(): DOUBLE, pa.date32(): DATE, pa.date64(): DATE,
        pa.string(): STRING, pa.large_string(): STRING, pa.binary(): BINARY, pa.large_binary(): BINARY,
    }
    if hasattr(pa, "string_view"):
        plain[pa.string_view()] = STRING
    if hasattr(pa, "binary_view"):
        plain[pa.binary_view()] = BINARY
    return plain


def _is_arrow_list(t: Any) -> bool:
    import pyarrow.types as pt

    return bool(pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t) or (
        hasattr(pt, "is_list_view") and (pt.is_list_view(t) or pt.is_large_list_view(t))))


def arrow_to_spark_type(arrow_type: Any, spark_version: str = "3.5") -> SparkType:
    """The Spark type of a column written by pyarrow (``pq.write_table`` defaults) from this
    Arrow type. Timestamps: with a tz -> ``timestamp``; without -> ``timestamp_ntz`` (Parquet
    isAdjustedToUTC=false, spark.sql.parquet.inferTimestampNTZ.enabled=true); nanosecond units
    are rejected by Spark (raise :class:`UnsupportedParquetType`) -- pass the Parquet schema to
    :func:`parquet_schema_to_spark` when INT96 may be involved, since Arrow reads INT96 as ns."""
    import pyarrow as pa
    import pyarrow.types as pt

    check_version(spark_version)
    t = arrow_type
    if pt.is_dictionary(t):
        return arrow_to_spark_type(t.value_type, spark_version)
    if isinstance(t, pa.ExtensionType):
        raise SparkFallback(f"Arrow extension type {t}")
    if pt.is_boolean(t):
        return BOOLEAN
    for k, v in _plain_arrow_types().items():
        if t == k:
            return v
    if pt.is_fixed_size_binary(t):
        return BINARY
    if pt.is_timestamp(t):
        if t.unit == "ns":
            raise UnsupportedParquetType(f"{t}: Spark cannot read TIMESTAMP(NANOS)")
        return TIMESTAMP if t.tz is not None else TIMESTAMP_NTZ
    if pt.is_decimal(t):
        if not 0 <= t.scale <= t.precision <= MAX_PRECISION:
            raise UnsupportedParquetType(f"{t}: decimal precision above 38 (or a scale Spark refuses)")
        return DecimalType(t.precision, t.scale)
    if _is_arrow_list(t):
        return ArrayType(arrow_to_spark_type(t.value_type, spark_version), t.value_field.nullable)
    if pt.is_map(t):
        return MapType(arrow_to_spark_type(t.key_type, spark_version),
                       arrow_to_spark_type(t.item_type, spark_version), t.item_field.nullable)
    if pt.is_struct(t):
        if t.num_fields == 0:
            raise UnsupportedParquetType("empty struct")
        return StructType(tuple(StructField(t.field(i).name, arrow_to_spark_type(t.field(i).type, spark_version),
                                            t.field(i).nullable) for i in range(t.num_fields)))
    if pt.is_null(t):
        return INT  # written as INT32 with the UNKNOWN (null) logical type
    if pt.is_duration(t):
        return LONG  # written as a plain INT64
    if pt.is_time(t) or pt.is_interval(t) or pt.is_float16(t):
        raise UnsupportedParquetType(f"{t}: no Spark type is inferred for it")
    raise SparkFallback(f"Arrow type {t} is not mapped")


# the leaf's type when it has no logical type (INT32 also with UNKNOWN: Arrow's null type)
_NO_LOGICAL = {"BOOLEAN": BOOLEAN, "FLOAT": FLOAT, "DOUBLE": DOUBLE, "INT32": INT, "INT64": LONG,
               "INT96": TIMESTAMP,  # spark.sql.parquet.int96AsTimestamp=true
               "BYTE_ARRAY": BINARY,  # spark.sql.parquet.binaryAsString=false
               "FIXED_LEN_BYTE_ARRAY": BINARY}
_SIGNED = {8: BYTE, 16: SHORT, 32: INT, 64: LONG}
_UNSIGNED = {8: SHORT, 16: INT, 32: LONG, 64: _UINT64}
_NONE = ("NONE", "None")


def _illegal(where: str) -> UnsupportedParquetType:
    return UnsupportedParquetType(f"Illegal Parquet type for Spark: {where}")


def _logical_info(logical: Any) -> dict[str, Any]:
    """The logical type's parameters (bitWidth, isSigned, timeUnit, isAdjustedToUTC)."""
    try:
        info = json.loads(logical.to_json())
    except (AttributeError, TypeError, ValueError):  # older pyarrow: no JSON
        return {}
    return info if isinstance(info, dict) else {}


def _leaf_decimal(col: Any, phys: str, where: str) -> DecimalType:
    p, s = col.precision, col.scale
    if p > MAX_PRECISION or p < 1 or s > p or s < 0:
        raise UnsupportedParquetType(f"{where}: decimal precision {p} scale {s}")
    if phys == "INT32" and p > 9 or phys == "INT64" and p > 18:
        raise UnsupportedParquetType(f"{where}: decimal precision too large for {phys}")
    return DecimalType(p, s)


def parquet_leaf_type(col: Any, spark_version: str) -> SparkType:
    """ParquetToSparkSchemaConverter.convertPrimitiveField for one pyarrow ColumnSchema (or an
    object with its attributes: physical_type, logical_type, path, precision, scale)."""
    phys = col.physical_type
    lt = col.logical_type
    kind = lt.type
    where = f"{col.path}: {phys} ({lt})"
    if kind in _NONE or (phys == "INT32" and kind == "UNKNOWN"):
        plain = _NO_LOGICAL.get(phys)
        if plain is None:
            raise _illegal(where)
        return plain
    if kind == "DECIMAL" and phys in ("INT32", "INT64", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"):
        return _leaf_decimal(col, phys, where)
    if kind == "INT" and phys in ("INT32", "INT64"):
        info = _logical_info(lt)
        bits = int(info.get("bitWidth") or 0)
        if (phys == "INT32") == (bits == 64):  # INT32 holds 8-32 bit integers, INT64 64 bit ones
            raise _illegal(where)
        t = (_SIGNED if info.get("isSigned") else _UNSIGNED).get(bits)
        if t is None:
            raise _illegal(where)
        return t
    if phys == "INT32" and kind == "DATE":
        return DATE
    if phys == "INT64" and kind == "TIMESTAMP":
        info = _logical_info(lt)
        if info.get("timeUnit") in ("milliseconds", "microseconds"):
            return TIMESTAMP if info.get("isAdjustedToUTC") else TIMESTAMP_NTZ
        raise _illegal(where)
    if phys == "BYTE_ARRAY" and kind in ("STRING", "ENUM", "JSON"):
        return STRING
    if phys == "BYTE_ARRAY" and kind == "BSON":
        return BINARY
    if phys == "FIXED_LEN_BYTE_ARRAY" and spark_version != "3.5":
        raise SparkFallback(f"{where}: Spark {spark_version} handling not ported")
    raise _illegal(where)


def parquet_schema_to_spark(schema: Any, spark_version: str = "3.5") -> list[tuple[str, SparkType, bool]]:
    """[(column name, Spark type, nullable)] as ``spark.read.parquet`` reports them.

    schema: a ``pyarrow.parquet.ParquetSchema`` (``ParquetFile(f).schema`` /
    ``.metadata.schema``; exact: physical and logical Parquet types are used) or a
    ``pyarrow.Schema`` (then :func:`arrow_to_spark_type` rules, for files pyarrow wrote).
    Raises :class:`UnsupportedParquetType` when Spark rejects a column's type, and
    :class:`SparkFallback` for anything not ported.
    """
    check_version(spark_version)
    import pyarrow as pa
    import pyarrow.types as pt

    if isinstance(schema, pa.Schema):
        return [(f.name, arrow_to_spark_type(f.type, spark_version), f.nullable) for f in schema]
    leaves = iter([schema.column(i) for i in range(len(schema))])

    def walk(t: Any) -> SparkType:
        if pt.is_dictionary(t):
            return walk(t.value_type)
        if pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t):
            return ArrayType(walk(t.value_type), t.value_field.nullable)
        if pt.is_map(t):
            key = walk(t.key_type)
            return MapType(key, walk(t.item_type), t.item_field.nullable)
        if pt.is_struct(t):
            if not t.num_fields:
                raise UnsupportedParquetType("empty group")
            return StructType(tuple(StructField(t.field(i).name, walk(t.field(i).type), t.field(i).nullable)
                                    for i in range(t.num_fields)))
        try:
            col = next(leaves)
        except StopIteration:  # pragma: no cover - Arrow and Parquet views disagree
            raise SparkFallback("Parquet leaves and Arrow fields disagree") from None
        return parquet_leaf_type(col, spark_version)

    out = [(f.name, walk(f.type), f.nullable) for f in schema.to_arrow_schema()]
    if next(leaves, None) is not None:
        raise SparkFallback("Parquet leaves and Arrow fields disagree")
    return out
