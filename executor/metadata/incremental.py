"""Incremental runs (refresh: incremental): which facts of the workflow's last completed run a run may
reuse, and the per-file records that make reuse possible. Plain Python: no Spark, no storage.

The record (`FileRecord`, one `file_facts` row per file of each ok table) holds a file's identity
(path, size, modified time, ETag when the store has one), the rules that read it (format, the reader's
`rule_version`, the executor's version, the fingerprint of the settings that shape results, the record
format) and the facts a table needs without opening the file again (schema signature, exact rows; CSV:
dialect, header decision, header cells, record counts; Parquet: footer statistics with typed values
(`encode_value`), nullability, Spark columns, notes; ORC and Avro: Spark columns and their notes; JSON:
mode, rows, malformed records, the merged root type (types.codec)). The record of a table's first file
also holds the table's window (executor.metadata.window).

The decision, per run (README, "Incremental runs"):
  1. a listed file whose identity and rules equal its record's is not opened: its facts come from the
     record (`restore`); any other file is read as in a full run;
  2. a table whose files are exactly the files of an ok table of the same name in the earlier run, all
     unchanged, is that table's result again (rows, columns, types, profiles, samples): nothing of it
     is read (`reusable_table`);
  3. any other table is extracted as a full run extracts it, from the restored facts of its unchanged
     files and reads of the others; its window (samples, distinct counts, sampled profiles, CSV types)
     comes from the earlier run's record when it is provably the same rows (`prior_window`,
     window.WindowSlot.usable), else it is read as in a full run. XML records hold the signature and
     rows only: its unchanged files are read again when their table changed (`needs_read`);
  4. tables and files that are no longer listed drop out: the run writes only what it found.
A failed table of the earlier run has no records, and a failed or running run is never the earlier
run, so nothing of a failure is reused.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

from executor.metadata import csv_scan
from executor.metadata.model import ROLE_DATA, TABLE_OK, FileRecord, TableFacts
from executor.metadata.readers.avro import AvroFileFacts
from executor.metadata.readers.base import FileFacts
from executor.metadata.readers.csv import CsvFacts
from executor.metadata.readers.json import JsonFacts, JsonScan
from executor.metadata.readers.orc import OrcFacts
from executor.metadata.readers.parquet import ParquetFacts
from executor.metadata.readers.xml import XmlFacts
from executor.metadata.types.codec import decode_type, encode_type
from executor.metadata.window import Window
from executor.metadata.xml_scan import XmlScan
from executor.settings import Settings
from executor.sources.base import FileInfo

# What a record's facts hold and mean: bump it when that changes (a record of another format is not
# restored: its file is read). 2: Parquet and ORC facts complete (statistics, nullability, Spark columns,
# notes); the table's window (executor.metadata.window) with its first file.
RECORD_FORMAT = 2

# Settings whose value shapes a table's result: a record made under other values is not reused.
RESULT_SETTINGS = ("infer_sample_records", "infer_sample_files", "sample_value_max_chars", "sample_values_count",
                   "profile_max_rows", "inference")


def settings_fingerprint(settings: Settings, spark_version: str, csv_header: str, data_source_type: str,
                         format_options: Mapping[str, Any] | None = None) -> str:
    """sha256 (first 16 hex digits) of what, besides the files, decides a table's result (format_options:
    each format's options, e.g. xml.rowTag)."""
    shaping: dict[str, Any] = {name: getattr(settings, name) for name in RESULT_SETTINGS}
    shaping.update(spark_version=spark_version, csv_header=csv_header, data_source_type=data_source_type,
                   format_options=dict(format_options or {}))
    text = json.dumps(shaping, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def modified_us(info: FileInfo) -> int | None:
    """The listing's modified time in whole microseconds (what the record stores)."""
    return None if info.modified is None else round(info.modified * 1_000_000)


@dataclass(frozen=True)
class Rules:
    """What, besides its bytes, decides what a file's facts are."""

    executor_version: str
    settings_fingerprint: str


def same_file(record: FileRecord, info: FileInfo) -> bool:
    """The listed file is the record's file, unchanged: path, size, modified time, and the ETag when
    either side has one (a store with ETags changes it on every write)."""
    return (record.path == info.relative and record.size == info.size
            and record.modified_us == modified_us(info) and record.etag == info.etag)


def same_rules(record: FileRecord, file_format: str, compression: str | None, rule_version: int,
               rules: Rules) -> bool:
    """The record was read by the same reader rules, executor version and result-shaping settings."""
    return (record.file_format == file_format and record.compression == compression
            and record.rule_version == rule_version and record.executor_version == rules.executor_version
            and record.settings_fingerprint == rules.settings_fingerprint)


@dataclass
class PriorRun:
    """The facts of the workflow's latest completed run over the same source that a run may reuse."""

    run_id: str
    tables: dict[str, TableFacts] = field(default_factory=dict)  # its ok tables, by name
    files: dict[str, FileRecord] = field(default_factory=dict)  # its records, by path
    table_names: set[str] = field(default_factory=set)  # every table it wrote (failed ones too)

    def __post_init__(self) -> None:
        self._by_table: dict[str, dict[str, FileRecord]] = {}
        for path, record in self.files.items():
            self._by_table.setdefault(record.table_name, {})[path] = record

    def files_of(self, table_name: str) -> dict[str, FileRecord]:
        return self._by_table.get(table_name, {})


# ---------------------------------------------------------------------- facts <-> JSON


def _json_value(value: Any) -> Any:
    """A signature as JSON: tuples become lists (restored as tuples: signatures hold no lists)."""
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def encode_value(value: Any) -> Any:
    """A statistic (Parquet footer min/max: None, bool, int, float, str, bytes, Decimal, date, time,
    datetime naive or with a fixed offset) as JSON, losslessly: JSON's own scalars as they are, the
    others as [tag, text]. TypeError for any other value (the facts are then not recorded)."""
    if value is None or isinstance(value, (bool, str)) or type(value) is int:
        return value
    if type(value) is float:
        return ["f", value.hex()]
    if type(value) is bytes:
        return ["b", value.hex()]
    if type(value) is Decimal:
        return ["D", str(value)]
    if type(value) is datetime and (value.tzinfo is None or type(value.tzinfo) is timezone):
        return ["dt", value.isoformat()]
    if type(value) is date:
        return ["d", value.isoformat()]
    if type(value) is time and value.tzinfo is None:
        return ["t", value.isoformat()]
    raise TypeError(f"not a recordable value: {type(value).__name__}")


_DECODE = {"f": float.fromhex, "b": bytes.fromhex, "D": Decimal, "dt": datetime.fromisoformat,
           "d": date.fromisoformat, "t": time.fromisoformat}


def decode_value(data: Any) -> Any:
    """encode_value's value again (the same type, the same value)."""
    if isinstance(data, list):
        tag, text = data
        return _DECODE[tag](text)
    return data


def _reader_facts(facts: FileFacts) -> dict[str, Any] | None:
    """A Parquet, ORC, Avro or JSON file's own facts (everything its table step uses but the sample rows,
    which a changed table reads again when its window is), or None for other readers."""
    if isinstance(facts, JsonFacts) and facts.scan is not None:
        scan = facts.scan  # the merged root type before canonicalize: void fields, empty structs, arrays
        return {"json": {"mode": scan.mode, "rows": scan.rows, "malformed": scan.malformed,
                         "root": encode_type(scan.root)}}
    if isinstance(facts, XmlFacts) and facts.scan is not None:  # its types are plain tuples and strings
        return {"xml": {"row_tag": facts.row_tag, "rows": facts.scan.rows, "corrupt": facts.scan.corrupt,
                        "root": _json_value(facts.scan.root)}}
    if isinstance(facts, ParquetFacts):
        stats = None if facts.stats is None else {
            name: [nulls, encode_value(lo), encode_value(hi), lo_ok, hi_ok]
            for name, (nulls, lo, hi, lo_ok, hi_ok) in facts.stats.items()}
        return {"parquet": {"stats": stats, "nullable": facts.nullable, "notes": facts.notes,
                            "spark_columns": None if facts.spark_columns is None
                            else [list(c) for c in facts.spark_columns]}}
    if isinstance(facts, AvroFileFacts):
        return {"avro": {"logical": None if facts.logical is None else sorted(facts.logical),
                         "spark_columns": None if facts.spark_columns is None
                         else [list(c) for c in facts.spark_columns]}}
    if isinstance(facts, OrcFacts):
        return {"orc": {"no_values": facts.no_values, "spark_columns": None if facts.spark_columns is None
                        else [list(c) for c in facts.spark_columns]}}
    return None


def facts_to_json(facts: FileFacts) -> dict[str, Any] | None:
    """The restorable part of a file's facts, or None when its signature is not plain data or the
    file failed (a failed file's table is failed: never recorded)."""
    if facts.error is not None or facts.signature is None:
        return None
    try:
        out: dict[str, Any] = {"format": RECORD_FORMAT, "signature": _json_value(facts.signature), "rows": facts.rows}
        out.update(_reader_facts(facts) or {})
    except TypeError:
        return None
    fut = facts.count if isinstance(facts, CsvFacts) else None
    if isinstance(facts, CsvFacts) and facts.dialect is not None and fut is not None and fut.done() \
            and fut.exception() is None:
        count, d = fut.result(), facts.dialect
        out["csv"] = {"delimiter": d.delimiter, "encoding": d.encoding, "header": d.header,
                      "quotechar": d.quotechar, "bom": d.bom, "header_reason": d.header_reason,
                      "header_cells": facts.header, "records": count.records, "data_rows": count.data_rows}
    return out


def dump_facts(facts: dict[str, Any]) -> str:
    """A record's facts as the file_facts row's JSON text."""
    return json.dumps(facts, ensure_ascii=False, sort_keys=True)


def record_facts(facts: dict[str, Any] | str | None, window: Window | None, extracted: bool) -> str | None:
    """A record's facts as JSON text: `facts` are this run's (facts_to_json) or a restored record's
    text. `extracted`: the file's table was extracted, so `window` (None on all but its first file)
    replaces any window the facts held; a restored text without a window is kept as it is."""
    if facts is None:
        return None
    if extracted:
        if isinstance(facts, str):
            if window is None and '"window"' not in facts:
                return facts
            try:
                parsed = json.loads(facts)
            except ValueError:
                return None
            if not isinstance(parsed, dict):
                return None
            facts = parsed
        facts = with_window(facts, window)
    return facts if isinstance(facts, str) else dump_facts(facts)


def _done(value: csv_scan.CsvCount) -> Future[csv_scan.CsvCount]:
    fut: Future[csv_scan.CsvCount] = Future()
    fut.set_result(value)
    return fut


@dataclass
class RestoredFacts(FileFacts):
    """Facts from a record that are enough to plan (signature, rows) but not to extract the table:
    its reader reads the file again if the table is extracted."""


def restore(record: FileRecord) -> FileFacts | None:
    """The facts a record holds: complete CsvFacts (dialect, header, exact count) for CSV/TSV, else
    RestoredFacts (signature and rows); None when the record holds none."""
    data = record.facts
    if not data or data.get("signature") is None or data.get("format") != RECORD_FORMAT:
        return None  # none, or written by an executor whose record meant less: the file is read
    signature = _hashable(data["signature"])
    rows = data.get("rows")
    parquet, orc, avro, js = data.get("parquet"), data.get("orc"), data.get("avro"), data.get("json")
    xml = data.get("xml")
    if isinstance(xml, dict):
        return XmlFacts(signature=signature, rows=rows, row_tag=xml["row_tag"], scan=XmlScan(
            rows=xml["rows"], corrupt=xml["corrupt"], root=_hashable(xml["root"]), sampled=False))
    if isinstance(js, dict):
        try:
            root = decode_type(js["root"])
        except ValueError:
            return None
        return JsonFacts(signature=signature, rows=rows, scan=JsonScan(
            mode=js["mode"], rows=js["rows"], malformed=js["malformed"], root=root, sampled=False))
    if isinstance(avro, dict):
        return AvroFileFacts(signature=signature, rows=rows,
                             logical=None if avro["logical"] is None else set(avro["logical"]),
                             spark_columns=None if avro["spark_columns"] is None
                             else [(n, t, bool(nl)) for n, t, nl in avro["spark_columns"]])
    if isinstance(parquet, dict):
        stats = parquet["stats"]
        return ParquetFacts(signature=signature, rows=rows, nullable=parquet["nullable"], notes=parquet["notes"],
                            spark_columns=None if parquet["spark_columns"] is None
                            else [(n, t, bool(nl)) for n, t, nl in parquet["spark_columns"]],
                            stats=None if stats is None else {
                                sys.intern(name): (nulls, decode_value(lo), decode_value(hi), lo_ok, hi_ok)
                                for name, (nulls, lo, hi, lo_ok, hi_ok) in stats.items()})
    if isinstance(orc, dict):
        return OrcFacts(signature=signature, rows=rows, no_values=orc["no_values"],
                        spark_columns=None if orc["spark_columns"] is None
                        else [(n, t, bool(nl)) for n, t, nl in orc["spark_columns"]])
    csv = data.get("csv")
    if isinstance(csv, dict):
        dialect = csv_scan.CsvDialect(delimiter=csv["delimiter"], encoding=csv["encoding"], header=csv["header"],
                                      quotechar=csv["quotechar"], bom=csv["bom"], header_reason=csv["header_reason"])
        count = csv_scan.CsvCount(records=csv["records"], data_rows=csv["data_rows"], bytes_read=0,
                                  exact_path="reused")
        header = csv["header_cells"]
        return CsvFacts(signature=signature, rows=rows, dialect=dialect,
                        header=list(header) if header is not None else None, count=_done(count))
    return RestoredFacts(signature=signature, rows=rows)


def needs_read(facts: FileFacts | None) -> bool:
    """True when a file's facts must be read before its table is extracted."""
    return facts is None or isinstance(facts, RestoredFacts)


# ---------------------------------------------------------------------- the decisions


def with_window(facts: dict[str, Any], window: Window | None) -> dict[str, Any]:
    """A record's facts holding `window` (None: none; a restored record's old window is dropped)."""
    out = {k: v for k, v in facts.items() if k != "window"}
    if window is not None:
        out["window"] = window.to_json()
    return out


def prior_window(prior: PriorRun | None, table_name: str, unchanged: frozenset[str]) -> Window | None:
    """The window the earlier run recorded for table `table_name`, when the record holding it is of a
    file unchanged now (so read under the same rules and settings); else None."""
    if prior is None:
        return None
    for path, record in prior.files_of(table_name).items():
        if record.facts_json is None or '"window"' not in record.facts_json:
            continue  # not parsed: a table's records are many, its window is on one
        data = record.facts
        if data and "window" in data:
            return Window.from_json(data["window"]) if path in unchanged else None
    return None


def restorable(prior: PriorRun | None, info: FileInfo, file_format: str, compression: str | None,
               rule_version: int, rules: Rules) -> FileFacts | None:
    """The facts of an unchanged file from the earlier run's record, or None: read it."""
    if prior is None:
        return None
    record = prior.files.get(info.relative)
    if record is None or record.role != ROLE_DATA or not same_file(record, info):
        return None
    if not same_rules(record, file_format, compression, rule_version, rules):
        return None
    return restore(record)


def reusable_table(prior: PriorRun | None, name: str, files: Mapping[str, FileInfo], file_format: str,
                   rule_version: int, rules: Rules, compressions: Mapping[str, str | None]) -> TableFacts | None:
    """The earlier run's result of table `name` when the table's listed files (path -> FileInfo: data
    files, and a Delta table's log files) are exactly its files then, each unchanged and read under the
    same rules; else None (the table is extracted)."""
    if prior is None:
        return None
    old = prior.tables.get(name)
    if old is None or old.status != TABLE_OK or old.file_type != file_format:
        return None
    records = prior.files_of(name)
    if set(records) != set(files):
        return None
    for path, info in files.items():
        r = records[path]
        if not same_file(r, info) or not same_rules(r, file_format, compressions.get(path), rule_version, rules):
            return None
    return old


@dataclass
class Reuse:
    """What an incremental run reused and read (the run summary's fields)."""

    prior_run_id: str | None = None
    files_reused: int = 0  # files not opened: their facts came from the record
    files_read: int = 0  # files opened for their facts or their table
    tables_reused: list[str] = field(default_factory=list)
    tables_changed: list[str] = field(default_factory=list)
    tables_added: list[str] = field(default_factory=list)
    tables_removed: list[str] = field(default_factory=list)
    windows_reused: list[str] = field(default_factory=list)  # changed tables whose window came from the record

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"files_read": self.files_read, "files_reused": self.files_reused}
        if self.prior_run_id is not None:
            out.update(reused_from_run=self.prior_run_id, tables_reused=len(self.tables_reused),
                       tables_changed=self.tables_changed[:50], tables_added=self.tables_added[:50],
                       tables_removed=self.tables_removed[:50], windows_reused=len(self.windows_reused))
        return out
