"""A Parquet footer read as Spark's schema converter sees it: the whole schema tree (groups with
their repetition and MAP/LIST annotations, which pyarrow's ParquetSchema does not expose) and the
row groups' row counts. Pure Python: the Thrift compact protocol, decoded generically.

Why: pyarrow refuses some schemas Spark reads (a MAP whose key is not REQUIRED) and accepts some
Spark refuses (a MAP group without a value field, "Invalid map type"); and a footer's total
`num_rows` can disagree with its row groups (Spark counts the row groups). The footer facts come
from here; pyarrow is only used for values.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from executor.metadata.spark_types import parquet_leaf_type, struct_type_string

MAGIC = b"PAR1"

# Thrift compact types
T_STOP, T_TRUE, T_FALSE, T_BYTE, T_I16, T_I32, T_I64, T_DOUBLE, T_BINARY, T_LIST, T_SET, T_MAP, T_STRUCT = range(13)

REQUIRED, OPTIONAL, REPEATED = 0, 1, 2
REPETITION = {REQUIRED: "required", OPTIONAL: "optional", REPEATED: "repeated"}
# ConvertedType values used for groups
CT_MAP, CT_MAP_KEY_VALUE, CT_LIST = 1, 2, 3
# LogicalType union members used for groups
LT_MAP, LT_LIST = 2, 3


class FooterError(ValueError):
    """The bytes are not a Parquet footer this reader understands."""


Keep = dict[int, "Keep | bool"]  # field id -> True (decode it whole) or the fields to keep inside it


# --------------------------------------------------------------------------- Thrift compact codec
# A struct decodes to a list of [field id, type, value]; a list to [element type, [values]]; a
# map to [key type, value type, [(k, v)]]. encode_struct writes the same shape back (tests use it to
# build footers pyarrow cannot write).


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

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
            return [kt, vt, [(self.value(kt), self.value(vt)) for _ in range(size)]]
        if t == T_STRUCT:
            return self.struct()
        raise FooterError(f"unknown Thrift type {t}")

    def struct(self, keep: Keep | None = None) -> list[list[Any]]:
        """A struct's fields; with `keep`, only the fields it names (the others are skipped)."""
        fields: list[list[Any]] = []
        last = 0
        while True:
            head = self.byte()
            t = head & 0x0F
            if t == T_STOP:
                return fields
            delta = head >> 4
            fid = last + delta if delta else self.zigzag()
            if keep is None:
                fields.append([fid, t, self.value(t)])
            elif fid in keep:
                fields.append([fid, t, self.kept(t, keep[fid])])
            else:
                self.skip(t)
            last = fid

    def kept(self, t: int, keep: Keep | bool) -> Any:
        """A value decoded whole (True) or, for a struct or a list of structs, its kept fields."""
        if keep is True:
            return self.value(t)
        assert isinstance(keep, dict)
        if t == T_STRUCT:
            return self.struct(keep)
        if t in (T_LIST, T_SET):
            head = self.byte()
            size, et = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            if et != T_STRUCT:
                raise FooterError(f"a list of Thrift type {et} where structs were expected")
            return [et, [self.struct(keep) for _ in range(size)]]
        return self.value(t)

    def skip(self, t: int) -> None:
        """Step over a value without building it (the parts of a footer no fact needs)."""
        try:
            pos = _skip(self.data, self.pos, t)
        except IndexError:
            raise FooterError("footer ends inside a Thrift value") from None
        if pos > len(self.data):
            raise FooterError("footer ends inside a Thrift binary")
        self.pos = pos


def _skip(data: bytes, pos: int, t: int) -> int:
    """The position after the value of type `t` at `pos` (IndexError when the data ends first)."""
    if t in (T_TRUE, T_FALSE):
        return pos
    if t == T_BYTE:
        return pos + 1
    if t in (T_I16, T_I32, T_I64):
        while data[pos] & 0x80:
            pos += 1
        return pos + 1
    if t == T_DOUBLE:
        return pos + 8
    if t == T_BINARY:
        n = shift = 0
        while True:
            b = data[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        if pos + n > len(data):
            raise IndexError
        return pos + n
    if t in (T_LIST, T_SET):
        head = data[pos]
        pos += 1
        size, et = head >> 4, head & 0x0F
        if size == 15:
            size = shift = 0
            while True:
                b = data[pos]
                pos += 1
                size |= (b & 0x7F) << shift
                if not b & 0x80:
                    break
                shift += 7
        if et in (T_TRUE, T_FALSE, T_BYTE):
            return pos + size
        for _ in range(size):
            pos = _skip(data, pos, et)
        return pos
    if t == T_MAP:
        size = shift = 0
        while True:
            b = data[pos]
            pos += 1
            size |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        if size:
            kv = data[pos]
            pos += 1
            for _ in range(size):
                pos = _skip(data, pos, kv >> 4)
                pos = _skip(data, pos, kv & 0x0F)
        return pos
    if t == T_STRUCT:
        while True:
            head = data[pos]
            pos += 1
            ft = head & 0x0F
            if ft == T_STOP:
                return pos
            if not head >> 4:  # a long-form field id (a zigzag varint)
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
            pos = _skip(data, pos, ft)
    raise FooterError(f"unknown Thrift type {t}")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _zigzag(n: int) -> bytes:
    return _varint((n << 1) ^ (n >> 63))


def _encode_value(t: int, v: Any) -> bytes:
    if t == T_BYTE:
        return struct.pack("b", v)
    if t in (T_I16, T_I32, T_I64):
        return _zigzag(v)
    if t == T_DOUBLE:
        return struct.pack("<d", v)
    if t == T_BINARY:
        return _varint(len(v)) + v
    if t in (T_LIST, T_SET):
        et, items = v
        head = bytes([(len(items) << 4) | et]) if len(items) < 15 else bytes([0xF0 | et]) + _varint(len(items))
        if et in (T_TRUE, T_FALSE):
            return head + bytes(1 if x else 2 for x in items)
        return head + b"".join(_encode_value(et, x) for x in items)
    if t == T_MAP:
        kt, vt, items = v
        if not items:
            return b"\x00"
        return _varint(len(items)) + bytes([(kt << 4) | vt]) + b"".join(
            _encode_value(kt, k) + _encode_value(vt, x) for k, x in items)
    if t == T_STRUCT:
        return encode_struct(v)
    raise FooterError(f"cannot encode Thrift type {t}")


def encode_struct(fields: list[list[Any]]) -> bytes:
    out = bytearray()
    last = 0
    for fid, t, v in fields:
        wire_t = (T_TRUE if v else T_FALSE) if t in (T_TRUE, T_FALSE) else t
        delta = fid - last
        if 0 < delta <= 15:
            out.append((delta << 4) | wire_t)
        else:
            out.append(wire_t)
            out += _zigzag(fid)
        if t not in (T_TRUE, T_FALSE):
            out += _encode_value(t, v)
        last = fid
    out.append(T_STOP)
    return bytes(out)


def decode_struct(data: bytes) -> list[list[Any]]:
    return _Reader(data).struct()


def get(fields: list[list[Any]], fid: int, default: Any = None) -> Any:
    for f, _t, v in fields:
        if f == fid:
            return v
    return default


def put(fields: list[list[Any]], fid: int, t: int, value: Any) -> None:
    """Set (or add, keeping field ids ascending) one field of a decoded struct."""
    for f in fields:
        if f[0] == fid:
            f[1], f[2] = t, value
            return
    fields.append([fid, t, value])
    fields.sort(key=lambda f: f[0])


# --------------------------------------------------------------------------- the footer


def read_footer_bytes(fh: BinaryIO) -> bytes:
    """The Thrift-encoded FileMetaData of a Parquet file (the file's last 8 + n bytes)."""
    fh.seek(0, 2)
    size = fh.tell()
    if size < 12:
        raise FooterError("file too small to be Parquet")
    fh.seek(size - 8)
    tail = fh.read(8)
    if tail[4:] != MAGIC:
        raise FooterError("no PAR1 magic at the end of the file (not Parquet, or encrypted)")
    n = struct.unpack("<i", tail[:4])[0]
    if n <= 0 or n > size - 12:
        raise FooterError(f"footer length {n} does not fit the file ({size} bytes)")
    fh.seek(size - 8 - n)
    return fh.read(n)


@dataclass
class SchemaNode:
    """One SchemaElement of the footer, with its children."""

    name: str
    repetition: str  # required | optional | repeated
    physical: int | None  # Parquet Type enum for leaves, None for groups
    converted: int | None
    logical: int | None  # the LogicalType union member's field id
    children: list[SchemaNode] = field(default_factory=list)
    logical_fields: list[list[Any]] = field(default_factory=list)  # the union member's own fields
    precision: int = 0
    scale: int = 0
    leaf_index: int = -1  # position among the leaves (column chunks), -1 for groups

    @property
    def is_group(self) -> bool:
        return self.physical is None

    @property
    def is_map(self) -> bool:
        return self.is_group and (self.logical == LT_MAP or self.converted in (CT_MAP, CT_MAP_KEY_VALUE))

    @property
    def is_list(self) -> bool:
        return self.is_group and (self.logical == LT_LIST or self.converted == CT_LIST)


@dataclass
class FooterFacts:
    num_rows: int  # the footer's total (FileMetaData.num_rows)
    row_group_rows: list[int]  # each row group's num_rows
    root: SchemaNode

    @property
    def rows(self) -> int:
        """Rows as Spark counts them: the sum of the row groups' num_rows."""
        return sum(self.row_group_rows)


def _nodes(elements: list[list[list[Any]]]) -> SchemaNode:
    it = iter(elements)

    def build() -> SchemaNode:
        try:
            e = next(it)
        except StopIteration:
            raise FooterError("schema element list ends before its groups' children") from None
        name = get(e, 4, b"").decode("utf-8", errors="replace")
        logical = get(e, 10)
        member = logical[0] if logical else None
        node = SchemaNode(name=name, repetition=REPETITION.get(get(e, 3, REQUIRED), "required"),
                          physical=get(e, 1), converted=get(e, 6),
                          logical=member[0] if member else None,
                          logical_fields=member[2] if member and member[1] == T_STRUCT else [],
                          precision=get(e, 8, 0) or 0, scale=get(e, 7, 0) or 0)
        for _ in range(get(e, 5, 0) or 0):
            node.children.append(build())
        if get(e, 5) is not None and node.physical is not None:
            node.physical = None  # a group that also names a type: treat as group
        if get(e, 5) is None and node.physical is None:
            raise FooterError(f"schema element {name!r} has neither a type nor children")
        return node

    root = build()
    leaves = [0]

    def number(node: SchemaNode) -> None:
        if not node.is_group:
            node.leaf_index = leaves[0]
            leaves[0] += 1
        for c in node.children:
            number(c)

    number(root)
    return root


# FileMetaData: the schema (2), num_rows (3) and each row group's (4) num_rows (3); the column
# chunks, statistics and key-value metadata are skipped (most of a footer's bytes)
FACTS_FIELDS: Keep = {2: True, 3: True, 4: {3: True}}


def footer_facts(footer: bytes) -> FooterFacts:
    meta = _Reader(footer).struct(FACTS_FIELDS)
    schema = get(meta, 2)
    if not schema or not schema[1]:
        raise FooterError("footer has no schema")
    root = _nodes(schema[1])
    groups = get(meta, 4) or [T_STRUCT, []]
    return FooterFacts(num_rows=int(get(meta, 3, 0) or 0),
                       row_group_rows=[int(get(rg, 3, 0) or 0) for rg in groups[1]], root=root)


def read_footer_facts(fh: BinaryIO) -> FooterFacts:
    return footer_facts(read_footer_bytes(fh))


def spark_refusal(root: SchemaNode) -> str | None:
    """Spark's ParquetToSparkSchemaConverter error for a group shape it refuses, or None.

    A MAP (or MAP_KEY_VALUE) group must hold exactly one repeated group of two fields, the key
    REQUIRED... Spark 3.5 checks: one repeated child group with exactly 2 fields (else "Invalid
    map type"); it reads a non-REQUIRED key (pyarrow does not). A LIST group must have one child
    ("Invalid list type")."""

    def walk(node: SchemaNode, path: str) -> str | None:
        where = f"{path}{node.name}"
        if node.is_map:
            kv = node.children[0] if len(node.children) == 1 else None
            if kv is None or not kv.is_group or kv.repetition != "repeated" or len(kv.children) != 2:
                return f"Invalid map type: {where} (a MAP group needs one repeated group of key and value)"
        if node.is_list and (len(node.children) != 1 or node.children[0].repetition != "repeated"):
            return f"Invalid list type: {where} (a LIST group needs one repeated field)"
        if node.is_group and not node.children:
            return f"{where}: an empty group (Spark has no empty struct type for Parquet)"
        for c in node.children:
            found = walk(c, f"{where}." if path or node is not root else "")
            if found:
                return found
        return None

    for child in root.children:
        found = walk(child, "")
        if found:
            return found
    return None


def has_optional_map_key(root: SchemaNode) -> list[str]:
    """Top-level columns holding a MAP whose key is not REQUIRED (Spark reads it, pyarrow refuses)."""
    out = []

    def walk(node: SchemaNode) -> bool:
        if node.is_map and len(node.children) == 1 and node.children[0].children:
            if node.children[0].children[0].repetition != "required":
                return True
        return any(walk(c) for c in node.children)

    for child in root.children:
        if walk(child):
            out.append(child.name)
    return out


# --------------------------------------------------------------------------- Spark types from the tree

_PHYSICAL = ["BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"]
_LOGICAL = {1: "STRING", 2: "MAP", 3: "LIST", 4: "ENUM", 5: "DECIMAL", 6: "DATE", 7: "TIME", 8: "TIMESTAMP",
            10: "INT", 11: "UNKNOWN", 12: "JSON", 13: "BSON", 14: "UUID", 15: "FLOAT16"}
_UNITS = {1: "milliseconds", 2: "microseconds", 3: "nanoseconds"}
# legacy ConvertedType -> (logical type name, its JSON facts), as parquet-cpp and parquet-mr map them
_CONVERTED: dict[int, tuple[str, dict[str, Any]]] = {0: ("STRING", {}), 4: ("ENUM", {}), 5: ("DECIMAL", {}), 6: ("DATE", {}),
              7: ("TIME", {}), 8: ("TIME", {}),
              9: ("TIMESTAMP", {"isAdjustedToUTC": True, "timeUnit": "milliseconds"}),
              10: ("TIMESTAMP", {"isAdjustedToUTC": True, "timeUnit": "microseconds"}),
              11: ("INT", {"bitWidth": 8, "isSigned": False}), 12: ("INT", {"bitWidth": 16, "isSigned": False}),
              13: ("INT", {"bitWidth": 32, "isSigned": False}), 14: ("INT", {"bitWidth": 64, "isSigned": False}),
              15: ("INT", {"bitWidth": 8, "isSigned": True}), 16: ("INT", {"bitWidth": 16, "isSigned": True}),
              17: ("INT", {"bitWidth": 32, "isSigned": True}), 18: ("INT", {"bitWidth": 64, "isSigned": True}),
              19: ("JSON", {}), 20: ("BSON", {}), 21: ("INTERVAL", {})}


class _Logical:
    def __init__(self, kind: str, info: dict[str, Any]) -> None:
        self.type = kind
        self._info = info

    def to_json(self) -> str:
        return json.dumps(self._info)

    def __str__(self) -> str:
        return self.type


class _Leaf:
    """The attributes of pyarrow's ParquetColumnSchema that spark_types.parquet_leaf_type reads."""

    def __init__(self, node: SchemaNode, path: str) -> None:
        self.physical_type = _PHYSICAL[node.physical] if node.physical is not None and 0 <= node.physical < 8 else "?"
        self.path = path
        self.precision, self.scale = node.precision, node.scale
        kind = _LOGICAL.get(node.logical) if node.logical is not None else None
        info: dict[str, Any] = {}
        if kind == "INT":
            info = {"bitWidth": get(node.logical_fields, 1), "isSigned": get(node.logical_fields, 2)}
        elif kind in ("TIMESTAMP", "TIME"):
            unit = get(node.logical_fields, 2)
            info = {"isAdjustedToUTC": bool(get(node.logical_fields, 1)),
                    "timeUnit": _UNITS.get(unit[0][0] if unit else 0, "?")}
        elif kind == "DECIMAL":
            self.scale = get(node.logical_fields, 1, self.scale)
            self.precision = get(node.logical_fields, 2, self.precision)
        elif kind is None and node.converted is not None:
            kind, info = _CONVERTED.get(node.converted, ("NONE", {}))
        self.logical_type = _Logical(kind or "NONE", info)


def tree_spark_columns(root: SchemaNode, spark_version: str = "3.5") -> list[tuple[str, str, bool]]:
    """[(name, Spark type, nullable)] as ParquetToSparkSchemaConverter gives them, from the tree
    alone (used when pyarrow cannot convert the schema, e.g. a MAP key that is not REQUIRED)."""
    def element(node: SchemaNode, path: str) -> str:
        """convertField: the node's type without its own repetition."""
        if not node.is_group:
            return parquet_leaf_type(_Leaf(node, path), spark_version)
        if node.is_map:
            kv = node.children[0]
            return f"map<{element(kv.children[0], path + '.' + kv.name)},{element(kv.children[1], path + '.' + kv.name)}>"
        if node.is_list:
            rep = node.children[0]
            is_element = (not rep.is_group or len(rep.children) > 1 or rep.name == "array"
                          or rep.name == node.name + "_tuple")
            inner = rep if is_element else rep.children[0]
            return f"array<{element(inner, path + '.' + rep.name)}>"
        return struct_type_string([f"{c.name}:{member(c, path + '.' + c.name)}" for c in node.children], "struct<", ",", ">")

    def member(node: SchemaNode, path: str) -> str:
        t = element(node, path)
        return f"array<{t}>" if node.repetition == "repeated" else t

    return [(c.name, member(c, c.name), c.repetition == "optional") for c in root.children]


# --------------------------------------------------------------------------- a projected view for pyarrow


def project_footer(footer: bytes, drop: set[str]) -> bytes:
    """The footer without the top-level columns named in `drop` (schema elements, their column
    chunks and column orders): pyarrow can then read the other columns of a file whose schema it
    refuses as a whole. Data pages are untouched (column chunks keep their absolute offsets)."""
    meta = decode_struct(footer)
    elements = get(meta, 2)[1]
    root = _nodes(elements)
    dropped_leaves: set[int] = set()
    keep_elements: list[list[list[Any]]] = [elements[0]]
    pos = 1
    kept_children = 0

    def size(node: SchemaNode) -> int:
        return 1 + sum(size(c) for c in node.children)

    def leaves(node: SchemaNode) -> list[int]:
        return [node.leaf_index] if not node.is_group else [i for c in node.children for i in leaves(c)]

    for child in root.children:
        n = size(child)
        if child.name in drop:
            dropped_leaves.update(leaves(child))
        else:
            keep_elements.extend(elements[pos:pos + n])
            kept_children += 1
        pos += n
    put(keep_elements[0], 5, T_I32, kept_children)
    put(meta, 2, T_LIST, [T_STRUCT, keep_elements])
    for rg in (get(meta, 4) or [T_STRUCT, []])[1]:
        cols = get(rg, 1)
        put(rg, 1, T_LIST, [cols[0], [c for i, c in enumerate(cols[1]) if i not in dropped_leaves]])
    orders = get(meta, 7)
    if orders:
        put(meta, 7, T_LIST, [orders[0], [o for i, o in enumerate(orders[1]) if i not in dropped_leaves]])
    return encode_struct(meta)


class ProjectedFile(io.RawIOBase):
    """A Parquet file whose footer is replaced: bytes before the old footer come from `fh`."""

    def __init__(self, fh: BinaryIO, data_end: int, footer: bytes) -> None:
        self._fh = fh
        self._data_end = data_end
        self._tail = footer + struct.pack("<i", len(footer)) + MAGIC
        self._size = data_end + len(self._tail)
        self._pos = 0

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def size(self) -> int:
        return self._size

    def readinto(self, buf: Any) -> int:
        want = min(len(buf), self._size - self._pos)
        if want <= 0:
            return 0
        out = bytearray()
        if self._pos < self._data_end:
            self._fh.seek(self._pos)
            out += self._fh.read(min(want, self._data_end - self._pos))
        if len(out) < want:
            start = self._pos + len(out) - self._data_end
            out += self._tail[start:start + want - len(out)]
        buf[:len(out)] = out
        self._pos += len(out)
        return len(out)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True


def projected_file(fh: BinaryIO, drop: set[str]) -> ProjectedFile:
    footer = read_footer_bytes(fh)
    fh.seek(0, 2)
    data_end = fh.tell() - 8 - len(footer)
    return ProjectedFile(fh, data_end, project_footer(footer, drop))
