"""The variable-length integers of Protocol Buffers (ORC footers), Thrift's compact protocol (Parquet
footers) and Avro: 7 bits a byte, low bits first, the high bit set on every byte but the last; signed
values zigzag-encoded first. The encoders rewrite footers and headers (a projected Parquet footer, a
re-written ORC footer, an Avro header with a fixed schema); `read_varint` decodes one from bytes in
memory for the footer readers, which turn its two errors into their own."""

from __future__ import annotations


def varint(n: int) -> bytes:
    """A non-negative integer as a base-128 varint."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag_varint(n: int) -> bytes:
    """A signed 64-bit integer zigzag-encoded, then as a varint (Thrift compact i64, Avro long)."""
    return varint((n << 1) ^ (n >> 63))


class VarintTruncated(ValueError):
    """The bytes end inside a varint."""


class VarintTooLong(ValueError):
    """A varint of more than 11 bytes (past what a 64-bit value needs)."""


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(the varint at data[pos:], the position after it)."""
    shift = result = 0
    n = len(data)
    while True:
        if pos >= n:
            raise VarintTruncated
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise VarintTooLong
