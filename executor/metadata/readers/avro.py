"""Avro object container files without Spark: the writer schema from the header and the exact
record count from the block headers (each block starts with its record count and byte size; the
blocks are skipped, never decompressed or decoded). Pure Python.

Types follow spark-avro's SchemaConverters.toSqlType (Spark 3.5 / 4.0): boolean, int -> int,
long -> bigint, float, double, bytes/fixed -> binary, string/enum -> string, date -> date,
timestamp-millis/micros -> timestamp, local-timestamp-millis/micros -> timestamp_ntz,
decimal -> decimal(p,s), record -> struct<...>, array -> array<...>, map -> map<string,...>;
a union with null is its other branch, nullable; [int, long] -> bigint; [float, double] -> double;
other unions -> struct<member0:...,member1:...>. Samples and profiles: the first records,
decoded with fastavro (best effort: counts and types never depend on them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import TableFacts
from executor.metadata.profile import profile_rows
from executor.metadata.readers.base import FileContext, FileFacts, FormatReader, TableContext
from executor.settings import Settings
from executor.sources.base import open_sequential

logger = logging.getLogger(__name__)

MAGIC = b"Obj\x01"
SYNC_SIZE = 16


class AvroFormatError(ValueError):
    pass


def _read_long(fh: BinaryIO) -> int:
    shift = 0
    acc = 0
    while True:
        b = fh.read(1)
        if not b:
            raise EOFError("unexpected end of Avro data")
        byte = b[0]
        acc |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 63:
            raise AvroFormatError("varint too long")
    return (acc >> 1) ^ -(acc & 1)


def _read_bytes(fh: BinaryIO) -> bytes:
    n = _read_long(fh)
    if n < 0:
        raise AvroFormatError("negative length")
    data = fh.read(n)
    if len(data) != n:
        raise EOFError("unexpected end of Avro data")
    return data


@dataclass
class AvroFacts:
    schema: Any  # the parsed writer schema (JSON)
    codec: str
    rows: int
    blocks: int


def read_header(fh: BinaryIO) -> tuple[dict[str, bytes], bytes]:
    if fh.read(4) != MAGIC:
        raise AvroFormatError("not an Avro object container file (bad magic)")
    meta: dict[str, bytes] = {}
    while True:
        count = _read_long(fh)
        if count == 0:
            break
        if count < 0:
            _read_long(fh)  # block byte size
            count = -count
        for _ in range(count):
            key = _read_bytes(fh).decode("utf-8")
            meta[key] = _read_bytes(fh)
    sync = fh.read(SYNC_SIZE)
    if len(sync) != SYNC_SIZE:
        raise EOFError("unexpected end of Avro header")
    return meta, sync


def read_avro_facts(fh: BinaryIO) -> AvroFacts:
    """Schema, codec and exact record count (block headers only)."""
    meta, sync = read_header(fh)
    if "avro.schema" not in meta:
        raise AvroFormatError("Avro header has no avro.schema")
    schema = json.loads(meta["avro.schema"].decode("utf-8"))
    codec = meta.get("avro.codec", b"null").decode("utf-8") or "null"
    rows = blocks = 0
    while True:
        first = fh.read(1)
        if not first:
            break
        # push the byte back: varint reading needs it
        fh.seek(-1, 1)
        count = _read_long(fh)
        size = _read_long(fh)
        if count < 0 or size < 0:
            raise AvroFormatError("corrupt Avro block header")
        fh.seek(size, 1)
        marker = fh.read(SYNC_SIZE)
        if marker != sync:
            raise AvroFormatError(f"corrupt Avro file: block {blocks + 1} does not end with the sync marker")
        rows += count
        blocks += 1
    return AvroFacts(schema=schema, codec=codec, rows=rows, blocks=blocks)


_PRIMITIVE = {"boolean": "boolean", "int": "int", "long": "bigint", "float": "float", "double": "double",
              "bytes": "binary", "string": "string", "null": "void"}


def _named(schema: Any, names: dict[str, Any], namespace: str | None) -> Any:
    if isinstance(schema, str) and schema not in _PRIMITIVE:
        key = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        if key in names:
            return names[key]
        if schema in names:
            return names[schema]
        raise AvroFormatError(f"unknown Avro type {schema}")
    return schema


def to_spark(schema: Any, names: dict[str, Any] | None = None, namespace: str | None = None,
             _stack: tuple = ()) -> tuple[str, bool]:
    """(Spark type string, nullable) of an Avro schema."""
    names = {} if names is None else names
    schema = _named(schema, names, namespace)
    if isinstance(schema, str):
        return _PRIMITIVE[schema], schema == "null"
    if isinstance(schema, list):  # union
        non_null = [s for s in schema if s != "null"]
        nullable = len(non_null) < len(schema)
        if not non_null:
            return "void", True
        if len(non_null) == 1:
            t, n = to_spark(non_null[0], names, namespace, _stack)
            return t, nullable or n
        resolved = [_named(s, names, namespace) for s in non_null]
        kinds = sorted(s if isinstance(s, str) else s.get("type") for s in resolved)
        plain = all(isinstance(s, str) or not s.get("logicalType") for s in resolved)
        if plain and kinds == ["int", "long"]:
            return "bigint", nullable
        if plain and kinds == ["double", "float"]:
            return "double", nullable
        members = [f"member{i}:{to_spark(s, names, namespace, _stack)[0]}" for i, s in enumerate(non_null)]
        return "struct<" + ",".join(members) + ">", nullable
    if not isinstance(schema, dict):
        raise AvroFormatError(f"invalid Avro schema {schema!r}")
    kind = schema.get("type")
    logical = schema.get("logicalType")
    ns = schema.get("namespace", namespace)
    if kind in ("record", "error", "enum", "fixed") and "name" in schema:
        full = schema["name"] if "." in schema["name"] or not ns else f"{ns}.{schema['name']}"
        names[full] = schema
        names.setdefault(schema["name"], schema)
    if logical == "decimal" and kind in ("bytes", "fixed"):
        return f"decimal({schema['precision']},{schema.get('scale', 0)})", False
    if logical == "date" and kind == "int":
        return "date", False
    if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
        return "timestamp", False
    if logical in ("local-timestamp-millis", "local-timestamp-micros") and kind == "long":
        return "timestamp_ntz", False
    if kind in ("record", "error"):
        full = schema["name"]
        if full in _stack:
            raise AvroFormatError(f"recursive Avro record {full}: Spark cannot read it")
        parts = [f"{f['name']}:{to_spark(f['type'], names, ns, _stack + (full,))[0]}"
                 for f in schema.get("fields", [])]
        return "struct<" + ",".join(parts) + ">", False
    if kind == "enum":
        return "string", False
    if kind == "fixed":
        return "binary", False
    if kind == "array":
        return f"array<{to_spark(schema['items'], names, ns, _stack)[0]}>", False
    if kind == "map":
        return f"map<string,{to_spark(schema['values'], names, ns, _stack)[0]}>", False
    if isinstance(kind, (str, list, dict)):
        return to_spark(kind, names, ns, _stack)
    raise AvroFormatError(f"invalid Avro schema {schema!r}")


def spark_columns(schema: Any) -> list[tuple[str, str, bool]]:
    """[(name, Spark type, nullable)] of the top-level record's fields."""
    names: dict[str, Any] = {}
    if not isinstance(schema, dict) or schema.get("type") not in ("record", "error"):
        t, n = to_spark(schema, names)
        return [("value", t, n)]
    ns = schema.get("namespace")
    names[schema["name"]] = schema
    out = []
    for f in schema.get("fields", []):
        t, n = to_spark(f["type"], names, ns, (schema["name"],))
        out.append((f["name"], t, n))
    return out


def read_records(fh: BinaryIO, limit: int) -> list[dict[str, Any]]:
    """The first `limit` records, decoded with fastavro (samples and profiles only)."""
    import fastavro

    out: list[dict[str, Any]] = []
    if limit <= 0:
        return out
    for rec in fastavro.reader(fh):
        out.append(rec if isinstance(rec, dict) else {"value": rec})
        if len(out) >= limit:
            break
    return out


@dataclass
class AvroFileFacts(FileFacts):
    spark_columns: list[tuple[str, str, bool]] | None = None


class AvroReader(FormatReader):
    formats = ("avro",)
    extensions = {".avro": "avro"}
    sniff_rank = 0
    early_facts = True

    def sniff(self, head: bytes) -> str | None:
        return "avro" if head.startswith(MAGIC) else None

    def file_facts(self, ctx: FileContext, pf: PlannedFile, file_format: str, sample_rows: int) -> FileFacts:
        with open_sequential(ctx.store, pf.info.uri) as fh:  # every block header, to the end
            avro = read_avro_facts(fh)
        cols = spark_columns(avro.schema)
        return AvroFileFacts(signature=("avro", tuple(sorted((n, t) for n, t, _ in cols))), rows=avro.rows,
                             spark_columns=cols)

    def rereads(self, settings: Settings, index: int, rows_before: int | None) -> bool:
        """The samples read the first files until profile_max_rows records."""
        return rows_before is None or rows_before < settings.profile_max_rows

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        s = ctx.settings
        first = facts[plan.files[0].info.uri]
        assert isinstance(first, AvroFileFacts) and first.spark_columns is not None
        table.row_count = sum(facts[f.info.uri].rows or 0 for f in plan.files)
        partition_names = set(plan.partition_keys)
        names_types = [(n, t) for n, t, _ in first.spark_columns if n not in partition_names]
        rows: list[dict[str, Any]] = []

        failed: list[Exception] = []

        def first_records(uri: str, want: int) -> tuple[list[dict[str, Any]] | None, int]:
            try:
                with ctx.store.open(uri) as fh:  # fastavro reads from the start: only the first ranges
                    records = read_records(fh, want)
            except Exception as exc:  # noqa: BLE001 - samples are best effort, counts are not
                failed.append(exc)
                return None, 0  # the sample ends here, with the records of the files before
            return records, len(records)

        # the files the sample needs, read in parallel
        for records in ctx.first_files([f.info.uri for f in plan.files], [facts[f.info.uri].rows for f in plan.files],
                                       s.profile_max_rows, first_records):
            rows.extend(records[: s.profile_max_rows - len(rows)])
        if failed:
            logger.warning("table %s: Avro records unreadable for samples (%s)", plan.name, failed[0])
        profiles = profile_rows(names_types, rows, ctx.scope(len(rows), table.row_count), s.sample_value_max_chars)
        nullable = {n: nl for n, _t, nl in first.spark_columns}
        ctx.finish(plan, table, ctx.columns(names_types, nullable, ctx.row_samples([n for n, _ in names_types], rows),
                                            profiles))
