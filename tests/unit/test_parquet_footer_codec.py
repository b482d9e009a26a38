"""The footer's Thrift compact decoder (parquet_footer._Reader, one closure a footer) decodes exactly
as the plain generic decoder it replaced (kept here as the oracle): the same values, or the same
FooterError, on real footers (nested and map types, statistics, key-value metadata), on every
truncation and on random byte flips of them, and on random bytes."""

from __future__ import annotations

import io
import random
import struct
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.metadata.readers import parquet_footer as pf
from executor.metadata.readers.parquet_footer import (
    T_BINARY,
    T_BYTE,
    T_DOUBLE,
    T_FALSE,
    T_I16,
    T_I32,
    T_I64,
    T_LIST,
    T_MAP,
    T_SET,
    T_STOP,
    T_STRUCT,
    T_TRUE,
    FooterError,
)


class _GenericReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.depth = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise FooterError("footer ends inside a Thrift value")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise FooterError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FooterError("footer ends inside a Thrift binary")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def value(self, t: int) -> Any:
        if t in (T_TRUE, T_FALSE):
            return t == T_TRUE
        if t == T_BYTE:
            return struct.unpack("b", self.take(1))[0]
        if t in (T_I16, T_I32, T_I64):
            return self.zigzag()
        if t == T_DOUBLE:
            return struct.unpack("<d", self.take(8))[0]
        if t == T_BINARY:
            return self.take(self.varint())
        if t in (T_LIST, T_SET):
            head = self.byte()
            size, et = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            if et in (T_TRUE, T_FALSE):
                return [et, [self.byte() == 1 for _ in range(size)]]
            return [et, [self.value(et) for _ in range(size)]]
        if t == T_MAP:
            size = self.varint()
            if size == 0:
                return [0, 0, []]
            kv = self.byte()
            kt, vt = kv >> 4, kv & 0x0F
            return [kt, vt, [(self.element(kt), self.element(vt)) for _ in range(size)]]
        if t == T_STRUCT:
            return self.struct()
        raise FooterError(f"unknown Thrift type {t}")

    def element(self, t: int) -> Any:
        # the one change to the decoder replaced: a boolean in a map is a byte, as in a list (the
        # compact protocol's rule; it took none, so a map of booleans could loop without end)
        return self.byte() == 1 if t in (T_TRUE, T_FALSE) else self.value(t)

    def struct(self) -> list[list[Any]]:
        self.depth += 1
        if self.depth > 64:  # parquet.thrift nests a few levels; Thrift's own readers stop at 64
            raise FooterError("Thrift structs nested more than 64 levels deep")
        fields: list[list[Any]] = []
        last = 0
        while True:
            head = self.byte()
            t = head & 0x0F
            if t == T_STOP:
                self.depth -= 1
                return fields
            delta = head >> 4
            fid = last + delta if delta else self.zigzag()
            fields.append([fid, t, self.value(t)])
            last = fid



def _decode(decoder, data):
    try:
        return "ok", decoder(data)
    except FooterError as exc:
        return "error", str(exc)


def _old(data):
    return _GenericReader(data).struct()


def _new(data):
    return pf.decode_struct(data)


def _footer(table: pa.Table, **kw) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    data = buf.getvalue()
    n = struct.unpack("<I", data[-8:-4])[0]
    return data[-8 - n:-8]


FOOTERS = [
    _footer(pa.table({"id": [1, 2, None], "name": ["a", "é", None], "x": [1.5, -0.0, float("nan")],
                      "flag": [True, None, False], "day": pa.array([0, 1, 2], pa.date32())}), row_group_size=2),
    _footer(pa.table({"m": pa.array([[("k", 1)], None, []], pa.map_(pa.string(), pa.int64())),
                      "l": pa.array([[1, 2], None, []], pa.list_(pa.int32())),
                      "s": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": None}],
                                    pa.struct([("a", pa.int8()), ("b", pa.string())]))})
            .replace_schema_metadata({"origin": "test", "k" * 40: "v" * 300}), write_statistics=True),
    _footer(pa.table({f"c{i}": pa.array(range(50), pa.int64()) for i in range(12)}), row_group_size=20),
]


@pytest.mark.parametrize("footer", FOOTERS)
def test_real_footers_every_truncation_decodes_alike(footer):
    assert _decode(_new, footer) == _decode(_old, footer) and _decode(_new, footer)[0] == "ok"
    step = max(1, len(footer) // 400)  # ~400 cuts a footer, and each of its last 64 bytes
    for cut in sorted({*range(0, len(footer), step), *range(max(0, len(footer) - 64), len(footer))}):
        assert _decode(_new, footer[:cut]) == _decode(_old, footer[:cut]), cut


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(range(len(FOOTERS))), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                                                       max_size=6))
def test_footers_with_flipped_bytes_decode_alike(which, flips):
    data = bytearray(FOOTERS[which])
    for at, byte in flips:
        data[at % len(data)] = byte
    try:
        old = _decode(_old, bytes(data))
    except RecursionError:  # lists nested past Python's stack: both give up alike (a file error upstream)
        with pytest.raises(RecursionError):
            _new(bytes(data))
        return
    assert _decode(_new, bytes(data)) == old


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_decode_alike(data):
    try:
        old = _decode(_old, data)
    except RecursionError:
        with pytest.raises(RecursionError):
            _new(data)
        return
    assert _decode(_new, data) == old


def test_every_thrift_type_round_trips():
    fields = [[1, T_BYTE, -5], [2, T_I16, -300], [3, T_I32, 2**31 - 1], [4, T_I64, -(2**63)], [5, T_DOUBLE, 2.5],
              [6, T_BINARY, b"\x00\xffabc"], [7, T_TRUE, True], [8, T_FALSE, False], [9, T_LIST, [T_I32, list(range(20))]],
              [10, T_SET, [T_TRUE, [True, False, True]]], [11, T_MAP, [T_BINARY, T_I64, [(b"a", 1), (b"b", -2)]]],
              [12, T_MAP, [0, 0, []]], [40, T_STRUCT, [[1, T_LIST, [T_STRUCT, [[[1, T_I32, 7]], []]]]]], [300, T_I32, 1]]
    data = pf.encode_struct(fields)
    assert _new(data) == _old(data) == fields
    rng = random.Random(5)
    deep = [[1, T_I32, 1]]
    for _ in range(63):
        deep = [[1, T_STRUCT, deep]]
    assert _new(pf.encode_struct(deep)) == deep
    assert _decode(_new, pf.encode_struct([[1, T_STRUCT, deep]])) == ("error", "Thrift structs nested more than 64 levels deep")
    noise = bytes(rng.randrange(256) for _ in range(5000))
    assert _decode(_new, noise) == _decode(_old, noise)
    assert T_STOP == 0
    for width in (10, 11, 12):  # a varint of 11 bytes is the longest read; 12 is refused
        long = bytes([0x15]) + bytes([0x80] * (width - 1)) + b"\x01" + b"\x00"
        assert _decode(_new, long) == _decode(_old, long)
    assert _decode(_new, bytes([0x15]) + bytes([0x80] * 11) + b"\x01\x00") == ("error", "varint too long")


def test_a_huge_map_of_booleans_ends_with_the_bytes():
    """A map that claims 2**60 boolean entries in 3 bytes fails at once (each entry is a byte)."""
    data = bytes([0x1B]) + bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]) + bytes([0x11, 1, 2])
    assert _decode(_new, data) == ("error", "footer ends inside a Thrift value")
