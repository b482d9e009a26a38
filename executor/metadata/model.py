"""The one result model every writer and printer reads. Plain dataclasses, no Spark."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

TABLE_OK = "ok"
TABLE_FAILED = "failed"

# the key of column_notes whose note is about the whole table (a truncated file, a corrupt page
# read: what Spark's scan would meet), not about one column
TABLE_NOTE = "*"

RUN_RUNNING = "running"
RUN_SUCCEEDED = "succeeded"
RUN_PARTIAL = "partial"
RUN_FAILED = "failed"
# The run's process died without recording its end (killed, OOM, native abort); written by a later
# run, or derived by a read (executor.storage.liveness). Final, and not complete.
RUN_ABANDONED = "abandoned"
RUN_STATUSES = (RUN_RUNNING, RUN_SUCCEEDED, RUN_PARTIAL, RUN_FAILED, RUN_ABANDONED)
FINAL_STATUSES = (RUN_SUCCEEDED, RUN_PARTIAL, RUN_FAILED, RUN_ABANDONED)
COMPLETED_STATUSES = (RUN_SUCCEEDED, RUN_PARTIAL)  # the runs whose metadata queries and diff return


def add_table_note(notes: dict[str, str], text: str) -> None:
    """notes[TABLE_NOTE] with `text` added (notes joined by '; ', each once)."""
    old = notes.get(TABLE_NOTE)
    if old is None:
        notes[TABLE_NOTE] = text
    elif text not in old.split("; "):
        notes[TABLE_NOTE] = f"{old}; {text}"


@dataclass
class ColumnFacts:
    column_name: str
    data_type: str
    position: int  # 1-based, like information_schema.columns.ordinal_position
    is_nullable: bool
    sample_values: list[str] = field(default_factory=list)
    is_partition: bool = False
    # profile (executor.metadata.profile): over the table's rows, or a bounded sample of them
    null_count: int | None = None
    distinct_count: int | None = None
    min_value: str | None = None
    max_value: str | None = None
    profile_scope: str | None = None  # exact | sampled

    def set_profile(self, profile: Any) -> ColumnFacts:
        if profile is not None:
            self.null_count = profile.null_count
            self.distinct_count = profile.distinct_count
            self.min_value = profile.min_value
            self.max_value = profile.max_value
            self.profile_scope = profile.profile_scope
        return self


def schema_fingerprint(columns: list[tuple[str, str, bool]]) -> str:
    """sha256 (hex) of the ordered (name, type, nullable) triples: equal schemas, equal prints."""
    text = json.dumps([[n, t, bool(nl)] for n, t, nl in columns], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class TableFacts:
    table_name: str
    file_path: str  # the table's root (a folder, or the lone file), secrets removed
    file_type: str
    file_count: int
    size_bytes: int
    row_count: int | None = None
    partition_columns: list[str] = field(default_factory=list)
    columns: list[ColumnFacts] = field(default_factory=list)
    status: str = TABLE_OK
    error_message: str | None = None
    malformed_records: int | None = None  # JSON: records Spark reads as _corrupt_record
    # what the table's reader alone knows (CSV: header, header_reason, delimiter...; XML: row_tag...),
    # a JSON object stored in tables.format_details; the reader's `describe` says it for humans
    format_details: dict[str, Any] = field(default_factory=dict)
    # column name -> why its samples/profile are empty or partial (e.g. values pyarrow cannot convert);
    # TABLE_NOTE ("*") -> what holds for the whole table (only metadata was read, and a Spark scan of
    # the data would fail or count otherwise)
    column_notes: dict[str, str] = field(default_factory=dict)

    @property
    def csv_header(self) -> bool | None:
        """CSV/TSV: whether the first record is the header (format_details.header; the column
        tables.csv_header is derived from it)."""
        value = self.format_details.get("header")
        return value if isinstance(value, bool) else None

    @csv_header.setter
    def csv_header(self, value: bool | None) -> None:
        self.format_details["header"] = value

    @property
    def csv_header_reason(self) -> str | None:
        """CSV/TSV: why (csv_scan.decide_header or the payload's csv_header): format_details.header_reason."""
        value = self.format_details.get("header_reason")
        return value if isinstance(value, str) else None

    @csv_header_reason.setter
    def csv_header_reason(self, value: str | None) -> None:
        self.format_details["header_reason"] = value

    def add_table_note(self, text: str) -> None:
        """Add a note about the whole table (column_notes[TABLE_NOTE], notes joined by '; ')."""
        add_table_note(self.column_notes, text)

    @property
    def column_count(self) -> int:
        return len(self.columns)

    @property
    def schema_fingerprint(self) -> str | None:
        """Hash of the ordered (name, type, nullable) columns; None for a failed table."""
        if self.status != TABLE_OK:
            return None
        return schema_fingerprint([(c.column_name, c.data_type, c.is_nullable) for c in self.columns])


ROLE_DATA = "data"  # a FileRecord of a data file
ROLE_LOG = "log"  # a FileRecord of a file of a Delta table's _delta_log


@dataclass
class FileRecord:
    """One file of an ok table as a run found and read it: a `file_facts` row, what an incremental run
    reuses (executor.metadata.incremental)."""

    table_name: str
    path: str  # relative to the source root ('' when the source is the file)
    size: int
    modified_us: int | None  # the listing's modified time, whole microseconds since the epoch
    etag: str | None  # the listing's ETag (Azure); None where the store has none (local, DBFS)
    file_format: str
    compression: str | None
    rule_version: int  # the reader's rule_version when the facts were read
    executor_version: str
    settings_fingerprint: str  # incremental.settings_fingerprint: the settings that shape results
    role: str = ROLE_DATA
    # incremental.facts_to_json as JSON text (incremental.dump_facts), the file_facts row's `facts`;
    # None: nothing to restore. Text, not the parsed objects: a run keeps one record per file (and an
    # incremental run the earlier run's too), ~1 KB of text against ~3.7 KB of Python objects for a
    # Parquet file of 7 columns (the 20,000-file bench table: 75 MB of records at the run's end)
    facts_json: str | None = None
    rows: int | None = None  # the file's rows when known (the row's row_count)

    @property
    def facts(self) -> dict[str, Any] | None:
        """The facts, parsed (each call parses the text: a record is restored once); None when the
        record holds none or they are not a JSON object."""
        if self.facts_json is None:
            return None
        try:
            data = json.loads(self.facts_json)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


@dataclass
class SkippedFile:
    path: str  # relative to the source root
    reason: str


@dataclass
class MetadataResult:
    source_path: str  # as given, secrets removed
    source_type: str
    extraction_timestamp: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    files_found: int = 0
    total_size_bytes: int = 0
    tables: list[TableFacts] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    # the file_facts rows of this run (one per file of each ok table) and what it read and reused
    # (files_read, files_reused, bytes_read, ...: the run summary); neither is part of to_dict
    file_records: list[FileRecord] = field(default_factory=list)
    reads: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """succeeded when every table was extracted, partial when some failed."""
        if any(t.status == TABLE_FAILED for t in self.tables):
            return RUN_PARTIAL if any(t.status == TABLE_OK for t in self.tables) else RUN_FAILED
        return RUN_SUCCEEDED

    @property
    def failed_tables(self) -> list[TableFacts]:
        return [t for t in self.tables if t.status == TABLE_FAILED]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("file_records", None)
        d.pop("reads", None)
        d["extraction_timestamp"] = self.extraction_timestamp.isoformat()
        d["status"] = self.status
        for t, td in zip(self.tables, d["tables"]):
            td["column_count"] = t.column_count
            td["csv_header"], td["csv_header_reason"] = t.csv_header, t.csv_header_reason
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetadataResult:
        ts = d.get("extraction_timestamp")
        if isinstance(ts, str):
            ts = datetime.fromisoformat(ts)
        tables = []
        for td in d.get("tables", []):
            td = {k: v for k, v in td.items() if k != "column_count"}
            cols = [ColumnFacts(**c) for c in td.pop("columns", [])]
            details = dict(td.pop("format_details", None) or {})
            for old, key in (("csv_header", "header"), ("csv_header_reason", "header_reason")):
                if td.get(old) is not None:
                    details.setdefault(key, td[old])
                td.pop(old, None)
            tables.append(TableFacts(columns=cols, format_details=details, **td))
        return cls(
            source_path=d["source_path"],
            source_type=d.get("source_type", "local"),
            extraction_timestamp=ts or datetime.now(timezone.utc),
            files_found=d.get("files_found", 0),
            total_size_bytes=d.get("total_size_bytes", 0),
            tables=tables,
            skipped=[SkippedFile(**s) for s in d.get("skipped", [])],
        )
