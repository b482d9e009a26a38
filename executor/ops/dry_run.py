"""Dry run: what an extraction would do, without Spark and without writing anything.

The plan of the source (metadata.plan.plan_source: listing, skip rules, include/exclude patterns,
and by default each file's facts - CSV header, Parquet footer... - read the way a run reads them,
so that folders whose files disagree on schema are split and named exactly as a real run would),
printed. With read_headers=False only the listing is used: the plan is the pre-split grouping (one
entry per folder, format and partition layout) and says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from executor.formats import FormatOptions, OptionValue
from executor.metadata.plan import StoreFactory, default_store_factory, plan_source
from executor.metadata.readers.registry import READERS
from executor.ops.progress import human_bytes
from executor.ops.render import text_table
from executor.sandbox.pool import ReaderSandbox
from executor.settings import Settings


@dataclass
class PlannedTable:
    name: str
    file_format: str
    files: int
    size_bytes: int
    partition_columns: list[str]
    folder: str
    problem: str | None = None  # why a real run would record this table as failed
    csv_header: bool | None = None  # CSV/TSV: the header decision a real run would take
    csv_header_reason: str | None = None  # and why (csv_scan.decide_header or csv_header)
    format_details: dict[str, Any] = field(default_factory=dict)  # the reader's plan_details
    description: str | None = None  # the reader's describe(format_details)


@dataclass
class DryRunReport:
    source_path: str
    source_type: str
    data_source_type: str
    include: list[str]
    exclude: list[str]
    schema_split: bool
    files_found: int
    total_size_bytes: int
    tables: list[PlannedTable] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def skipped_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.skipped:
            out[s["reason"]] = out.get(s["reason"], 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "source_path": self.source_path,
            "source_type": self.source_type,
            "data_source_type": self.data_source_type,
            "include": self.include,
            "exclude": self.exclude,
            "schema_split": self.schema_split,
            "files_found": self.files_found,
            "total_size_bytes": self.total_size_bytes,
            "table_count": len(self.tables),
            "tables": [t.__dict__ for t in self.tables],
            "files_skipped": len(self.skipped),
            "skipped_by_reason": self.skipped_by_reason(),
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


def plan_extraction(data_source_path: str, data_source_type: str = "auto", include: Sequence[str] = (),
                    exclude: Sequence[str] = (), settings: Settings | None = None, read_headers: bool = True,
                    csv_header: str = "auto", store_factory: StoreFactory = default_store_factory,
                    format_options: FormatOptions | None = None, sandbox: ReaderSandbox | None = None) -> DryRunReport:
    """The tables a run would create and every file it would skip. Never starts Spark.

    `format_options` (the payload's, validated; `csv_header` is its csv.header) reach the readers:
    each table's reader-owned results (CSV header decisions...) are shown as the reader describes them."""
    t0 = time.monotonic()
    options: dict[str, Mapping[str, OptionValue]] = dict(format_options or {})
    if csv_header != "auto" and "header" not in options.get("csv", {}):
        options["csv"] = {**options.get("csv", {}), "header": csv_header}
    source = plan_source(data_source_path, data_source_type, include, exclude,
                         settings=settings or Settings(), store_factory=store_factory,
                         read_facts=read_headers, format_options=options, sandbox=sandbox)
    listing = source.listing
    report = DryRunReport(
        source_path=source.location.display, source_type=source.location.kind, data_source_type=data_source_type,
        include=list(include), exclude=list(exclude), schema_split=read_headers,
        files_found=listing.files_found, total_size_bytes=listing.total_size_bytes,
        skipped=[{"path": s.path, "reason": s.reason} for s in listing.skipped],
    )
    for t in source.tables:
        reader = READERS.reader(t.file_format)
        details = reader.plan_details(t, source.facts) if read_headers else {}
        header, reason = details.get("header"), details.get("header_reason")
        report.tables.append(PlannedTable(
            name=t.name, file_format=t.file_format, files=len(t.files), size_bytes=t.size_bytes,
            partition_columns=list(t.partition_keys), folder=t.folder or ".", problem=source.problem(t),
            csv_header=header if isinstance(header, bool) else None,
            csv_header_reason=reason if isinstance(reason, str) else None,
            format_details=details, description=reader.describe(details) if details else None))
    report.seconds = time.monotonic() - t0
    return report


def render_dry_run(report: DryRunReport, max_skipped: int | None = None) -> str:
    """A plain text rendering: tables, skipped files (with reasons), totals."""
    d = report.to_dict()
    head = [f"DRY RUN (nothing written, Spark not started): {report.source_path}",
            f"  type={report.data_source_type}  include={','.join(report.include) or '-'}  "
            f"exclude={','.join(report.exclude) or '-'}",
            f"  {report.files_found} data files, {human_bytes(report.total_size_bytes)}; "
            f"{len(report.tables)} tables; {len(report.skipped)} files skipped; {report.seconds:.2f}s"]
    if not report.schema_split:
        head.append("  note: headers/footers not read (--no-read-headers): folders whose files disagree on "
                    "schema would be split into several tables by a real run")
    rows = [{"table": t.name, "format": t.file_format, "files": t.files, "bytes": t.size_bytes,
             "size": human_bytes(t.size_bytes), "partition_columns": ",".join(t.partition_columns) or "-",
             "would_fail": t.problem or "",
             "header": "" if t.csv_header is None else ("yes" if t.csv_header else "no")} for t in report.tables]
    cols = ["table", "format", "files", "bytes", "size", "partition_columns"]
    if any(t.csv_header is not None for t in report.tables):
        cols.append("header")
    if any(t.problem for t in report.tables):
        cols.append("would_fail")
    out = head + ["", "Tables it would create:", text_table(rows, cols, max_width=80)]
    described = [f"  {t.name} ({t.file_format}): {t.description}" for t in report.tables if t.description]
    if described:
        out += ["", "Format details (CSV header decisions, XML row tags):"] + described
    skipped = d["skipped"]
    shown = skipped if max_skipped is None else skipped[:max_skipped]
    out += ["", "Skipped files:", text_table(shown, ["path", "reason"], max_width=100)]
    if len(shown) < len(skipped):
        out.append(f"... and {len(skipped) - len(shown)} more (--format json lists them all)")
    if skipped:
        out += ["", "Skipped by reason: " + ", ".join(f"{r}: {n}" for r, n in d["skipped_by_reason"].items())]
    return "\n".join(out)
