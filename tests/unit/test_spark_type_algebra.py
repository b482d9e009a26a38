"""The SparkType algebra (executor/metadata/types/algebra.py) and Spark's widening rules over it.

Printing is checked against PySpark's own DataType classes (pure Python, no JVM): for any type,
simple_string() is byte for byte PySpark's simpleString() (the lane's PySpark: 3.5 or 4.0), the
JSON form reads back with every nullability flag, and the printed form parses back. The widening
tables are Spark's own test tables (TypeCoercionSuite "tightest common bound for types" and "wider
common type for decimal and array", JsonSuite "Get compatible type", CSVInferSchemaSuite), written
with this algebra; the JSON merges of names differing only in case were observed on Spark 3.5.7
and 4.0.1 (tests/integration/test_spark_types_vs_spark.py runs them on the lane's Spark).
"""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pyspark.sql import types as T

from executor.metadata.types.algebra import (
    BINARY,
    BOOLEAN,
    BYTE,
    DATE,
    DOUBLE,
    FLOAT,
    INT,
    LONG,
    NULL,
    SHORT,
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
    from_json,
    parse_type,
)
from executor.metadata.types.csv_inference import CsvSchemaInferrer, csv_compatible
from executor.metadata.types.json_inference import compatible, compatible_root, infer_value, root_columns
from executor.metadata.types.partition_inference import wider_partition_type
from executor.metadata.types.widening import (
    find_tightest_common_type,
    find_wider_type_for_two,
    force_nullable,
    java_equals_ignore_case,
)

ATOMS = [NULL, BOOLEAN, BYTE, SHORT, INT, LONG, FLOAT, DOUBLE, STRING, BINARY, DATE, TIMESTAMP, TIMESTAMP_NTZ]
_PYSPARK_ATOMS = {NULL: T.NullType(), BOOLEAN: T.BooleanType(), BYTE: T.ByteType(), SHORT: T.ShortType(),
                  INT: T.IntegerType(), LONG: T.LongType(), FLOAT: T.FloatType(), DOUBLE: T.DoubleType(),
                  STRING: T.StringType(), BINARY: T.BinaryType(), DATE: T.DateType(),
                  TIMESTAMP: T.TimestampType(), TIMESTAMP_NTZ: T.TimestampNTZType()}


def to_pyspark(t: SparkType) -> T.DataType:
    if isinstance(t, AtomicType):
        return _PYSPARK_ATOMS[t]
    if isinstance(t, DecimalType):
        return T.DecimalType(t.precision, t.scale)
    if isinstance(t, ArrayType):
        return T.ArrayType(to_pyspark(t.element), t.contains_null)
    if isinstance(t, MapType):
        return T.MapType(to_pyspark(t.key), to_pyspark(t.value), t.value_contains_null)
    assert isinstance(t, StructType)
    return T.StructType([T.StructField(f.name, to_pyspark(f.data_type), f.nullable) for f in t.fields])


def nullable(t: SparkType) -> SparkType:
    """The type with every flag true (what a simpleString stands for)."""
    if isinstance(t, ArrayType):
        return ArrayType(nullable(t.element))
    if isinstance(t, MapType):
        return MapType(nullable(t.key), nullable(t.value))
    if isinstance(t, StructType):
        return StructType(tuple(StructField(f.name, nullable(f.data_type)) for f in t.fields))
    return t


# field names parse_type reads back: no ':' or '`', and not starting with '>' (after blanks):
# simpleString does not quote names, so "struct<>:int>" could be an empty struct as well
_NAMES = st.text(st.characters(blacklist_characters=":`", blacklist_categories=("Cs",)), max_size=6).filter(
    lambda n: not n.lstrip().startswith(">"))
_DECIMALS = st.integers(1, 38).flatmap(lambda p: st.integers(0, p).map(lambda s: DecimalType(p, s)))
TYPES = st.recursive(
    st.one_of(st.sampled_from(ATOMS), _DECIMALS),
    lambda inner: st.one_of(
        st.builds(ArrayType, inner, st.booleans()),
        st.builds(MapType, inner, inner, st.booleans()),
        st.lists(st.builds(StructField, _NAMES, inner, st.booleans()), max_size=4).map(
            lambda fs: StructType(tuple(fs)))),
    max_leaves=10)


@hsettings(max_examples=300, deadline=None)
@given(TYPES)
def test_printing_is_pysparks_and_reads_back(t):
    ps = to_pyspark(t)
    assert t.simple_string() == ps.simpleString() == str(t)
    assert from_json(ps.jsonValue()) == t  # nullability flags included
    assert parse_type(t.simple_string()) == nullable(t)
    assert hash(parse_type(t.simple_string())) == hash(nullable(t))


def test_every_type_the_readers_emit_prints_as_spark():
    # the types the ported rules and the Parquet/ORC/Avro/Delta mappings produce, one of each kind
    emitted = ATOMS + [DecimalType(20, 0), DecimalType(38, 10), ArrayType(STRING), MapType(STRING, LONG, False),
                       StructType.of([("member0", INT), ("member1", STRING)]),
                       ArrayType(StructType.of([("a b", TIMESTAMP_NTZ), ("é", ArrayType(DecimalType(9, 2)))]))]
    for t in emitted:
        assert t.simple_string() == to_pyspark(t).simpleString()
    assert [t.simple_string() for t in ATOMS] == [
        "void", "boolean", "tinyint", "smallint", "int", "bigint", "float", "double", "string", "binary", "date",
        "timestamp", "timestamp_ntz"]


def test_parse_reads_ddl_spellings_and_unknown_atomic_types():
    assert parse_type("INTEGER") is INT and parse_type(" long ") is LONG and parse_type("Short") is SHORT
    assert parse_type("decimal") == DecimalType(10, 0) and parse_type("DEC(5)") == DecimalType(5, 0)
    assert parse_type("numeric(12, 3)") == DecimalType(12, 3)
    assert parse_type("STRUCT<`a:b`: INT, `c``d`:array<string>>") == StructType.of(
        [("a:b", INT), ("c`d", ArrayType(STRING))])
    assert parse_type("struct< a:int>").fields[0].name == " a"  # names are verbatim, as simpleString prints them
    assert parse_type("struct<>") == StructType()
    for other in ("char(10)", "varchar(3)", "interval day to second", "variant", "string collate UTF8_LCASE"):
        assert parse_type(other) is AtomicType(other) and parse_type(other).simple_string() == other
        assert parse_type(f"array<{other}>").simple_string() == f"array<{other}>"
    for bad in ("", "array<int", "array<>", "map<int>", "struct<a>", "int>", "12", "a<b>", "decimal(39,0)"):
        with pytest.raises(ValueError):
            parse_type(bad)


def test_from_json_reads_spark_and_delta_names():
    assert from_json("integer") is INT and from_json("long") is LONG and from_json("short") is SHORT
    assert from_json("byte") is BYTE and from_json("null") is NULL and from_json("void") is NULL
    assert from_json("decimal(10,2)") == DecimalType(10, 2)
    assert from_json({"type": "map", "keyType": "string", "valueType": "long", "valueContainsNull": False}) == \
        MapType(STRING, LONG, False)
    for bad in (3, None, {"type": "udt"}, ["int"], {"type": "array"}, {"type": "struct", "fields": [{"name": "a"}]},
                {"type": "struct", "fields": 5}, "array<int>", ""):
        with pytest.raises(ValueError):
            from_json(bad)


def test_values_are_immutable_and_atomic_types_interned():
    assert AtomicType("int") is INT and pickle.loads(pickle.dumps(INT)) is INT and copy.deepcopy(INT) is INT
    nested = ArrayType(StructType.of([("a", DecimalType(5, 2))]))
    assert pickle.loads(pickle.dumps(nested)) == nested and copy.deepcopy(nested) == nested
    assert {nested: 1}[ArrayType(StructType.of([("a", DecimalType(5, 2))]))] == 1
    assert ArrayType(INT, False) != ArrayType(INT) and StructType.of([("a", INT)]) != StructType.of([("A", INT)])
    with pytest.raises(AttributeError):
        INT.name = "bigint"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        nested.element = INT  # type: ignore[misc]
    for p, s in ((39, 0), (5, 6), (5, -1)):
        with pytest.raises(ValueError):
            DecimalType(p, s)
    assert DecimalType.bounded(71, 35) == DecimalType(38, 35)


def test_decimal_is_wider_than():
    assert DecimalType(10, 0).is_wider_than(INT) and not DecimalType(9, 0).is_wider_than(INT)
    assert DecimalType(20, 0).is_wider_than(LONG) and DecimalType(38, 18).is_wider_than(LONG)
    assert DecimalType(12, 2).is_wider_than(DecimalType(11, 1)) and not DecimalType(12, 2).is_wider_than(DecimalType(12, 1))
    assert not DecimalType(38, 0).is_wider_than(DOUBLE)


def s(*fields: tuple) -> StructType:
    """A struct from (name, type[, nullable]) tuples."""
    return StructType(tuple(StructField(*f) for f in fields))


# TypeCoercionSuite "tightest common bound for types" (Spark 3.5), symmetric
TIGHTEST = [
    (NULL, NULL, NULL), (NULL, BOOLEAN, BOOLEAN), (BOOLEAN, BOOLEAN, BOOLEAN), (INT, BOOLEAN, None),
    (LONG, BOOLEAN, None), (NULL, BYTE, BYTE), (NULL, INT, INT), (NULL, LONG, LONG), (SHORT, INT, INT),
    (SHORT, LONG, LONG), (INT, LONG, LONG), (LONG, LONG, LONG), (NULL, FLOAT, FLOAT), (NULL, DOUBLE, DOUBLE),
    (FLOAT, DOUBLE, DOUBLE), (FLOAT, FLOAT, FLOAT), (DOUBLE, DOUBLE, DOUBLE), (INT, FLOAT, FLOAT),
    (INT, DOUBLE, DOUBLE), (LONG, FLOAT, FLOAT), (LONG, DOUBLE, DOUBLE),
    (DecimalType(2, 1), DecimalType(3, 2), None), (DecimalType(2, 1), DOUBLE, None), (DecimalType(2, 1), INT, None),
    (NULL, STRING, STRING), (STRING, STRING, STRING), (INT, STRING, None), (LONG, STRING, None),
    (NULL, TIMESTAMP, TIMESTAMP), (TIMESTAMP, TIMESTAMP, TIMESTAMP), (DATE, TIMESTAMP, TIMESTAMP),
    (INT, TIMESTAMP, None), (STRING, TIMESTAMP, None),
    (DATE, TIMESTAMP_NTZ, TIMESTAMP_NTZ), (TIMESTAMP, TIMESTAMP_NTZ, TIMESTAMP),  # findWiderDateTimeType
    (INT, DecimalType(10, 0), DecimalType(10, 0)), (LONG, DecimalType(38, 18), DecimalType(38, 18)),
    (NULL, MapType(INT, STRING, False), MapType(INT, STRING, False)), (NULL, StructType(), StructType()),
    (STRING, MapType(INT, STRING), None), (ArrayType(INT), StructType(), None),
    (s(("a", INT)), s(("b", INT)), None),
    (s(("a", INT, False)), s(("a", DOUBLE, False)), s(("a", DOUBLE, False))),
    (s(("a", INT, False)), s(("a", INT, True)), s(("a", INT, True))),
    (ArrayType(INT, True), ArrayType(INT, False), ArrayType(INT, True)),
    (ArrayType(NULL, True), ArrayType(INT, False), ArrayType(INT, True)),
    (MapType(INT, STRING, True), MapType(INT, STRING, False), MapType(INT, STRING, True)),
    (MapType(NULL, NULL, True), MapType(INT, STRING, False), MapType(INT, STRING, True)),
    (s(("arr", ArrayType(INT, True), False)), s(("arr", ArrayType(INT, False), True)),
     s(("arr", ArrayType(INT, True), True))),
    (s(("null", NULL, True)), s(("null", INT, False)), s(("null", INT, True))),
    (ArrayType(NULL, False), ArrayType(INT, False), ArrayType(INT, False)),
    (MapType(NULL, NULL, False), MapType(INT, STRING, False), MapType(INT, STRING, False)),
    (s(("null", NULL, False)), s(("null", INT, False)), s(("null", INT, False))),
]


@pytest.mark.parametrize("t1,t2,expected", TIGHTEST)
def test_tightest_common_type(t1, t2, expected):
    assert find_tightest_common_type(t1, t2) == expected
    assert find_tightest_common_type(t2, t1) == expected


def test_struct_names_match_case_insensitively_unless_case_sensitive():
    a, b = s(("a", INT), ("B", INT)), s(("A", INT), ("b", INT))
    assert find_tightest_common_type(a, b) == s(("a", INT), ("B", INT))  # the first struct's names
    assert find_tightest_common_type(s(("a", INT)), s(("A", INT)), case_sensitive=True) is None
    assert find_wider_type_for_two(s(("a", INT)), s(("A", LONG))) == s(("a", LONG))
    assert java_equals_ignore_case("straße", "STRAßE") and not java_equals_ignore_case("straße", "STRASSE")
    assert java_equals_ignore_case("\u0130", "i") and java_equals_ignore_case("ſ", "S")


# TypeCoercionSuite "wider common type for decimal and array": findWiderTypeForTwo, symmetric
WIDER = [
    (DecimalType(2, 1), DecimalType(3, 2), DecimalType(3, 2)), (DecimalType(2, 1), DOUBLE, DOUBLE),
    (DecimalType(2, 1), INT, DecimalType(11, 1)), (DecimalType(2, 1), LONG, DecimalType(21, 1)),
    (DecimalType(2, 1), FLOAT, DOUBLE), (DecimalType(38, 0), DecimalType(38, 38), DecimalType(38, 38)),
    (ArrayType(SHORT, True), ArrayType(DOUBLE, False), ArrayType(DOUBLE, True)),
    (ArrayType(TIMESTAMP, False), ArrayType(STRING, True), ArrayType(STRING, True)),
    (ArrayType(ArrayType(INT), False), ArrayType(ArrayType(LONG), False), ArrayType(ArrayType(LONG), False)),
    (ArrayType(MapType(INT, FLOAT), False), ArrayType(MapType(LONG, DOUBLE), False),
     ArrayType(MapType(LONG, DOUBLE), False)),
    (ArrayType(s(("num", SHORT)), False), ArrayType(s(("num", LONG)), False), ArrayType(s(("num", LONG)), False)),
    (ArrayType(INT, False), ArrayType(DecimalType(10, 0), False), ArrayType(DecimalType(10, 0), False)),
    (ArrayType(DecimalType(36, 0), False), ArrayType(DecimalType(36, 35), False),
     ArrayType(DecimalType(38, 35), True)),
    (MapType(SHORT, TIMESTAMP, True), MapType(DOUBLE, STRING, False), MapType(DOUBLE, STRING, True)),
    (MapType(INT, ArrayType(TIMESTAMP), False), MapType(LONG, ArrayType(STRING), True),
     MapType(LONG, ArrayType(STRING), True)),
    (MapType(STRING, DecimalType(36, 0), False), MapType(STRING, DecimalType(36, 35), False),
     MapType(STRING, DecimalType(38, 35), True)),
    (MapType(INT, STRING, False), MapType(DecimalType(10, 0), STRING, False),
     MapType(DecimalType(10, 0), STRING, False)),
    (MapType(DecimalType(36, 0), STRING, False), MapType(DecimalType(36, 35), STRING, False), None),
    (s(("num", SHORT, True), ("ts", STRING, False)), s(("num", DOUBLE, False), ("ts", TIMESTAMP, True)),
     s(("num", DOUBLE, True), ("ts", STRING, True))),
    (s(("num", DecimalType(36, 0), False)), s(("num", DecimalType(36, 35), False)),
     s(("num", DecimalType(38, 35), True))),
    (s(("num", INT)), s(("num", LONG), ("str", STRING)), None),
    (INT, STRING, STRING), (STRING, TIMESTAMP, STRING), (ArrayType(LONG), ArrayType(STRING), ArrayType(STRING)),
    (MapType(LONG, INT), MapType(STRING, INT), MapType(STRING, INT)),
    (STRING, BOOLEAN, None), (STRING, BINARY, None), (BOOLEAN, INT, None),
]


@pytest.mark.parametrize("t1,t2,expected", WIDER)
def test_wider_type_for_two(t1, t2, expected):
    assert find_wider_type_for_two(t1, t2) == expected
    assert find_wider_type_for_two(t2, t1) == expected


# Spark 4.0: a wider decimal beyond 38 digits keeps its integral digits (boundedPreferIntegralDigits);
# (t1, t2, Spark 3.5's type, Spark 4.0's type)
WIDER_BY_VERSION = [
    (DecimalType(38, 0), DecimalType(38, 38), DecimalType(38, 38), DecimalType(38, 0)),
    (DecimalType(38, 38), INT, DecimalType(38, 38), DecimalType(38, 28)),
    (DecimalType(20, 19), LONG, DecimalType(38, 19), DecimalType(38, 18)),
    (ArrayType(DecimalType(36, 0), False), ArrayType(DecimalType(36, 35), False),
     ArrayType(DecimalType(38, 35), True), ArrayType(DecimalType(38, 2), False)),
    (MapType(STRING, DecimalType(36, 0), False), MapType(STRING, DecimalType(36, 35), False),
     MapType(STRING, DecimalType(38, 35), True), MapType(STRING, DecimalType(38, 2), False)),
    (MapType(DecimalType(36, 0), STRING, False), MapType(DecimalType(36, 35), STRING, False),
     None, MapType(DecimalType(38, 2), STRING, False)),
    (s(("num", DecimalType(36, 0), False)), s(("num", DecimalType(36, 35), False)),
     s(("num", DecimalType(38, 35), True)), s(("num", DecimalType(38, 2), False))),
]
WIDER_4_0 = [(t1, t2, t40) for t1, t2, _, t40 in WIDER_BY_VERSION]


@pytest.mark.parametrize("t1,t2,on_3_5,on_4_0", WIDER_BY_VERSION)
def test_wider_decimals_by_spark_version(t1, t2, on_3_5, on_4_0):
    for a, b in ((t1, t2), (t2, t1)):
        assert find_wider_type_for_two(a, b) == find_wider_type_for_two(a, b, spark_version="3.5") == on_3_5
        assert find_wider_type_for_two(a, b, spark_version="4.0") == on_4_0


def test_force_nullable():
    assert not force_nullable(INT, LONG) and not force_nullable(INT, DecimalType(10, 0))
    assert force_nullable(INT, DecimalType(9, 0)) and force_nullable(DecimalType(36, 0), DecimalType(38, 35))
    assert not force_nullable(DecimalType(5, 2), DecimalType(10, 1))  # a wider integer range rounds, never overflows
    assert force_nullable(STRING, INT) and not force_nullable(INT, STRING) and not force_nullable(NULL, INT)
    assert not force_nullable(DATE, TIMESTAMP) and force_nullable(DOUBLE, LONG) and force_nullable(FLOAT, TIMESTAMP)


SYSTEM_DEFAULT = DecimalType(38, 18)
# JsonSuite "Get compatible type" (JsonInferSchema.compatibleType), symmetric
JSON_COMPATIBLE = [
    (NULL, BOOLEAN, BOOLEAN), (NULL, INT, INT), (NULL, LONG, LONG), (NULL, DOUBLE, DOUBLE),
    (NULL, SYSTEM_DEFAULT, SYSTEM_DEFAULT), (NULL, STRING, STRING), (NULL, ArrayType(INT), ArrayType(INT)),
    (NULL, StructType(), StructType()), (NULL, NULL, NULL),
    (BOOLEAN, BOOLEAN, BOOLEAN), (BOOLEAN, INT, STRING), (BOOLEAN, LONG, STRING), (BOOLEAN, DOUBLE, STRING),
    (BOOLEAN, SYSTEM_DEFAULT, STRING), (BOOLEAN, STRING, STRING), (BOOLEAN, ArrayType(INT), STRING),
    (BOOLEAN, StructType(), STRING),
    (INT, INT, INT), (INT, LONG, LONG), (INT, DOUBLE, DOUBLE), (INT, SYSTEM_DEFAULT, SYSTEM_DEFAULT),
    (INT, STRING, STRING), (INT, ArrayType(INT), STRING), (INT, StructType(), STRING),
    (LONG, LONG, LONG), (LONG, DOUBLE, DOUBLE), (LONG, SYSTEM_DEFAULT, SYSTEM_DEFAULT), (LONG, STRING, STRING),
    (LONG, ArrayType(INT), STRING), (LONG, StructType(), STRING),
    (DOUBLE, DOUBLE, DOUBLE), (DOUBLE, SYSTEM_DEFAULT, DOUBLE), (DOUBLE, STRING, STRING),
    (DOUBLE, ArrayType(INT), STRING), (DOUBLE, StructType(), STRING),
    (SYSTEM_DEFAULT, SYSTEM_DEFAULT, SYSTEM_DEFAULT), (SYSTEM_DEFAULT, STRING, STRING),
    (SYSTEM_DEFAULT, ArrayType(INT), STRING), (SYSTEM_DEFAULT, StructType(), STRING),
    (STRING, STRING, STRING), (STRING, ArrayType(INT), STRING), (STRING, StructType(), STRING),
    (ArrayType(INT), ArrayType(INT), ArrayType(INT)), (ArrayType(INT), ArrayType(LONG), ArrayType(LONG)),
    (ArrayType(INT), ArrayType(STRING), ArrayType(STRING)), (ArrayType(INT), StructType(), STRING),
    (ArrayType(INT, True), ArrayType(INT, False), ArrayType(INT, True)),
    (ArrayType(INT, False), ArrayType(INT, False), ArrayType(INT, False)),
    (StructType(), StructType(), StructType()),
    (s(("f1", INT)), s(("f1", INT)), s(("f1", INT))), (s(("f1", INT)), StructType(), s(("f1", INT))),
    (s(("f1", INT), ("f2", INT)), s(("f1", LONG)), s(("f1", LONG), ("f2", INT))),
    (s(("f1", INT)), s(("f2", INT)), s(("f1", INT), ("f2", INT))), (s(("f1", INT)), SYSTEM_DEFAULT, STRING),
    # beyond the suite: decimals too narrow for bigint, too wide for 38 digits
    (LONG, DecimalType(19, 0), DecimalType(20, 0)), (DecimalType(38, 0), DecimalType(2, 1), DOUBLE),
]


@pytest.mark.parametrize("t1,t2,expected", JSON_COMPATIBLE)
def test_json_compatible_type(t1, t2, expected):
    assert compatible(t1, t2) == expected
    assert compatible(t2, t1) == expected


def json_columns(*records: object) -> list[tuple[str, str]]:
    root: SparkType = StructType()
    for r in records:
        root = compatible_root(root, infer_value(r))
    return [(n, str(t)) for n, t in root_columns(root)]


def test_json_inference_merges():
    # observed with spark.read.json on Spark 3.5.7 and 4.0.1 (tests/integration/test_spark_types_vs_spark.py)
    assert json_columns({"x": {"A": 1}}, {"x": {"a": 2}}) == [("x", "struct<A:bigint>")]
    assert json_columns({"A": 1}, {"a": 2}) == [("A", "bigint")]
    assert json_columns({"x": [{"A": 1}]}, {"x": [{"a": 2.5}]}) == [("x", "array<struct<A:double>>")]
    # JsonSuite "Type conflict in complex field values" / "in array elements"
    assert json_columns({"num_struct": 11, "array": [], "struct": {}}, {"num_struct": {"field": False}},
                        {"array": [4, 5, 6], "struct": {"field": "str"}}) == [
        ("array", "array<bigint>"), ("num_struct", "string"), ("struct", "struct<field:string>")]
    assert json_columns({"a": [1, 1.1, True, None, [], {}, [2, 3, 4], {"field": "str"}]}) == [("a", "array<string>")]
    assert json_columns({"b": 92233720368547758070}, {"b": 1}) == [("b", "decimal(20,0)")]
    assert json_columns({"é": 1, "z": 1, "\U0001f600": 1, "\uff01": 1}) == [
        ("z", "bigint"), ("é", "bigint"), ("\U0001f600", "bigint"), ("\uff01", "bigint")]  # UTF-16 order
    assert json_columns({"e": {}, "n": None, "": 1}) == [("n", "string")]


# CSVInferSchemaSuite: mergeRowTypes and inferField
def test_csv_merges():
    assert CsvSchemaInferrer(1).merge(CsvSchemaInferrer(1)).types == [NULL]
    for a, b, merged in ((STRING, DOUBLE, STRING), (INT, LONG, LONG), (DOUBLE, LONG, DOUBLE), (BOOLEAN, INT, NULL)):
        left, right = CsvSchemaInferrer(1), CsvSchemaInferrer(1)
        left.types, right.types = [a], [b]
        assert left.merge(right).types == [merged]
    inf = CsvSchemaInferrer(1)
    assert inf.widen(NULL, f"{2**63 - 1}1") == DecimalType(20, 0)
    assert inf.widen(DecimalType(20, 0), "2015-12-01 00:00:00") is STRING
    assert csv_compatible(INT, DecimalType(3, 0)) == DecimalType(10, 0)
    assert csv_compatible(DecimalType(38, 0), DecimalType(10, 5)) is DOUBLE
    assert csv_compatible(DATE, TIMESTAMP) is TIMESTAMP and csv_compatible(BOOLEAN, DATE) is None


def test_partition_merges():
    # PartitioningUtils.findWiderTypeForPartitionColumn
    assert wider_partition_type(INT, LONG) is LONG and wider_partition_type(DOUBLE, LONG) is STRING
    assert wider_partition_type(DOUBLE, DecimalType(20, 0)) is STRING
    assert wider_partition_type(INT, DecimalType(20, 0)) == DecimalType(20, 0)
    assert wider_partition_type(INT, DOUBLE) is DOUBLE and wider_partition_type(DATE, TIMESTAMP) is TIMESTAMP
    assert wider_partition_type(INT, STRING) is STRING and wider_partition_type(DATE, INT) is STRING
    assert wider_partition_type(NULL, DATE) is DATE
