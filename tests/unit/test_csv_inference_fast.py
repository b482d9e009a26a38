"""The fast paths of CSV type inference give what the rules they stand for give: a column at a
time (CsvSchemaInferrer.add_rows) against record by record (add_row), and the plain timestamp
spelling against SparkDateTimeUtils' segment parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.metadata.types import java_text
from executor.metadata.types.csv_inference import CsvSchemaInferrer
from executor.metadata.types.fallback import SparkFallback

TOKENS = ["", "1", "-7", "+3", "2147483648", "99999999999999999999", "1.5", "1e3", "NaN", "Inf", "-Inf", "0x1p3",
          " 2.5 ", "2021-01-16", "2021-02-30", "2021-01-16 15:12:51", "2021-01-16T15:12:51.123",
          "2021-01-16 24:00:00", "2021-02-29 10:00:00.5", "2020-02-29 10:00:00", "2021-01-16 15:12:51Z",
          "2021-01-16 15:12:51 Mars/Olympus", "true", "FALSE", "tRuE", "x", "\u0661", "\u00e9t\u00e9",
          "290001-01-01 00:00:00", "12:30", "T12:30:00"]


def row_by_row(rows, n):  # type: ignore[no-untyped-def]
    inf = CsvSchemaInferrer(n)
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
