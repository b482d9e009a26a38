"""Our pure type inference == Spark's own, on the session Spark (CSV, JSON, Parquet, partitions, widening)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from executor.metadata.readers.json import scan_json
from executor.metadata.types.algebra import (
    INT,
    LONG,
    NULL,
    ArrayType,
    DecimalType,
    MapType,
    SparkType,
    StructType,
)
from executor.metadata.types.csv_inference import infer_csv_schema
from executor.metadata.types.fallback import SparkFallback, UnsupportedParquetType
from executor.metadata.types.json_inference import root_columns
from executor.metadata.types.parquet_mapping import parquet_schema_to_spark
from executor.metadata.types.partition_inference import infer_partition_types
from executor.metadata.types.widening import find_wider_type_for_two
from tests.unit.test_spark_type_algebra import TIGHTEST, WIDER, WIDER_4_0
from tests.unit.test_spark_types import CSV_CASES, PARTITION_CASES, simple


def _spark_csv_types(spark, path: Path) -> list[tuple[str, str]]:
    schema = spark.read.csv(str(path), header=True, inferSchema=True, multiLine=True, escape='"').schema
    return [(f.name, f.dataType.simpleString()) for f in schema]


def _write_columns(path: Path, columns: list[list[str]], header: list[str] | None = None) -> list[list[str]]:
    n = max((len(c) for c in columns), default=0)
    rows = [[c[i] if i < len(c) else "" for c in columns] for i in range(n)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writerow(header or [f"c{i}" for i in range(len(columns))])
        w.writerows(rows)
    return rows


def _ours(header, rows):
    try:
        return simple(infer_csv_schema(header, rows, {"multiLine": True, "escape": '"'}))
    except SparkFallback:
        return None


def test_fixed_csv_cases_match_spark(spark, tmp_path):
    columns = [values for values, _ in CSV_CASES]
    header = [f"c{i}" for i in range(len(columns))]
    rows = _write_columns(tmp_path / "cases.csv", columns, header)
    assert _ours(header, rows) == _spark_csv_types(spark, tmp_path / "cases.csv")


def test_header_renaming_matches_spark(spark, tmp_path):
    header = ["a", "", "A", "b", "a", "Id", "id", "x y"]
    path = tmp_path / "h.csv"
    rows = _write_columns(path, [["1"], ["x"], ["2.5"], ["2020-01-01"], ["true"], ["1"], ["2"], ["q"]], header)
    assert simple(infer_csv_schema(header, rows)) == _spark_csv_types(spark, path)


def test_quoted_newlines_and_whitespace(spark, tmp_path):
    path = tmp_path / "q.csv"
    header = ["txt", "n", "pad"]
    rows = [["line one\nline two", "1", " 2 "], ['say "hi"', "2", "3"], ["", "", "  "]]
    _write_columns(path, [[r[i] for r in rows] for i in range(3)], header)
    assert simple(infer_csv_schema(header, rows)) == _spark_csv_types(spark, path)


_INT = st.integers(-(2**70), 2**70).map(str)
_DEC = st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str)
_FLOAT = st.floats(allow_nan=True, allow_infinity=True).map(repr).map(lambda s: {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(s, s))
_DATE = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(lambda d: d.strftime("%Y-%m-%d") if d.year >= 1000 else f"{d.year:04d}-{d.month:02d}-{d.day:02d}")
_TS = st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31)).flatmap(
    lambda t: st.sampled_from([t.isoformat(sep=" "), t.isoformat(), t.strftime("%Y-%m-%d %H:%M"),
                               t.isoformat() + "Z", t.isoformat(sep=" ") + "+02:00", f"{t.year}-{t.month}-{t.day}"]))
_ODD = st.sampled_from(["", "true", "False", "TRUE", "NaN", "Inf", "-Inf", "null", "1e5", "12.", ".5", "1.5f",
                        "0x10", " 1", "1 ", " 2020-01-01", "2020-01", "12:30", "T10", "abc", "-", "+", "1,5",
                        "2020-13-01", "9223372036854775808", "2147483648", "-0", "00012", "1E-3"])
_VALUE = st.one_of(_INT, _DEC, _FLOAT, _DATE, _TS, _ODD, st.text(max_size=5))
_COLUMN = st.one_of(st.lists(_VALUE, min_size=1, max_size=6),
                    st.lists(st.one_of(_INT, _ODD), min_size=1, max_size=6),
                    st.lists(st.one_of(_DATE, _TS, _ODD), min_size=1, max_size=6))


@hsettings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_COLUMN, min_size=5, max_size=40))
def test_generated_csv_columns_match_spark(spark, tmp_path_factory, columns):
    path = tmp_path_factory.mktemp("gen") / "g.csv"
    header = [f"c{i}" for i in range(len(columns))]
    rows = _write_columns(path, columns, header)
    spark_types = _spark_csv_types(spark, path)
    mismatches = []
    for i, col in enumerate(columns):
        ours = _ours(["c"], [[r[i]] for r in rows])
        if ours is None:
            continue  # we signalled a fallback: allowed, never wrong
        if ours[0][1] != spark_types[i][1]:
            mismatches.append((col, ours[0][1], spark_types[i][1]))
    assert not mismatches


PARQUET_TYPES = {
    "i8": pa.int8(), "i16": pa.int16(), "i32": pa.int32(), "i64": pa.int64(), "u8": pa.uint8(),
    "u16": pa.uint16(), "u32": pa.uint32(), "u64": pa.uint64(), "f32": pa.float32(), "f64": pa.float64(),
    "b": pa.bool_(), "s": pa.string(), "ls": pa.large_string(), "bin": pa.binary(), "lbin": pa.large_binary(),
    "fsb": pa.binary(4), "d32": pa.date32(), "d64": pa.date64(), "ts_s": pa.timestamp("s"),
    "ts_ms": pa.timestamp("ms"), "ts_us": pa.timestamp("us"), "ts_ns": pa.timestamp("ns"),
    "tsz_ms": pa.timestamp("ms", "UTC"), "tsz_us": pa.timestamp("us", "Europe/Paris"),
    "tsz_ns": pa.timestamp("ns", "UTC"), "dec": pa.decimal128(10, 2), "dec5": pa.decimal128(5, 0),
    "dec18": pa.decimal128(18, 3), "dec38": pa.decimal128(38, 10), "dec256": pa.decimal256(40, 2),
    "lst": pa.list_(pa.int32()), "llst": pa.large_list(pa.string()), "fsl": pa.list_(pa.int16(), 2),
    "st": pa.struct([("a", pa.int32()), ("b", pa.string())]), "mp": pa.map_(pa.string(), pa.float64()),
    "nested": pa.list_(pa.struct([("x", pa.map_(pa.int32(), pa.list_(pa.date32())))])),
    "dict": pa.dictionary(pa.int32(), pa.string()), "wide": pa.struct([(f"f{i}", pa.int32()) for i in range(30)]),
    "t32": pa.time32("ms"), "t64": pa.time64("us"), "dur": pa.duration("s"), "nul": pa.null(),
}


def _spark_parquet_types(spark, path):
    try:
        return [(f.name, f.dataType.simpleString()) for f in spark.read.parquet(str(path)).schema]
    except Exception:  # noqa: BLE001 - Spark rejects the file
        return None


def test_parquet_types_match_spark(spark, tmp_path):
    supported = {}
    for name, t in PARQUET_TYPES.items():
        arr = pa.array(["a", None]).dictionary_encode() if pa.types.is_dictionary(t) else pa.nulls(2, t)
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({name: arr}), path)
        try:
            ours = [(n, str(t_)) for n, t_, _ in parquet_schema_to_spark(pq.ParquetFile(path).schema)]
        except UnsupportedParquetType:
            assert _spark_parquet_types(spark, path) is None, name
            continue
        supported[name] = arr
        assert ours == _spark_parquet_types(spark, path), name
    # all supported types in one file, plus INT96
    path = tmp_path / "all.parquet"
    pq.write_table(pa.table(supported), path)
    ours = [(n, str(t_)) for n, t_, _ in parquet_schema_to_spark(pq.ParquetFile(path).schema)]
    assert ours == _spark_parquet_types(spark, path)
    path = tmp_path / "int96.parquet"
    pq.write_table(pa.table({"x": pa.array([dt.datetime(2020, 1, 1)], pa.timestamp("ns"))}), path,
                   use_deprecated_int96_timestamps=True)
    assert [(n, str(t_)) for n, t_, _ in parquet_schema_to_spark(pq.ParquetFile(path).schema)] == [("x", "timestamp")]
    assert _spark_parquet_types(spark, path) == [("x", "timestamp")]


def test_spark_written_parquet_matches(spark, tmp_path):
    df = spark.sql("select 1 as i, cast(2 as bigint) as l, cast(1.5 as decimal(12,3)) as d, 'x' as s, "
                   "current_timestamp() as ts, current_date() as dt, array(1,2) as a, map('k', 1.0D) as m, "
                   "named_struct('a', 1, 'b', 'c') as st, cast(1 as tinyint) as b, X'00' as bin")
    df.write.parquet(str(tmp_path / "sw"))
    f = next(p for p in (tmp_path / "sw").iterdir() if p.suffix == ".parquet")
    ours = [(n, str(t)) for n, t, _ in parquet_schema_to_spark(pq.ParquetFile(f).schema)]
    assert ours == _spark_parquet_types(spark, tmp_path / "sw")


def test_partition_types_match_spark(spark, tmp_path):
    for i, (values, expected) in enumerate(PARTITION_CASES):
        root = tmp_path / f"p{i}"
        for v in values:
            d = root / f"p={v}"
            d.mkdir(parents=True, exist_ok=True)
            (d / "f.txt").write_text("x\n")
        spark_type = spark.read.format("text").load(str(root)).schema["p"].dataType.simpleString()
        assert simple(infer_partition_types({"p": values})) == [("p", spark_type)], values
    # several levels at once
    root = tmp_path / "multi"
    for y in ("2020", "2021"):
        for m in ("01", "12"):
            for day in ("2020-01-01", "__HIVE_DEFAULT_PARTITION__"):
                d = root / f"year={y}" / f"month={m}" / f"day={day}"
                d.mkdir(parents=True, exist_ok=True)
                (d / "f.txt").write_text("x\n")
    schema = spark.read.format("text").load(str(root)).schema
    want = [(f.name, f.dataType.simpleString()) for f in schema if f.name != "value"]
    ours = simple(infer_partition_types({"year": ["2020", "2021"], "month": ["01", "12"],
                                         "day": ["2020-01-01", "__HIVE_DEFAULT_PARTITION__"]}))
    assert ours == want


JSON_CASES = {
    # struct fields differing only in case: TypeCoercion's tightest type matches them (caseSensitive=false)
    "case_nested": ['{"x": {"A": 1}}', '{"x": {"a": 2}}'],
    "case_top": ['{"A": 1}', '{"a": 2}'],
    "case_in_array": ['{"x": [{"A": 1}]}', '{"x": [{"a": 2.5}]}'],
    "case_sorted": ['{"x": {"b": 1, "a": "s"}}', '{"x": {"B": 1.5, "A": null}}', '{"x": {"c": 1}}'],
    # fields sorted as Java sorts strings (UTF-16 code units)
    "order": ['{"\u00e9": 1, "z": 1, "\U0001f600": 1, "\uff01": 1, "_": 1}'],
    "numbers": ['{"b": 92233720368547758070, "d": 1, "n": 123456789012345678901234567890123456789012}',
                '{"b": 1, "d": 1.5, "n": 1}', '{"e": 1e400, "f": -0.0}'],
    "conflicts": ['{"a": [1, 1.1, true, null, [], {}], "s": {"x": 1}, "t": [1]}', '{"s": 5, "t": {"y": 1}}',
                  '{"u": [{"p": 1}], "v": [[1], [2.5]]}', '{"u": [{"q": "x"}, {"p": 2.5}], "v": [["s"]]}'],
    "corrupt": ['{"a": 1}', 'not json', '[{"a": 2}, {"a": 3}]', '7', '{"a": {"b": null}}'],
    "empty": ['{"e": {}, "n": null, "arr": []}', '{"arr": [null], "m": {"k": {}}}'],
}


def test_json_types_match_spark(spark, tmp_path):
    for name, lines in JSON_CASES.items():
        path = tmp_path / f"{name}.json"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with open(path, "rb") as fh:
            ours = [(n, str(t)) for n, t in root_columns(scan_json(fh).root)]
        theirs = [(f.name, f.dataType.simpleString()) for f in spark.read.json(str(path)).schema]
        assert ours == theirs, name


def _ddl(t: SparkType) -> str:
    """`t` as a DDL type for CAST (struct field names backquoted)."""
    if isinstance(t, ArrayType):
        return f"array<{_ddl(t.element)}>"
    if isinstance(t, MapType):
        return f"map<{_ddl(t.key)},{_ddl(t.value)}>"
    if isinstance(t, StructType):
        return "struct<" + ",".join("`" + f.name.replace("`", "``") + "`:" + _ddl(f.data_type) for f in t.fields) + ">"
    return t.simple_string()


def _null_of(t: SparkType) -> str:
    return "NULL" if t is NULL else f"CAST(NULL AS {_ddl(t)})"


def _s(*names_types: tuple[str, SparkType]) -> StructType:
    return StructType.of(names_types)


# struct field names matched as spark.sql.caseSensitive=false matches them (the first struct's names kept);
# no string inside, so Spark's findWiderCommonType keeps the argument order
CASE_PAIRS = [
    (_s(("a", INT), ("B", INT)), _s(("A", LONG), ("b", INT))),
    (_s(("\u017f", INT)), _s(("S", INT))),  # LATIN SMALL LETTER LONG S: equalsIgnoreCase("ſ", "S")
    (_s(("stra\u00dfe", INT)), _s(("STRASSE", INT))),  # different lengths: no match
    (ArrayType(_s(("x", DecimalType(5, 2)))), ArrayType(_s(("X", INT)))),
    (MapType(INT, _s(("k", INT))), MapType(LONG, _s(("K", DecimalType(20, 1))))),
]


def test_widening_matches_spark(spark):
    """find_wider_type_for_two == the element type Spark's non-ANSI type coercion gives array(a, b)
    (TypeCoercion.findWiderCommonType over two types), for TypeCoercionSuite's cases and the 4.0
    decimal cases; None == Spark refuses the array (DATATYPE_MISMATCH)."""
    from pyspark.sql.utils import AnalysisException

    version = spark.version[:3]
    pairs = [(a, b) for a, b, _ in WIDER + WIDER_4_0 + TIGHTEST] + CASE_PAIRS
    before = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", "false")
    try:
        for a, b in pairs:
            for t1, t2 in ((a, b), (b, a)):
                ours = find_wider_type_for_two(t1, t2, spark_version=version)
                try:
                    element = spark.sql(f"SELECT array({_null_of(t1)}, {_null_of(t2)}) AS v").schema["v"].dataType
                    theirs = element.elementType.simpleString()
                except AnalysisException:
                    theirs = None
                assert (None if ours is None else ours.simple_string()) == theirs, (t1, t2)
    finally:
        spark.conf.set("spark.sql.ansi.enabled", before)
