"""JSON files without Spark: exact row and malformed-record counts, and Spark's JSON schema
inference (JsonInferSchema, Spark 3.5 / 4.0 defaults: executor/metadata/types/json_inference.py);
one streaming parse per file gives the counts, the type and the rows kept for samples and profiles.

Modes (per file, decided from its content):
- `lines` (JSON Lines): the first non-blank line starts with a complete JSON value. Each non-blank
  line is a record; a line holding an array of objects gives one row per object.
- `document` (multi-line JSON, Spark's multiLine=true): the file's first JSON value, an object
  (one row) or an array of objects (one row per element); whatever follows it (more
  pretty-printed objects, text) is ignored, as Spark's reader ignores it. Read whole into memory,
  as Spark does per file in multiLine mode.

Rows are what Spark's PERMISSIVE reader returns: a malformed record (text that does not parse, a
top-level value that is not an object or an array of objects) is a row of nulls with the text in
`_corrupt_record`; it is counted in `malformed`. Blank lines are not rows. Like Spark's parser
(Jackson), a record is the first JSON value of its line (or document): text after it is ignored.

Types, exactly as Spark infers them with default options (samplingRatio=1: every record):
integers -> bigint (beyond 64 bits: decimal(p,0), beyond 38 digits: double), other numbers ->
double, strings -> string (no timestamp/date inference: inferTimestamp=false), booleans ->
boolean, objects -> struct<...> with fields sorted by name, arrays -> array<...> (elements
merged), null-only fields -> string, empty objects dropped. Conflicting types widen as Spark's
compatibleType does (bigint+double -> double, anything else -> string). A malformed record adds
the column `_corrupt_record: string`. Differences left: Python's parser rejects single-quoted
strings (Spark's allowSingleQuotes=true accepts them): such records count as malformed here.

Incremental runs: a file's record keeps its mode, rows, malformed records and merged root type
(executor.metadata.incremental), not its sample rows; a changed table's window (the first rows of
its first files, each file giving its share of NUVYN_PROFILE_MAX_ROWS) is reused when provably the
same (executor.metadata.window), else its restored files are read again up to their share.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from executor.metadata.compression import open_data
from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import TableFacts
from executor.metadata.profile import profile_rows
from executor.metadata.readers.base import FileContext, FileFacts, FormatReader, TableContext, text_head
from executor.metadata.types.algebra import SparkType
from executor.metadata.types.json_inference import (
    CORRUPT,
    CORRUPT_ONLY,
    EMPTY_STRUCT,
    compatible_root,
    infer_value,
    root_columns,
)


@dataclass
class JsonScan:
    mode: str  # lines | document
    rows: int = 0  # rows Spark's PERMISSIVE reader returns (malformed ones included)
    malformed: int = 0
    root: SparkType = EMPTY_STRUCT  # merged root type (before canonicalize)
    sample: list[dict[str, Any]] = field(default_factory=list)  # first rows (objects) for profiles
    first_error: str | None = None
    sampled: bool = True  # False: restored from a record (incremental): `sample` was not kept


def _record(scan: JsonScan, value: Any, ok: bool, sample_rows: int, error: str | None = None,
            text: bytes = b"") -> None:
    """One parsed record (or a failed parse, with its text) into the scan."""
    if not ok:
        scan.rows += 1
        scan.malformed += 1
        scan.root = compatible_root(scan.root, CORRUPT_ONLY)
        scan.first_error = scan.first_error or error
        if len(scan.sample) < sample_rows:
            scan.sample.append({CORRUPT: text[:1000].decode("utf-8", "replace").rstrip("\r\n")})
        return
    t = infer_value(value)
    if isinstance(value, dict):
        scan.rows += 1
        if len(scan.sample) < sample_rows:
            scan.sample.append(value)
    elif isinstance(value, list) and all(isinstance(x, dict) for x in value):
        scan.rows += len(value)
        for x in value:
            if len(scan.sample) < sample_rows:
                scan.sample.append(x)
    else:  # a scalar, null, or an array with non-object elements: Spark's corrupt record
        scan.rows += 1
        scan.malformed += 1
        scan.first_error = scan.first_error or "a top-level value that is not an object"
        if len(scan.sample) < sample_rows:
            scan.sample.append({})
    scan.root = compatible_root(scan.root, t)


def first_value(data: bytes) -> Any:
    """The document's first JSON value, as Spark's multiLine reader takes it: Jackson parses one
    value from the start of the file and ignores whatever follows (more pretty-printed objects, or
    text that is not JSON). ValueError when that first value does not parse."""
    try:
        text = data.decode(json.detect_encoding(data), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid {exc.encoding} text") from None
    start = len(text) - len(text.lstrip(" \t\r\n\ufeff"))
    value, _end = json.JSONDecoder().raw_decode(text, start)
    return value


def line_value(line: bytes) -> Any:
    """One JSON Lines record as Spark's line reader takes it: the line's first JSON value, whatever
    follows it on the line ignored (`{"a":1} xyz` is a=1); ValueError when that value does not parse."""
    try:
        return json.loads(line)
    except ValueError:
        return first_value(line)  # the common case stays on json.loads; trailing text is rare


def detect_mode(head: bytes) -> str:
    """'lines' when the first non-blank line starts with a complete JSON value, else 'document'."""
    for line in head.splitlines():
        if line.strip():
            try:
                line_value(line)
                return "lines"
            except ValueError:
                return "document"
    return "lines"


def scan_json(stream: BinaryIO, *, sample_rows: int = 0, mode: str | None = None,
              max_document_bytes: int = 1 << 31, sample_only: bool = False) -> JsonScan:
    """Read a (decompressed) JSON stream once: exact rows, malformed records, merged root type,
    and the first `sample_rows` objects. `sample_only`: stop once the sample is full (the first rows
    only: the counts and type are then those of the rows read)."""
    if mode is None:
        head = stream.read(1 << 16)
        while head.strip() and b"\n" not in head.lstrip():
            more = stream.read(1 << 16)
            if not more:
                break
            head += more
        stream.seek(0)
        mode = detect_mode(head)
    scan = JsonScan(mode=mode)
    if mode == "document":
        data = stream.read(max_document_bytes + 1)
        if len(data) > max_document_bytes:
            raise ValueError(f"multi-line JSON document larger than {max_document_bytes} bytes")
        if not data.strip():
            return scan
        try:
            value = first_value(data)
        except ValueError as exc:
            _record(scan, None, False, sample_rows, str(exc), data)
            return scan
        _record(scan, value, True, sample_rows)
        return scan
    for line in stream:
        if sample_only and len(scan.sample) >= sample_rows:
            break
        if not line.strip():
            continue
        try:
            value = line_value(line)
        except ValueError as exc:
            _record(scan, None, False, sample_rows, str(exc), line)
            continue
        _record(scan, value, True, sample_rows)
    return scan


@dataclass
class JsonFacts(FileFacts):
    scan: JsonScan | None = None  # the file's streaming parse: rows, malformed records, type, first rows


class JsonReader(FormatReader):
    formats = ("json",)
    # 2: the record holds the file's mode, malformed records and root type (a changed table's unchanged
    # files are not read); records of version 1 held the signature and rows only
    rule_version = 2
    extensions = {".json": "json", ".jsonl": "json", ".ndjson": "json"}
    compressible = True
    sniff_rank = 10

    def sniff(self, head: bytes) -> str | None:
        text = text_head(head)
        return "json" if text is not None and text[:1] in (b"{", b"[") else None

    def file_facts(self, ctx: FileContext, pf: PlannedFile, file_format: str, sample_rows: int) -> FileFacts:
        with open_data(ctx.store, pf.info.uri, pf.compression, sequential=True) as fh:  # the whole file
            if b"\x00" in fh.read(4096):
                return FileFacts(error=f"{pf.info.relative or pf.info.name} is not a text file (binary content)")
            fh.seek(0)
            scan = scan_json(fh, sample_rows=sample_rows)
        return JsonFacts(signature=("json", scan.mode), rows=scan.rows, scan=scan)

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        s = ctx.settings
        scans = []
        for f in plan.files:
            fact = facts[f.info.uri]
            assert isinstance(fact, JsonFacts) and fact.scan is not None
            scans.append(fact.scan)
        root: SparkType = EMPTY_STRUCT
        for scan in scans:
            root = compatible_root(root, scan.root)
        table.row_count = total = sum(scan.rows for scan in scans)
        table.malformed_records = sum(scan.malformed for scan in scans)
        if ctx.fast:
            inferred = [(n, t.simple_string()) for n, t in root_columns(root)]
        else:  # inference=spark: Spark reads the files (one job)
            reader = ctx.reader().option("multiLine", "true" if scans[0].mode == "document" else "false")
            inferred = ctx.spark_schema(reader.json(ctx.spark_uris(plan)).schema)
        names_types = plan.data_columns(inferred)
        share = ctx.sample_share(plan)
        if ctx.reused_window(plan, table, names_types, total, {"share": share}):
            return  # an incremental run: the earlier run's window, provably this table's

        def first_rows(pf: PlannedFile) -> list[dict[str, Any]]:  # a restored file's first rows, as a full run reads them
            with open_data(ctx.store, pf.info.uri, pf.compression, sequential=True) as fh:
                return scan_json(fh, sample_rows=share, mode=mode_of[pf.info.uri], sample_only=True).sample

        mode_of = {f.info.uri: scan.mode for f, scan in zip(plan.files, scans, strict=True)}
        rows, used = ctx.share_rows(plan, [scan.rows for scan in scans],
                                    [scan.sample if scan.sampled else None for scan in scans], share, first_rows)
        doubles = {n for n, t in names_types if t in ("double", "float")}
        if doubles:  # a JSON integer in a double column reads as Spark shows it (1 -> 1.0)
            rows = [{k: (float(v) if k in doubles and isinstance(v, int) and not isinstance(v, bool) else v)
                     for k, v in r.items()} for r in rows]
        profiles = profile_rows(names_types, rows, ctx.scope(len(rows), total), s.sample_value_max_chars)
        samples = ctx.row_samples([n for n, _ in names_types], rows)
        ctx.record_window(plan, used, len(rows), names_types, profiles, samples, {"share": share})
        ctx.finish(plan, table, ctx.columns(names_types, {}, samples, profiles))
