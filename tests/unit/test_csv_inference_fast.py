"""The fast paths of CSV type inference give what the rules they stand for give: a column at a
time (CsvSchemaInferrer.add_rows) against record by record (add_row), and the plain timestamp
spelling against SparkDateTimeUtils' segment parser."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.metadata.types import csv_inference, java_text
from executor.metadata.types.csv_inference import CsvSchemaInferrer
from executor.metadata.types.fallback import SparkFallback

TOKENS = ["", "1", "-7", "+3", "2147483648", "99999999999999999999", "1.5", "1e3", "NaN", "Inf", "-Inf", "0x1p3",
          " 2.5 ", "2021-01-16", "2021-02-30", "2021-01-16 15:12:51", "2021-01-16T15:12:51.123",
          "2021-01-16 24:00:00", "2021-02-29 10:00:00.5", "2020-02-29 10:00:00", "2021-01-16 15:12:51Z",
          "2021-01-16 15:12:51 Mars/Olympus", "true", "FALSE", "tRuE", "x", "\u0661", "\u00e9t\u00e9",
          "290001-01-01 00:00:00", "12:30", "T12:30:00"]


def row_by_row(rows, n, options=None):  # type: ignore[no-untyped-def]
    inf = CsvSchemaInferrer(n, options)
    try:
        for r in rows:
            inf.add_row(r)
    except SparkFallback as exc:
        return ("fallback", str(exc))
    return inf.types


def at_once(rows, n):  # type: ignore[no-untyped-def]
    inf = CsvSchemaInferrer(n)
    try:
        inf.add_rows(rows)
    except SparkFallback as exc:
        return ("fallback", str(exc))
    return inf.types


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(st.sampled_from(TOKENS), min_size=0, max_size=4), max_size=25), st.integers(1, 4))
def test_columns_at_once_equal_records_one_by_one(rows, n):
    # the same types, or the same SparkFallback (naming the first such value in record order)
    assert at_once(rows, n) == row_by_row(rows, n)


# values at the edges of the patterns matched over whole columns (csv_inference._SURE)
EDGES = ["123456789", "-123456789", "1234567890", "2147483647", "-2147483648", "123456789012345678",
         "1234567890123456789", "9223372036854775808", "+0", "-", "+", ".", "1.", ".5", "-.5e-3", "1E5", "1e", "1.5d",
         "1.5F", "0x10", "Infinity", "-NaN", "1,5", "2021-04-30", "2021-04-31", "2021-02-28", "2021-02-29",
         "2024-02-29", "2021-12-31", "2021-11-31", "2021-1-05", "0000-01-01", "+2021-01-01", "12021-01-01",
         "2021-01-16 23:59:59.999999999", "2021-06-31 00:00:00", "2021-01-16 15:12", "2021-01-16 15:12:51+01:00",
         "2021-01-16 15:12:51 UTC", "True", "TRUE", "yes", "t", "NA", " true", "1 ", None]


def by_columns(rows, n, options=None):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    inf = CsvSchemaInferrer(n, options)
    try:
        inf.add_columns([pa.array([r[i] for r in rows], pa.string()) for i in range(n)])
    except SparkFallback as exc:
        return ("fallback", str(exc))
    return inf.types


@settings(max_examples=600, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.lists(st.sampled_from(TOKENS + EDGES), min_size=n, max_size=n), max_size=30))),
    st.sampled_from([None, {"nullValue": "NA"}]))
def test_arrow_columns_equal_records_one_by_one(n_rows, options):
    # the patterns matched by Arrow over a column keep exactly what the rules keep
    n, rows = n_rows
    assert by_columns(rows, n, options) == row_by_row(rows, n, options)


@pytest.mark.parametrize("block", [1, 2, 3])
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.lists(st.sampled_from(TOKENS + EDGES), min_size=n, max_size=n), max_size=30))))
def test_columns_converted_a_block_at_a_time_equal_records_one_by_one(block, n_rows):
    # add_columns converts the values it must look at in growing blocks: the type is the same
    # wherever a block ends (blocks of 1-3 values here, 64 by default)
    n, rows = n_rows
    with mock.patch.object(csv_inference, "_FIRST_BLOCK", block):
        assert by_columns(rows, n) == row_by_row(rows, n)


@pytest.mark.parametrize("tail", [[], ["x"], ["2021-01-16"], ["7"]])
def test_a_long_column_whose_values_the_patterns_do_not_settle(tail):
    # 400 timestamps with a zone (kept by the rules, not by the sure pattern): blocks of 64, 256, ...
    column = [None, "2021-01-16 15:12:51Z"] * 200 + tail
    assert by_columns([[v] for v in column], 1) == row_by_row([[v] for v in column], 1)


@pytest.mark.parametrize("kind", sorted(csv_inference._SURE, key=str))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_every_value_a_sure_pattern_matches_keeps_its_type(kind, data):
    # the patterns are a subset of the rules: generated from each pattern, every value keeps the type
    value = data.draw(st.from_regex(csv_inference._SURE[kind].replace("$", r"\Z"), fullmatch=True))
    assert csv_inference._KEEPS[kind](value)
    assert CsvSchemaInferrer(1).widen(kind, value) is kind


@pytest.mark.parametrize("column", [
    ["1", "2", "3000000000", "4", "x"], ["1.5", "2", "1e3", "2021-01-16"], ["2021-01-16", "2021-02-29"],
    ["2021-01-16", "2021-01-16 10:00:00", "2021-04-31"], ["true", "FALSE", "1"], ["", None, "7"], [None, None],
    ["2021-01-16 15:12:51Z"] * 3 + ["2021-01-16"], ["12345678901234567890", "1"], ["\u0661", "1"]])
def test_columns_whose_type_changes_on_the_way(column):
    assert by_columns([[v] for v in column], 1) == row_by_row([[v] for v in column], 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32)), min_size=1, max_size=20),
       st.sampled_from(["", " 23:59:59", "T00:00:00.5", " 24:00:00"]))
def test_generated_dates_and_timestamps_by_columns(parts, time_part):
    rows = [[f"{y:04d}-{m:02d}-{d:02d}{time_part}"] for y, m, d in parts]
    assert by_columns(rows, 1) == row_by_row(rows, 1)


def test_a_generator_of_records_and_none_values():
    rows = [["1", None, "2021-01-16 15:12:51"], ["2", "x"], ["3", "", "2021-01-16"]]
    assert CsvSchemaInferrer(3).add_rows(iter(rows)).types == row_by_row(rows, 3)


TIMESTAMPS = ["2021-01-16 15:12:51", "2021-01-16T15:12:51", "2021-01-16 15:12:51.000000", "2021-01-16 15:12:51.1234567891",
              "2021-01-16 23:59:59", "2021-01-16 24:00:00", "2021-01-16 23:60:00", "2021-01-16 23:00:60",
              "2021-13-01 00:00:00", "2021-00-01 00:00:00", "2021-02-29 00:00:00", "2024-02-29 00:00:00",
              "1900-02-29 00:00:00", "2000-02-29 00:00:00", "2021-04-31 00:00:00", "0000-01-01 00:00:00",
              "2021-01-16 15:12:51.", "2021-01-16t15:12:51", "2021-01-16  15:12:51"]


@pytest.mark.parametrize("value", TIMESTAMPS)
def test_plain_timestamps_agree_with_the_segment_parser(value, monkeypatch):
    fast = java_text.is_timestamp(value)
    monkeypatch.setattr(java_text, "_PLAIN_TIMESTAMP", java_text.re.compile(r"(?!)"))  # never matches
    assert java_text.is_timestamp(value) == fast


@settings(max_examples=300, deadline=None)
@given(st.tuples(st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99), st.sampled_from([" ", "T"]),
                 st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.sampled_from(["", ".0", ".123456789"])))
def test_generated_plain_timestamps_agree(parts):
    y, mo, d, sep, h, mi, se, frac = parts
    value = f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{se:02d}{frac}"
    assert java_text._PLAIN_TIMESTAMP.match(value)
    segments = java_text._timestamp_segments(value)
    assert segments is not None
    seg, tz, just_time = segments
    slow = (tz is None and not just_time and 0 <= seg[3] <= 23 and 0 <= seg[4] <= 59 and 0 <= seg[5] <= 59
            and java_text.valid_date(seg[0], seg[1], seg[2]))
    assert java_text.is_timestamp(value) == slow
