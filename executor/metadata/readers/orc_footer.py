"""An ORC file's tail read as Spark's ORC reader (Apache ORC, Java) sees it: the PostScript's
format version and the Footer's types with the presence of each decimal's precision and scale,
which pyarrow's ORCFile (the C++ reader) does not expose. Pure Python: protobuf decoded
generically, the footer decompressed per the PostScript's codec.

Why: the Java reader refuses a file written in a format version it does not know ("a future ORC
version"), where the C++ reader only warns; and an old Hive decimal without precision or scale is
decimal(38,10) for Java (TypeDescription's defaults) but not for the C++ reader.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from executor.metadata.readers.varint import VarintTooLong, VarintTruncated, read_varint, varint

MAGIC = b"ORC"
TAIL_READ = 16 * 1024  # bytes read from the end first; a longer tail is read in a second request

# protobuf wire types
WT_VARINT, WT_I64, WT_LEN, WT_I32 = 0, 1, 2, 5

# OrcProto.CompressionKind
NONE, ZLIB, SNAPPY, LZO, LZ4, ZSTD = range(6)
CODECS = {NONE: "none", ZLIB: "zlib", SNAPPY: "snappy", LZO: "lzo", LZ4: "lz4", ZSTD: "zstd"}

# OrcProto.Type.Kind
KINDS = ["boolean", "tinyint", "smallint", "int", "bigint", "float", "double", "string", "binary", "timestamp",
         "array", "map", "struct", "uniontype", "decimal", "date", "varchar", "char", "timestamp with local time zone"]
DECIMAL = 14

# OrcFile.Version of the Java reader: the versions it knows; any other is FUTURE (refused)
KNOWN_VERSIONS = ((0, 11), (0, 12), (1, 9999))
DEFAULT_DECIMAL = (38, 10)  # TypeDescription.createDecimal(): precision 38, scale 10
MAX_PRECISION = 38


class OrcTailError(ValueError):
    """The bytes are not an ORC tail this reader understands (or a codec it cannot undo)."""


class OrcUnsupportedCodec(OrcTailError):
    """The footer is compressed with a codec not decoded here (the checks are skipped)."""


# --------------------------------------------------------------------------- protobuf codec
# A message decodes to a list of [field number, wire type, value]: ints for varint/fixed, bytes for
# length-delimited fields (nested messages are decoded on demand with decode_message).


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    try:
        return read_varint(data, pos)
    except VarintTruncated:
        raise OrcTailError("ORC tail ends inside a protobuf varint") from None
    except VarintTooLong:
        raise OrcTailError("protobuf varint too long") from None


def decode_message(data: bytes) -> list[list[Any]]:
    out: list[list[Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        fid, wt = key >> 3, key & 7
        if fid == 0:
            raise OrcTailError("protobuf field number 0")
        v: Any
        if wt == WT_VARINT:
            v, pos = _varint(data, pos)
        elif wt == WT_I64:
            if pos + 8 > len(data):
                raise OrcTailError("ORC tail ends inside a protobuf fixed64")
            v, pos = struct.unpack_from("<Q", data, pos)[0], pos + 8
        elif wt == WT_I32:
            if pos + 4 > len(data):
                raise OrcTailError("ORC tail ends inside a protobuf fixed32")
            v, pos = struct.unpack_from("<I", data, pos)[0], pos + 4
        elif wt == WT_LEN:
            n, pos = _varint(data, pos)
            if pos + n > len(data):
                raise OrcTailError("ORC tail ends inside a protobuf field")
            v, pos = data[pos:pos + n], pos + n
        else:
            raise OrcTailError(f"unsupported protobuf wire type {wt}")
        out.append([fid, wt, v])
    return out


def encode_message(fields: list[list[Any]]) -> bytes:
    """The inverse of decode_message (tests use it to build tails no writer makes)."""
    out = bytearray()
    for fid, wt, v in fields:
        out += varint(fid << 3 | wt)
        if wt == WT_VARINT:
            out += varint(v)
        elif wt == WT_I64:
            out += struct.pack("<Q", v)
        elif wt == WT_I32:
            out += struct.pack("<I", v)
        else:
            out += varint(len(v)) + v
    return bytes(out)


def values(fields: list[list[Any]], fid: int, wire: int | None = None) -> list[Any]:
    """The field's values (of wire type `wire` only, when given: a field of another wire type is
    not the field protobuf's parsers would read)."""
    return [v for f, wt, v in fields if f == fid and (wire is None or wt == wire)]


def first(fields: list[list[Any]], fid: int, default: Any = None, wire: int | None = None) -> Any:
    found = values(fields, fid, wire)
    return found[-1] if found else default  # protobuf: the last occurrence wins


def _uint(fields: list[list[Any]], fid: int, default: int | None = None) -> int | None:
    """A varint field; OrcTailError when it is there with another wire type."""
    if any(f == fid and wt != WT_VARINT for f, wt, _v in fields):
        raise OrcTailError(f"protobuf field {fid} is not a varint")
    v = first(fields, fid, wire=WT_VARINT)
    return default if v is None else int(v)


def repeated_uints(fields: list[list[Any]], fid: int) -> list[int]:
    """A repeated uint32 field, packed or not."""
    out: list[int] = []
    for f, wt, v in fields:
        if f != fid:
            continue
        if wt == WT_LEN:
            pos = 0
            while pos < len(v):
                n, pos = _varint(v, pos)
                out.append(n)
        elif wt == WT_VARINT:
            out.append(v)
        else:
            raise OrcTailError(f"protobuf field {fid} is not a list of varints")
    return out


# --------------------------------------------------------------------------- decompression


def _lz4_block(src: bytes, limit: int) -> bytes:
    """One raw LZ4 block (the format ORC's LZ4 codec writes), at most `limit` bytes out."""
    out = bytearray()
    pos = 0
    while pos < len(src):
        token = src[pos]
        pos += 1
        n = token >> 4
        if n == 15:
            while True:
                if pos >= len(src):
                    raise OrcTailError("corrupt LZ4 block")
                b = src[pos]
                pos += 1
                n += b
                if b != 255:
                    break
        out += src[pos:pos + n]
        pos += n
        if pos >= len(src):
            break
        if pos + 2 > len(src):
            raise OrcTailError("corrupt LZ4 block")
        offset = src[pos] | src[pos + 1] << 8
        pos += 2
        m = token & 15
        if m == 15:
            while True:
                if pos >= len(src):
                    raise OrcTailError("corrupt LZ4 block")
                b = src[pos]
                pos += 1
                m += b
                if b != 255:
                    break
        m += 4
        if offset == 0 or offset > len(out):
            raise OrcTailError("corrupt LZ4 block")
        for _ in range(m):
            out.append(out[-offset])
        if len(out) > limit:
            raise OrcTailError("LZ4 block larger than the compression block size")
    return bytes(out)


def _zstd_content_size(src: bytes) -> int | None:
    """Frame_Content_Size of a zstd frame header, when the writer recorded it."""
    if len(src) < 6 or src[:4] != b"\x28\xb5\x2f\xfd":
        return None
    fhd = src[4]
    fcs_flag, single, dict_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
    size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if size == 0 or pos + size > len(src):
        return None
    n = int.from_bytes(src[pos:pos + size], "little")
    return n + 256 if size == 2 else n


def decompress(data: bytes, codec: int, block_size: int) -> bytes:
    """An ORC compressed stream (3-byte chunk headers, each chunk compressed or original)."""
    if codec == NONE:
        return data
    out = bytearray()
    pos = 0
    while pos < len(data):
        if pos + 3 > len(data):
            raise OrcTailError("ORC footer ends inside a compression chunk header")
        head = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16
        pos += 3
        n, original = head >> 1, head & 1
        chunk = data[pos:pos + n]
        if len(chunk) != n:
            raise OrcTailError("ORC footer ends inside a compression chunk")
        pos += n
        if original:
            out += chunk
        elif codec == ZLIB:
            try:
                out += zlib.decompress(chunk, -15)
            except zlib.error as exc:
                raise OrcTailError(f"corrupt zlib footer ({exc})") from None
        elif codec == LZ4:
            out += _lz4_block(chunk, max(block_size, 1 << 16))
        elif codec in (SNAPPY, ZSTD):
            import pyarrow as pa

            if codec == SNAPPY:
                size, _ = _varint(chunk, 0)
            else:
                found = _zstd_content_size(chunk)
                if found is None:
                    raise OrcUnsupportedCodec("zstd footer without a content size")
                size = found
            try:
                out += pa.Codec("snappy" if codec == SNAPPY else "zstd").decompress(
                    chunk, decompressed_size=size, asbytes=True)
            except (OSError, ValueError) as exc:
                raise OrcTailError(f"corrupt {CODECS[codec]} footer ({exc})") from None
        else:
            raise OrcUnsupportedCodec(f"{CODECS.get(codec, codec)}-compressed footer")
    return bytes(out)


# --------------------------------------------------------------------------- the tail


@dataclass
class OrcType:
    kind: int
    subtypes: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    precision: int | None = None  # None: not in the footer
    scale: int | None = None


@dataclass
class OrcStripe:
    offset: int
    length: int  # index + data + stripe footer
    rows: int


@dataclass
class OrcTail:
    version: list[int]  # PostScript.version ([major, minor]; empty for 0.11 files)
    codec: int
    rows: int | None  # Footer.numberOfRows
    types: list[OrcType]
    stripes: list[OrcStripe] = field(default_factory=list)
    tail_length: int = 0  # stripe statistics + footer + PostScript + its length byte

    @property
    def version_text(self) -> str:
        return ".".join(str(v) for v in self.version) or "0.11"


def read_tail_bytes(fh: BinaryIO) -> tuple[bytes, int]:
    """(the file's last bytes holding PostScript and Footer, file size)."""
    fh.seek(0, 2)
    size = fh.tell()
    if size < 4:
        raise OrcTailError("file too small to be ORC")
    n = min(size, TAIL_READ)
    fh.seek(size - n)
    tail = fh.read(n)
    ps_len = tail[-1]
    if ps_len + 1 > len(tail):
        raise OrcTailError(f"PostScript length {ps_len} does not fit the file ({size} bytes)")
    ps = decode_message(tail[-1 - ps_len:-1])
    need = 1 + ps_len + (_uint(ps, 1, 0) or 0)
    if need > size:
        raise OrcTailError(f"footer length does not fit the file ({size} bytes)")
    if need > len(tail):
        fh.seek(size - need)
        tail = fh.read(need)
    return tail, size


def parse_tail(tail: bytes) -> OrcTail:
    """The PostScript and Footer at the end of `tail` (the file's last bytes)."""
    if not tail:
        raise OrcTailError("empty ORC tail")
    ps_len = tail[-1]
    if ps_len == 0 or ps_len + 1 > len(tail):
        raise OrcTailError("not an ORC file (no PostScript)")
    ps = decode_message(tail[-1 - ps_len:-1])
    magic = first(ps, 8000)
    if magic is not None and magic != MAGIC:
        raise OrcTailError("not an ORC file (no ORC magic in the PostScript)")
    footer_len = _uint(ps, 1, 0) or 0
    codec = _uint(ps, 2, NONE) or 0
    block = _uint(ps, 3, 256 * 1024) or 256 * 1024
    version = repeated_uints(ps, 4)
    start = len(tail) - 1 - ps_len - footer_len
    if start < 0:
        raise OrcTailError("footer length does not fit the file")
    footer = decode_message(decompress(tail[start:len(tail) - 1 - ps_len], codec, block))
    if any(f == 4 and wt != WT_LEN for f, wt, _v in footer):
        raise OrcTailError("the footer's types are not messages")
    if any(f == 3 and wt != WT_LEN for f, wt, _v in footer):
        raise OrcTailError("the footer's stripes are not messages")
    stripes = []
    for raw in values(footer, 3, WT_LEN):
        st = decode_message(raw)
        stripes.append(OrcStripe(offset=_uint(st, 1, 0) or 0,
                                 length=sum(_uint(st, f, 0) or 0 for f in (2, 3, 4)), rows=_uint(st, 5, 0) or 0))
    types = []
    for raw in values(footer, 4, WT_LEN):
        t = decode_message(raw)
        types.append(OrcType(kind=_uint(t, 1, 0) or 0, subtypes=repeated_uints(t, 2),
                             names=[n.decode("utf-8", "replace") for n in values(t, 3, WT_LEN)],
                             precision=_uint(t, 5), scale=_uint(t, 6)))
    return OrcTail(version=version, codec=codec, rows=_uint(footer, 6), types=types, stripes=stripes,
                   tail_length=1 + ps_len + footer_len + (_uint(ps, 5, 0) or 0))


def version_refusal(tail: OrcTail) -> str | None:
    """The Java reader's refusal of a format version it does not know (OrcFile.Version.FUTURE)."""
    v = tail.version
    if not v:
        return None  # 0.11
    if len(v) < 2 or (v[0], v[1]) not in KNOWN_VERSIONS:
        return (f"written in ORC format version {tail.version_text}, which Spark's ORC reader does not know "
                "(it refuses files of a future version)")
    return None


def stripe_refusal(tail: OrcTail, file_size: int) -> str | None:
    """Stripes that end past the file's data (a truncated file whose tail survived): the Java
    reader fails reading them, Spark's count() included."""
    data_end = file_size - tail.tail_length
    cut = [i for i, st in enumerate(tail.stripes) if st.offset + st.length > data_end]
    if not cut:
        return None
    shown = ", ".join(str(i + 1) for i in cut[:10]) + (f" and {len(cut) - 10} more" if len(cut) > 10 else "")
    return (f"stripe(s) {shown} of {len(tail.stripes)} end past the file's data ({file_size} bytes: truncated?); "
            "Spark's ORC reader fails reading them, its count() included")


def java_decimal(t: OrcType) -> tuple[int, int] | str:
    """(precision, scale) as the Java reader's TypeDescription gives them, or why it refuses them:
    a missing precision is 38 and a missing scale 10 (old Hive writers recorded neither)."""
    precision, scale = DEFAULT_DECIMAL
    if t.scale is not None:
        if t.scale < 0 or t.scale > MAX_PRECISION or t.scale > precision:
            return f"decimal scale {t.scale} is out of range"
        scale = t.scale
    if t.precision is not None:
        if t.precision < 1 or t.precision > MAX_PRECISION or scale > t.precision:
            return f"decimal precision {t.precision} is out of range 1 .. 38 for scale {scale}"
        precision = t.precision
    return precision, scale


def decimal_types(tail: OrcTail) -> dict[tuple[str, ...], OrcType]:
    """Path of names (top-level column, nested fields; '<element>', '<key>', '<value>' inside
    arrays and maps, '<tagN>' inside unions) -> the footer's type, for every decimal."""
    out: dict[tuple[str, ...], OrcType] = {}
    types = tail.types
    parts = {10: ("<element>",), 11: ("<key>", "<value>")}

    def walk(i: int, path: tuple[str, ...], depth: int) -> None:
        if i >= len(types) or depth > 200:
            return
        t = types[i]
        if t.kind == DECIMAL:
            out[path] = t
        elif t.kind == 12:  # struct
            for name, sub in zip(t.names, t.subtypes):
                walk(sub, path + (name,), depth + 1)
        elif t.kind in parts:
            for tag, sub in zip(parts[t.kind], t.subtypes):
                walk(sub, path + (tag,), depth + 1)
        elif t.kind == 13:  # union
            for j, sub in enumerate(t.subtypes):
                walk(sub, path + (f"<tag{j}>",), depth + 1)

    if types and types[0].kind == 12:
        for name, sub in zip(types[0].names, types[0].subtypes):
            walk(sub, (name,), 0)
    return out


def column_decimals(tail: OrcTail) -> dict[tuple[str, ...], tuple[int, int] | str]:
    """Path (decimal_types) -> the Java reader's (precision, scale) or its refusal, per decimal."""
    return {path: java_decimal(t) for path, t in decimal_types(tail).items()}


def defaulted_decimals(tail: OrcTail) -> set[tuple[str, ...]]:
    """Paths of the decimals whose footer type lacks its precision or its scale."""
    return {path for path, t in decimal_types(tail).items() if t.precision is None or t.scale is None}
