"""The pyarrow profile gives the same facts as the plain-Python ColumnProfiler."""

from __future__ import annotations

import datetime as dt
import struct

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.metadata.profile import ColumnProfiler, profile_column


def both(values, type_string, text):
    fast = profile_column(values, type_string, "exact", text=text)
    py = values.to_pylist() if hasattr(values, "to_pylist") else values
    slow = ColumnProfiler(type_string, text=text).add_all(py).result("exact")
    return fast, slow


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.just(""), st.integers(-10**12, 10**12).map(str)), max_size=40))
def test_csv_integers(values):
    fast, slow = both(values, "bigint", True)
    assert fast == slow


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.just(""), st.floats(allow_nan=False, allow_infinity=False).map(repr)), max_size=40))
def test_csv_doubles(values):
    fast, slow = both(values, "double", True)
    assert fast == slow


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.just(""), st.text(max_size=6)), max_size=40))
def test_csv_strings(values):
    fast, slow = both(values, "string", True)
    assert fast == slow


@pytest.mark.parametrize("values,type_string", [
    (["2024-01-02", "", "2023-12-31"], "date"),
    (["2024-01-02 10:00:00", "2024-01-01 09:00:00"], "timestamp"),
    (["true", "false", ""], "boolean"),
    (["1.5", "NaN", "-2"], "double"),
    (["123456789012345678901", "5"], "decimal(21,0)"),
    (["2020-1-1", "2020-01-02 10:00"], "timestamp"),  # Arrow cannot cast: the slow path answers
    # hexadecimal text past the inference sample: Arrow's cast reads 0x10 as 16, the rules do not
    (["0x10", "7", "12"], "int"), (["3", "0X1F", ""], "bigint"), (["-0x5", "2"], "bigint"),
])
def test_csv_typed_columns(values, type_string):
    fast, slow = both(values, type_string, True)
    assert fast == slow


@pytest.mark.parametrize("array,type_string", [
    (pa.array([3, None, 1, 3], pa.int32()), "int"),
    (pa.array([1.5, float("nan"), None], pa.float64()), "double"),
    (pa.array(["b", "a", None]), "string"),
    (pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), None], pa.timestamp("us", tz="UTC")), "timestamp"),
    (pa.array([b"\x00", b"\x01"]), "binary"),
    (pa.array([[1], [2, 3], None]), "array<bigint>"),
    (pa.array([True, False, None]), "boolean"),
])
def test_arrow_columns(array, type_string):
    fast, slow = both(array, type_string, False)
    assert fast == slow


def test_types_are_read_as_spark_types_not_by_prefix():
    """orderable() and the comparisons read the column's data_type as a Spark type: DDL spellings
    and case count, a struct whose first field is named `decimal` is not a decimal."""
    from executor.metadata.profile import orderable

    for t in ("int", "INT", "bigint", "decimal(10,2)", "DECIMAL(5)", "double", "string", "date", "timestamp",
              "timestamp_ntz", "boolean", "char(3)", "varchar(10)"):
        assert orderable(t), t
    for t in ("binary", "array<int>", "map<string,int>", "struct<decimal:int>", "struct<string:int>",
              "interval day", "void", "not a type<"):
        assert not orderable(t), t
    assert profile_column(["10", "9", ""], "DECIMAL(5)", "exact", text=True).max_value == "10"  # was a ValueError
    assert profile_column(["10", "9", ""], "struct<decimal:int>", "exact", text=True).max_value is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=4)), max_size=40), st.integers(0, 40),
       st.sampled_from([pa.string(), pa.large_string()]), st.booleans())
def test_arrow_string_columns_whole_or_chunked(values, cut, typ, text):
    # distinct counts of strings come from pc.unique (less the null), others from count_distinct
    if text:
        values = [v for v in values if v is not None]
    array = pa.chunked_array([pa.array(values[:cut], typ), pa.array(values[cut:], typ)], typ)
    for column in (array, array.combine_chunks()):
        fast, slow = both(column, "string", text)
        assert fast == slow


def test_hexadecimal_text_is_found_in_slices_and_chunks_only_where_it_is():
    from executor.metadata.profile import _holds_any

    a = pa.array(["1", "0x5", "3"])
    hexa = (b"x", b"X")
    assert _holds_any(a, hexa) and _holds_any(pa.array(["0X1"], pa.large_string()), hexa)
    assert not _holds_any(a.slice(2), hexa) and not _holds_any(a.slice(0, 1), hexa)  # the buffer's other bytes
    assert _holds_any(pa.chunked_array([a.slice(2), a]), hexa) and not _holds_any(pa.array(["", None]), hexa)
    # a slice past the hex value: Arrow's cast and the rules agree, the fast path answers
    fast, slow = both(pa.array(["0x10", "7", "12"]).slice(1), "int", True)
    assert fast == slow and fast.max_value == "12"


@pytest.mark.parametrize("values", [["3", "1", "2", "7"], ["3", "", "2", "7"], ["1", "2", "4", ""], ["", "1", "2", ""], [None, "5", "4", "6"]])
@pytest.mark.parametrize("type_string", ["bigint", "string"])
def test_a_sliced_text_column_counts_its_own_empty_values(values, type_string):
    """A CSV sample column is a slice of the parsed file's column: '' and nulls are looked for in
    the slice's own values (its offsets start past the file's first records), not around it."""
    column = pa.array(["x", "yy", *values, "z"], pa.string()).slice(2, len(values))
    fast = profile_column(column, type_string, "exact", text=True)
    slow = ColumnProfiler(type_string, text=True).add_all(values).result("exact")
    assert fast == slow
    assert fast.null_count == sum(1 for v in values if not v)


_MONOTONIC_TYPES = [(pa.int8(), "tinyint"), (pa.int64(), "bigint"), (pa.uint16(), "int"), (pa.float32(), "float"),
                    (pa.float64(), "double"), (pa.date32(), "date"), (pa.timestamp("us"), "timestamp_ntz")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 120), min_size=0, max_size=30), st.sampled_from(_MONOTONIC_TYPES),
       st.booleans(), st.integers(0, 3), st.integers(0, 30))
def test_ordered_columns_count_their_distinct_values_as_hashing_does(values, typed, descending, skip, cut):
    """A column whose values strictly increase or decrease is counted without hashing: the counts of
    sorted columns with and without repeated values, sliced (the slice's offset read) and in chunks,
    equal the plain-Python profile's."""
    arrow_type, type_string = typed
    values = sorted(values, reverse=descending)
    if pa.types.is_date(arrow_type):
        values = [dt.date(2020, 1, 1) + dt.timedelta(days=v) for v in values]
    elif pa.types.is_timestamp(arrow_type):
        values = [dt.datetime(2020, 1, 1) + dt.timedelta(seconds=v) for v in values]
    elif pa.types.is_floating(arrow_type):
        values = [v / 4 for v in values]
    padded = pa.array([*values[:1] * skip, *values], arrow_type).slice(skip)  # a slice whose buffer starts earlier
    chunked = pa.chunked_array([padded.slice(0, cut), padded.slice(cut)], arrow_type)
    for column in (padded, chunked):
        fast, slow = both(column, type_string, False)
        assert fast == slow, (values, column)
    text = [str(v) for v in values]  # CSV text of the same values
    if not pa.types.is_timestamp(arrow_type):
        fast, slow = both(text, type_string, True)
        assert fast == slow


def test_a_sorted_column_is_told_apart_only_when_every_step_is_strict():
    from executor.metadata.profile import _strictly_monotonic

    assert _strictly_monotonic(pa.array([1, 2, 5])) and _strictly_monotonic(pa.array([5.0, 2.5, -1.0]))
    assert _strictly_monotonic(pa.chunked_array([[1, 2], [], [3, 9]]))
    assert not _strictly_monotonic(pa.chunked_array([[1, 2], [2, 9]]))  # the repeat across the chunks
    assert not _strictly_monotonic(pa.array([1, 2, 2, 3])) and not _strictly_monotonic(pa.array([1, 3, 2]))
    assert not _strictly_monotonic(pa.array([1, None, 3])) and not _strictly_monotonic(pa.array([1]))
    assert not _strictly_monotonic(pa.array([0.0, float("nan"), 1.0])) and not _strictly_monotonic(pa.array([-0.0, 0.0]))
    assert not _strictly_monotonic(pa.array(["a", "b"])) and not _strictly_monotonic(pa.array([True, False]))
    assert _strictly_monotonic(pa.array([1, 1, 2, 3]).slice(1))  # the slice's own values
    assert not _strictly_monotonic(pa.array([0, 1, 2, 2]).slice(1))
    assert _strictly_monotonic(pa.array([3, 2], pa.duration("s"))) and _strictly_monotonic(pa.array([1, 2], pa.time32("s")))
    # text: different values come from different texts, equal values may not ("7" and "007"): hashed
    assert profile_column(["7", "007", "8"], "int", "exact", text=True).distinct_count == 3
    assert profile_column(["6", "7", "8"], "int", "exact", text=True).distinct_count == 3


_KEYED_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint64(), pa.float32(), pa.float64(),
                pa.date32(), pa.timestamp("us"), pa.timestamp("ns", "UTC"), pa.time64("us"), pa.duration("ms")]
_ODD_FLOATS = [0.0, -0.0, float("nan"), struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0], 1.5, -2.25]


def _as(arrow_type, ints):
    if pa.types.is_floating(arrow_type):
        return [None if v is None else _ODD_FLOATS[v % len(_ODD_FLOATS)] + (v // len(_ODD_FLOATS)) for v in ints]
    if pa.types.is_unsigned_integer(arrow_type) or pa.types.is_date(arrow_type):
        return [None if v is None else abs(v) for v in ints]
    return ints


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-100, 100)), max_size=60), st.sampled_from(_KEYED_TYPES),
       st.integers(0, 3), st.integers(0, 60))
def test_numbers_and_times_sorted_as_keys_count_what_arrow_counts(ints, arrow_type, skip, cut):
    """Numbers, dates and times counted by sorting their fixed-width values give Arrow's own exact
    count (a float's bit pattern: -0.0 and 0.0, NaNs of two payloads, are each two values), with
    nulls, in a slice whose buffer starts earlier, and in chunks."""
    from executor.metadata.profile import _fixed_width_values, _sorted_distinct

    values = _as(arrow_type, ints)
    padded = pa.array([*values[:1] * skip, *values], arrow_type).slice(skip)
    chunked = pa.chunked_array([padded.slice(0, cut), padded.slice(cut)], arrow_type)
    want = pc.count_distinct(padded, mode="only_valid").as_py()
    for column in (padded, chunked):
        keys = _fixed_width_values(column, bits=True)
        assert keys is not None and _sorted_distinct(keys) == want, (values, column)


_PREFIXES = st.sampled_from(["", "a", "name_", "2024-01-0", "ééé", "x" * 9])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), st.tuples(_PREFIXES, st.text(max_size=9))), max_size=60),
       st.sampled_from([pa.string(), pa.large_string(), pa.binary()]), st.integers(0, 3), st.integers(0, 60))
def test_short_strings_sorted_as_keys_count_what_hashing_counts(pairs, arrow_type, skip, cut):
    """Strings made 64-bit keys (set aside the bytes they all start with, at most 8 left) count as
    pc.unique does; strings that cannot be keys exactly (a NUL byte; longer ones) are left to it."""
    from executor.metadata.profile import _short_string_keys, _sorted_distinct

    values = [None if p is None else p[0] + p[1] for p in pairs]
    if pa.types.is_binary(arrow_type):
        values = [None if v is None else v.encode() for v in values]
    padded = pa.array([*values[:1] * skip, *values], arrow_type).slice(skip)
    chunked = pa.chunked_array([padded.slice(0, cut), padded.slice(cut)], arrow_type)
    want = len(pc.unique(padded.drop_null()))
    present = [v for v in values if v is not None]
    nul = any(("\x00" if isinstance(v, str) else b"\x00") in v for v in present)
    for column in (padded, chunked):
        keys = _short_string_keys(column)
        if keys is None:
            lengths = [len(v.encode() if isinstance(v, str) else v) for v in present]
            assert nul or max(lengths) > 8, (values, column)  # refused only where it must be
        else:
            assert not nul and _sorted_distinct(keys) == want, (values, column)


def test_distinct_counts_of_long_columns_take_the_sorted_keys_where_they_are_quicker():
    """Columns long enough for the sorted keys: the counts equal hashing's, the keys are built only
    where most values differ (a column of few values is hashed: quicker)."""
    from executor.metadata import profile as prof

    n = 5000
    short_mostly_distinct = pa.array([f"{(i * 7919) % n}.5" for i in range(n)] + [None, ""])
    few = pa.array([f"name_{i % 40}" for i in range(n)])
    long_strings = pa.array([f"2024-01-01 00:{i % 60:02d}:{i // 60 % 60:02d}.000000" for i in range(n)])
    numbers = pa.array([(i * 7919) % 3001 for i in range(n)] + [None], pa.int64())
    for column in (short_mostly_distinct, few, long_strings, numbers):
        want = (len(pc.unique(column)) - (1 if column.null_count else 0) if pa.types.is_string(column.type)
                else pc.count_distinct(column, mode="only_valid").as_py())
        assert prof.distinct_count(column) == want
    assert prof._mostly_distinct(short_mostly_distinct) and not prof._mostly_distinct(few)
    assert prof._short_string_keys(long_strings) is None  # 26 bytes, 17 of them the same: hashed
    text = profile_column([v or "" for v in short_mostly_distinct.to_pylist()], "string", "exact", text=True)
    assert text.distinct_count == len(set(short_mostly_distinct.to_pylist()) - {None, ""})


def test_strings_with_a_nul_byte_are_hashed_not_padded():
    """ "a" and "a\\0" pad to the same 8 bytes: a column holding a NUL byte is never made keys."""
    from executor.metadata import profile as prof

    column = pa.array(["a", "a\x00", "b\x00\x00", "b"] * 100 + [str(i) for i in range(600)])
    assert prof._short_string_keys(column) is None
    assert prof.distinct_count(column) == 604


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["2024-01-0#", "20##-0#-## ##:##:##.000000", "ID-######", "##########", "#", "x#y#z",
                        "####################", "#-#-#-#-#-#-#-#-#-#-#-#-#-#-#-#"]),
       st.lists(st.one_of(st.none(), st.integers(0, 10**20)), max_size=60), st.integers(0, 3), st.integers(0, 60),
       st.sampled_from(["", "a", "é"]))
def test_fixed_width_digit_text_sorted_as_keys_counts_what_hashing_counts(template, numbers, skip, cut, odd):
    """Text of one length whose differing bytes are digits within 16 positions (timestamps, dates,
    padded numbers) is made 64-bit keys exactly; other text (a letter or a longer value where they
    differ, digits spread over more than 16 positions) is left to hashing."""
    from executor.metadata.profile import _fixed_text_keys, _sorted_distinct

    def fill(v):
        digits = str(v).zfill(template.count("#"))[-template.count("#"):] if "#" in template else ""
        out, k = [], 0
        for ch in template:
            out.append(digits[k] if ch == "#" else ch)
            k += ch == "#"
        return "".join(out)

    values = [None if v is None else fill(v) for v in numbers]
    if odd and values and values[0] is not None:  # a letter (one byte, or two) where values differ
        values.append(values[0][:-1] + odd if odd != "é" else values[0][:-2] + odd)
    padded = pa.array([*values[:1] * skip, *values], pa.string()).slice(skip)
    chunked = pa.chunked_array([padded.slice(0, cut), padded.slice(cut)], pa.string())
    want = len(pc.unique(padded.drop_null()))
    for column in (padded, chunked):
        keys = _fixed_text_keys(column)
        if keys is not None:
            assert _sorted_distinct(keys) == want, (values, column)
        else:
            present = [v for v in values if v is not None]
            varying = [i for i in range(len(present[0])) if len({v.encode()[i:i + 1] for v in present}) > 1] \
                if present and len({len(v.encode()) for v in present}) == 1 else None
            assert (not present or varying is None or varying[-1] - varying[0] >= 16
                    or any(not v.encode()[i:i + 1].isdigit() for v in present for i in varying)), (values, column)


def test_timestamps_as_text_count_their_distinct_values_without_hashing():
    from executor.metadata import profile as prof

    values = [f"2021-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{i // 60 % 60:02d}.000000"
              for i in range(3000)] + [None, "2021-01-01 00:00:00.000000"]
    column = pa.array(values)
    keys = prof._fixed_text_keys(column)
    assert keys is not None and prof._sorted_distinct(keys) == len(set(values) - {None})
    assert prof.distinct_count(column) == len(set(values) - {None})
    assert prof._fixed_text_keys(pa.array(["2021-01-01 00:00:0a", "2021-01-01 00:00:01"])) is None
    assert prof._fixed_text_keys(pa.array(["2021-01-01", "2021-01-1"])) is None  # lengths differ
    assert prof._fixed_text_keys(pa.array(["1" + "0" * 16 + "1", "2" + "0" * 16 + "2"])) is None  # 18 bytes apart
    # every one of the 16 positions counts, and a byte 0x3A-0x3F is told apart from the digits
    one_apart = ["0" * 16] + ["0" * p + "1" + "0" * (15 - p) for p in range(16)] + ["0" * p + ":" + "0" * (15 - p) for p in range(16)]
    assert prof._sorted_distinct(prof._fixed_text_keys(pa.array(["x" + v + "y" for v in one_apart]))) == 33
    assert prof._fixed_text_keys(pa.array(["a0", "a@"])) is None and prof._fixed_text_keys(pa.array(["a0", "a "])) is None
    for last in range(16):  # a space (0x20: low half 0, as "0") where values differ, at each of the 16 positions
        assert prof._fixed_text_keys(pa.array(["1" + "0" * 15, "0" * 16, "0" * last + " " + "0" * (15 - last)])) is None
