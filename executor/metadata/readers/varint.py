"""The variable-length integers of Protocol Buffers (ORC footers), Thrift's compact protocol (Parquet
footers) and Avro: 7 bits a byte, low bits first, the high bit set on every byte but the last; signed
values zigzag-encoded first. Encoders only: the readers rewrite footers and headers with them (a
projected Parquet footer, a re-written ORC footer, an Avro header with a fixed schema)."""

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
