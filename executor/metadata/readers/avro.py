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

import io
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import TableFacts
from executor.metadata.profile import profile_rows
from executor.metadata.readers.arrow import FILE_VERDICTS, unreadable_note
from executor.metadata.readers.base import FileContext, FileFacts, FormatReader, TableContext
from executor.metadata.readers.varint import zigzag_varint
from executor.metadata.types.algebra import (
    BINARY,
    BOOLEAN,
    DATE,
    DOUBLE,
    FLOAT,
    INT,
    LONG,
    NULL,
    STRING,
    TIMESTAMP,
    TIMESTAMP_NTZ,
    ArrayType,
    DecimalType,
    MapType,
    SparkType,
    StructField,
    StructType,
)
from executor.metadata.window import Window
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
            key = _read_bytes(fh).decode("utf-8", "replace")
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
    try:
        schema = json.loads(meta["avro.schema"].decode("utf-8"))
    except UnicodeDecodeError:
        raise AvroFormatError("the header's avro.schema is not UTF-8 text") from None
    except ValueError as exc:
        raise AvroFormatError(f"the header's avro.schema is not valid JSON ({exc})") from None
    codec = meta.get("avro.codec", b"null").decode("utf-8", "replace") or "null"
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


_PRIMITIVE = {"boolean": BOOLEAN, "int": INT, "long": LONG, "float": FLOAT, "double": DOUBLE, "bytes": BINARY,
              "string": STRING, "null": NULL}


def _named(schema: Any, names: dict[str, Any], namespace: str | None) -> Any:
    if isinstance(schema, str) and schema not in _PRIMITIVE:
        key = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        if key in names:
            return names[key]
        if schema in names:
            return names[schema]
        raise AvroFormatError(f"unknown Avro type {schema}")
    return schema


MAX_PRECISION = 38


def valid_decimal(schema: dict[str, Any]) -> tuple[int, int] | None:
    """(precision, scale) of a decimal logical type Avro's Java library accepts, or None when it
    ignores it as invalid (then the field is its plain bytes/fixed type: Spark's binary): the
    precision must be a positive int within what a fixed of its size holds, the scale an int
    from 0 to the precision."""
    precision, scale = schema.get("precision"), schema.get("scale", 0)
    if type(precision) is not int or type(scale) is not int:
        return None
    if precision <= 0 or scale < 0 or scale > precision:
        return None
    if schema.get("type") == "fixed":
        size = schema.get("size")
        if type(size) is not int or size <= 0:
            return None
        bits = 8 * size - 1
        # LogicalTypes.Decimal.maxPrecision: round(floor(log10(2^(8*size-1) - 1))), in doubles
        most = math.floor(math.log10(float(2 ** bits) - 1)) if bits <= 1023 else math.inf
        if precision > most:
            return None
    return precision, scale


def to_spark(schema: Any, names: dict[str, Any] | None = None, namespace: str | None = None,
             _stack: tuple[str, ...] = ()) -> tuple[SparkType, bool]:
    """(Spark type, nullable) of an Avro schema."""
    names = {} if names is None else names
    schema = _named(schema, names, namespace)
    if isinstance(schema, str):
        return _PRIMITIVE[schema], schema == "null"
    if isinstance(schema, list):  # union
        non_null = [s for s in schema if s != "null"]
        nullable = len(non_null) < len(schema)
        if not non_null:
            return NULL, True
        if len(non_null) == 1:
            t, n = to_spark(non_null[0], names, namespace, _stack)
            return t, nullable or n
        resolved = [_named(s, names, namespace) for s in non_null]
        kinds = sorted(s if isinstance(s, str) else s.get("type") for s in resolved)
        plain = all(isinstance(s, str) or not s.get("logicalType") for s in resolved)
        if plain and kinds == ["int", "long"]:
            return LONG, nullable
        if plain and kinds == ["double", "float"]:
            return DOUBLE, nullable
        # every member nullable: only one of them is set at a time (SchemaConverters.toSqlType)
        members = [StructField(f"member{i}", to_spark(s, names, namespace, _stack)[0]) for i, s in enumerate(non_null)]
        return StructType(tuple(members)), nullable
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
        valid = valid_decimal(schema)
        if valid is not None:
            p, s = valid
            if p > MAX_PRECISION:
                raise AvroFormatError(f"decimal({p},{s}): Spark's decimal precision is at most {MAX_PRECISION} "
                                      f"(DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION)")
            return DecimalType(p, s), False
    if logical == "date" and kind == "int":
        return DATE, False
    if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
        return TIMESTAMP, False
    if logical in ("local-timestamp-millis", "local-timestamp-micros") and kind == "long":
        return TIMESTAMP_NTZ, False
    if kind in ("record", "error"):
        full = schema["name"]
        if full in _stack:
            raise AvroFormatError(f"recursive Avro record {full}: Spark cannot read it")
        parts = [StructField(f["name"], *to_spark(f["type"], names, ns, _stack + (full,)))
                 for f in schema.get("fields", [])]
        return StructType(tuple(parts)), False
    if kind == "enum":
        return STRING, False
    if kind == "fixed":
        return BINARY, False
    if kind == "array":
        return ArrayType(*to_spark(schema["items"], names, ns, _stack)), False
    if kind == "map":
        return MapType(STRING, *to_spark(schema["values"], names, ns, _stack)), False
    if isinstance(kind, (str, list, dict)):
        return to_spark(kind, names, ns, _stack)
    raise AvroFormatError(f"invalid Avro schema {schema!r}")


def spark_columns(schema: Any) -> list[tuple[str, str, bool]]:
    """[(name, Spark type, nullable)] of the top-level record's fields. Spark reads only files
    whose top-level schema is a record (its fields are the table's columns)."""
    try:
        return _columns(schema)
    except KeyError as exc:
        raise AvroFormatError(f"invalid Avro schema: a type without its {exc} attribute") from None
    except (TypeError, AttributeError) as exc:
        raise AvroFormatError(f"invalid Avro schema: an attribute of the wrong JSON type ({exc})") from None
    except RecursionError:
        raise AvroFormatError("invalid Avro schema: nested too deeply") from None


def _columns(schema: Any) -> list[tuple[str, str, bool]]:
    names: dict[str, Any] = {}
    if not isinstance(schema, dict) or schema.get("type") not in ("record", "error"):
        kind = schema.get("type") if isinstance(schema, dict) else ("union" if isinstance(schema, list) else schema)
        raise AvroFormatError(f"the top-level Avro schema is {kind!r}, not a record: Spark cannot convert it to a "
                              "table's columns (Avro schema cannot be converted to a Spark SQL StructType)")
    ns = schema.get("namespace")
    names[schema["name"]] = schema
    out = []
    for f in schema.get("fields", []):
        t, n = to_spark(f["type"], names, ns, (schema["name"],))
        out.append((f["name"], t.simple_string(), n))
    return out


def java_schema(schema: Any, raw: bool = False) -> Any:
    """The schema as Avro's Java library keeps it: decimal logical types it ignores as invalid
    removed (their fields are plain bytes/fixed, Spark's binary), so fastavro decodes what Spark
    reads instead of refusing the schema. `raw`: every logical type removed (values undecoded)."""
    if isinstance(schema, list):
        return [java_schema(s, raw) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (java_schema(v, raw) if k in ("type", "items", "values") else v) for k, v in schema.items()}
    if isinstance(schema.get("fields"), list):
        out["fields"] = [{**f, "type": java_schema(f.get("type"), raw)} if isinstance(f, dict) else f
                         for f in schema["fields"]]
    if "logicalType" in out and (raw or (out.get("logicalType") == "decimal" and out.get("type") in ("bytes", "fixed")
                                         and valid_decimal(out) is None)):
        out = {k: v for k, v in out.items() if k not in ("logicalType", "precision", "scale")}
    return out


def logical_columns(schema: Any) -> set[str]:
    """Top-level fields whose type holds a logical type (their values are converted on decoding)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
        return set()
    return {f["name"] for f in schema["fields"]
            if isinstance(f, dict) and '"logicalType"' in json.dumps(f.get("type"))}


class _Chained(io.RawIOBase):
    """`head` bytes, then `fh` from its current position (a container file with a new header)."""

    def __init__(self, head: bytes, fh: BinaryIO) -> None:
        self._head = head
        self._pos = 0
        self._fh = fh

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._pos < len(self._head):
            n = min(len(buf), len(self._head) - self._pos)
            buf[:n] = self._head[self._pos:self._pos + n]
            self._pos += n
            return n
        data = self._fh.read(len(buf))
        buf[:len(data)] = data
        return len(data)


def java_view(fh: BinaryIO, raw: bool = False) -> BinaryIO:
    """`fh` as a container file whose header schema is java_schema's (fh itself when unchanged)."""
    meta, sync = read_header(fh)
    try:
        schema = json.loads(meta["avro.schema"])
    except (KeyError, ValueError):
        fh.seek(0)
        return fh
    clean = java_schema(schema, raw)
    if clean == schema:
        fh.seek(0)
        return fh
    meta["avro.schema"] = json.dumps(clean).encode("utf-8")
    head = bytearray(MAGIC) + zigzag_varint(len(meta))
    for k, v in meta.items():
        key = k.encode("utf-8")
        head += zigzag_varint(len(key)) + key + zigzag_varint(len(v)) + v
    head += zigzag_varint(0) + sync
    return io.BufferedReader(_Chained(bytes(head), fh))


class SampleSchemaError(ValueError):
    """fastavro refuses the file's schema (values are not sampled; Spark may read them)."""


def read_records(fh: BinaryIO, limit: int, raw: bool = False) -> list[dict[str, Any]]:
    """The first `limit` records, decoded with fastavro (samples and profiles only); `raw`:
    logical types not converted (a far timestamp Python's datetime cannot hold reads as its long)."""
    import fastavro

    out: list[dict[str, Any]] = []
    if limit <= 0:
        return out
    try:
        records = fastavro.reader(java_view(fh, raw))
    except Exception as exc:  # noqa: BLE001 - fastavro's schema checks (stricter than Java Avro's) at open
        raise SampleSchemaError(str(exc)) from exc
    for rec in records:
        out.append(rec if isinstance(rec, dict) else {"value": rec})
        if len(out) >= limit:
            break
    return out


@dataclass
class AvroFileFacts(FileFacts):
    spark_columns: list[tuple[str, str, bool]] | None = None
    logical: set[str] | None = None  # top-level fields holding logical types


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
                             spark_columns=cols, logical=logical_columns(avro.schema))

    def rereads(self, settings: Settings, index: int, rows_before: int | None) -> bool:
        """The samples read the first files until profile_max_rows records."""
        return rows_before is None or rows_before < settings.profile_max_rows

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        s = ctx.settings
        first = facts[plan.files[0].info.uri]
        assert isinstance(first, AvroFileFacts) and first.spark_columns is not None
        table.row_count = sum(facts[f.info.uri].rows or 0 for f in plan.files)
        names_types = plan.data_columns(first.spark_columns)
        nullable = {n: nl for n, _t, nl in first.spark_columns}
        uris = [f.info.uri for f in plan.files]
        slot = ctx.window(plan.name)  # an incremental run: the earlier run's window when provably this one
        earlier = slot.usable(uris, names_types, []) if slot is not None else None
        if earlier is not None and slot is not None:
            slot.use(earlier)
            got = {n: earlier.profile(n, table.row_count) for n, _t in names_types}
            ctx.finish(plan, table, ctx.columns(names_types, nullable, {n: v[1] for n, v in got.items()},
                                                {n: v[0] for n, v in got.items()}))
            return
        rows: list[dict[str, Any]] = []
        used: list[int] = []  # the files the sample came from

        def read(raw: bool) -> list[dict[str, Any]]:
            """The first profile_max_rows records; the files the sample needs are read in parallel."""
            def first_records(uri: str, want: int) -> tuple[list[dict[str, Any]] | None, int]:
                with ctx.store.open(uri) as fh:  # fastavro reads from the start: only the first ranges
                    records = ctx.sandbox.run(read_records, want, raw, file=fh, path=ctx.store.display(uri),
                                              reader="Avro reader", read_ahead=65536)
                return records, len(records)

            got: list[dict[str, Any]] = []
            per_file = ctx.first_files(uris, [facts[f.info.uri].rows for f in plan.files], s.profile_max_rows,
                                       first_records)
            for records in per_file:
                got.extend(records[: s.profile_max_rows - len(got)])
            used[:] = [len(per_file)]
            return got

        sampled = False
        try:
            rows = read(raw=False)
            sampled = True
        except FILE_VERDICTS:
            raise  # fastavro crashed, hung or ran out of memory on a file, or it is gone: its table fails
        except SampleSchemaError as exc:
            logger.warning("table %s: fastavro cannot read the schema for samples (%s)", plan.name, exc)
            for n, _t in names_types:
                table.column_notes.setdefault(n, f"no samples or profile: fastavro cannot read this file's schema "
                                                 f"({str(exc)[:200]}); Spark reads it")
        except Exception as exc:  # noqa: BLE001 - samples are best effort, counts are not
            try:  # a value Python cannot hold (a timestamp past year 9999), or records that do not decode?
                raw_rows = read(raw=True)
            except FILE_VERDICTS:
                raise
            except Exception:  # noqa: BLE001 - the records themselves do not decode
                logger.warning("table %s: Avro records unreadable for samples (%s)", plan.name, exc)
                table.add_table_note(unreadable_note(exc))
            else:
                converted: set[str] = set()
                for f in plan.files:
                    fact = facts[f.info.uri]
                    if isinstance(fact, AvroFileFacts):
                        converted |= fact.logical or set()
                for n in sorted(converted):
                    table.column_notes.setdefault(n, f"no samples or profile: its values cannot be converted "
                                                     f"({str(exc)[:200]})")
                rows = [{k: v for k, v in r.items() if k not in converted} for r in raw_rows]
        profiles = profile_rows(names_types, rows, ctx.scope(len(rows), table.row_count), s.sample_value_max_chars)
        samples = ctx.row_samples([n for n, _ in names_types], rows)
        if slot is not None and sampled and used:
            window = Window(files=[slot.relative.get(u, u) for u in uris[: used[0]]],
                            filled=len(rows) >= s.profile_max_rows, seen=len(rows), names_types=list(names_types))
            for n, _t in names_types:
                window.put(n, profiles[n], samples[n])
            slot.record(window)
        ctx.finish(plan, table, ctx.columns(names_types, nullable, samples, profiles))
