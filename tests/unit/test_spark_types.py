"""Pure tests of the Spark inference ports (expected values observed on Spark 3.5.7)."""

from __future__ import annotations

import pytest

from executor.metadata.types.csv_inference import infer_csv_schema, make_safe_header
from executor.metadata.types.fallback import SparkFallback, UnsupportedParquetType
from executor.metadata.types.parquet_mapping import arrow_to_spark_type, parquet_schema_to_spark
from executor.metadata.types.partition_inference import infer_partition_types


def simple(columns):
    """[(name, simpleString)] of [(name, SparkType, ...)]: what columns.data_type stores."""
    return [(c[0], c[1].simple_string(), *c[2:]) for c in columns]


CSV_CASES = [
    (["1", "2"], "int"), (["+5"], "int"), (["12345678901234567890"], "decimal(20,0)"),
    (["1" * 39], "double"), (["1e5"], "double"), (["123."], "decimal(3,0)"), (["1.0e1"], "decimal(2,0)"),
    (["1.5"], "double"), (["1.5d"], "double"), (["2f"], "double"), (["0x1p3"], "double"), (["NaN"], "double"),
    (["Inf"], "double"), (["-Inf"], "double"), (["Infinity"], "double"), (["nan"], "string"),
    ([" 1"], "double"), (["\t1"], "double"), (["2020-01-01"], "date"), ([" 2020-01-01"], "timestamp"),
    (["2020-1-1"], "timestamp"), (["2020-01"], "timestamp"), (["2020-02-30"], "string"), (["2020-02-29"], "date"),
    (["2020-01-01 12:00:00"], "timestamp"), (["2020-01-01T12:00:00Z"], "timestamp"), (["12:30:00"], "timestamp"),
    (["T12"], "timestamp"), (["2020-01-01 12:00:00 America/New_York"], "timestamp"),
    (["2020-01-01 12:00:00z"], "string"), (["2020-01-01 12:00:00+1:30"], "timestamp"), (["2020-01-01T"], "string"),
    (["-2020-01-01"], "date"), (["12020-01-01"], "timestamp"), (["true", "FALSE"], "boolean"), ([" true"], "string"),
    (["1", "1.5"], "double"), (["1", "12345678901234567890"], "decimal(20,0)"),
    (["12345678901234567890", "1.5"], "double"), (["2020-01-01", "2020-01-01 10:00:00"], "timestamp"),
    (["1", "true"], "string"), (["1.5", "2020-01-01"], "string"),
    (["12345678901234567890", "123456789012345678901234"], "decimal(24,0)"),
    (["9223372036854775807"], "bigint"), (["", ""], "string"), (["", "3"], "int"), (["000"], "int"),
    (["5.", "1.5"], "double"), (["2020-01-01 25:00:00"], "string"), (["héllo"], "string"),
]


@pytest.mark.parametrize("values,expected", CSV_CASES)
def test_csv_value_types(values, expected):
    assert simple(infer_csv_schema(["c"], [[v] for v in values])) == [("c", expected)]


def test_csv_header_rules():
    assert make_safe_header(["a", "", "A", "b", "a"]) == ["a0", "_c1", "A2", "b", "a4"]
    assert make_safe_header(["a", "A"], case_sensitive=True) == ["a", "A"]
    assert make_safe_header(None, 3, header=False) == ["_c0", "_c1", "_c2"]
    assert simple(infer_csv_schema(None, [["1", "x"], ["2", "y"]])) == [("_c0", "int"), ("_c1", "string")]
    # short rows leave columns untouched; long rows' extra fields are ignored
    assert simple(infer_csv_schema(["a", "b"], [["1"], ["2", "2.5", "zz"]])) == [("a", "int"), ("b", "double")]
    assert simple(infer_csv_schema(["a"], [])) == [("a", "string")]


def test_csv_options_and_fallbacks():
    assert simple(infer_csv_schema(["a"], [["NA"], ["1"]], {"nullValue": "NA"})) == [("a", "int")]
    assert simple(infer_csv_schema(["a"], [["x"]], {"sep": ";", "multiLine": True, "header": True})) == [("a", "string")]
    with pytest.raises(SparkFallback):
        infer_csv_schema(["a"], [["1"]], {"dateFormat": "dd/MM/yyyy"})
    with pytest.raises(SparkFallback):
        infer_csv_schema(["a"], [["2020-01-01 12:00:00 Mars/Base"]])
    with pytest.raises(SparkFallback):
        infer_csv_schema(["a"], [["١٢"]])  # Arabic-Indic digits: Java's parseInt reads them
    with pytest.raises(SparkFallback):
        infer_csv_schema(["a"], [["1"]], spark_version="2.4")


PARTITION_CASES = [
    (["1", "2"], "int"), (["1", "3000000000"], "bigint"), (["1.5", "2"], "double"),
    (["2020-01-01", "2020-01-02"], "date"), (["2020-01-01 10%3A00%3A00"], "timestamp"), (["x", "1"], "string"),
    (["__HIVE_DEFAULT_PARTITION__", "1"], "int"), (["__HIVE_DEFAULT_PARTITION__"], "void"),
    (["12345678901234567890", "1"], "decimal(20,0)"), (["12345678901234567890", "1.5"], "string"),
    (["3000000000", "1.5"], "string"), (["2020-01-01", "2020-01-01 10%3A00%3A00"], "timestamp"),
    (["1e5"], "decimal(6,0)"), (["2020-01"], "string"), (["2020-01-01 10%3A00%3A00.5"], "timestamp"),
    (["2020-01-01 10%3A00%3A00.123"], "string"), (["NaN"], "double"), (["true"], "string"),
    (["2020-1-1"], "string"), (["2020-01-01", "5"], "string"), (["-2020-01-01"], "date"),
    (["2020-01-01T10%3A00%3A00"], "string"),
]


@pytest.mark.parametrize("values,expected", PARTITION_CASES)
def test_partition_types(values, expected):
    assert simple(infer_partition_types({"p": values})) == [("p", expected)]


def test_partition_order_kept():
    assert simple(infer_partition_types([("year", ["2020"]), ("region", ["eu"])])) == [("year", "int"), ("region", "string")]


def test_arrow_types(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    assert str(arrow_to_spark_type(pa.uint64())) == "decimal(20,0)"
    assert str(arrow_to_spark_type(pa.timestamp("ms"))) == "timestamp_ntz"
    assert str(arrow_to_spark_type(pa.timestamp("us", "UTC"))) == "timestamp"
    assert str(arrow_to_spark_type(pa.list_(pa.struct([("a", pa.int8())])))) == "array<struct<a:tinyint>>"
    assert str(arrow_to_spark_type(pa.map_(pa.string(), pa.decimal128(9, 2)))) == "map<string,decimal(9,2)>"
    assert str(arrow_to_spark_type(pa.dictionary(pa.int8(), pa.string()))) == "string"
    with pytest.raises(UnsupportedParquetType):
        arrow_to_spark_type(pa.timestamp("ns"))
    with pytest.raises(UnsupportedParquetType):
        arrow_to_spark_type(pa.time32("ms"))
    table = pa.table({"i": pa.array([1], pa.int16()), "s": ["x"], "m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64()))})
    pq.write_table(table, tmp_path / "t.parquet")
    assert simple(parquet_schema_to_spark(pq.ParquetFile(tmp_path / "t.parquet").schema)) == [
        ("i", "smallint", True), ("s", "string", True), ("m", "map<string,bigint>", True)]
