"""XML (plain, gzip or bzip2): one row per `rowTag` element, read as Spark reads XML (Spark 4's
built-in `xml` source; on Spark 3.5 the com.databricks:spark-xml package Databricks Runtime 15.4
and 16.4 build in). The option `rowTag` is required (format_options.xml.rowTag): Spark 4 refuses to
read XML without it (XML_ROW_TAG_MISSING), spark-xml falls back to `ROW`; here a table without it
fails and says what to set. Records are split, counted exactly (every rowTag element, corrupt ones
included: Spark reads them as `_corrupt_record` rows) and inferred in Python
(executor/metadata/xml_scan.py); inference=spark asks Spark's own reader instead.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from executor.errors import TableExtractionError
from executor.formats import OptionValue
from executor.metadata.compression import open_data
from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import TableFacts
from executor.metadata.profile import profile_rows
from executor.metadata.readers.base import FileContext, FileFacts, TableContext, TypedFormatReader, text_head
from executor.metadata.xml_scan import (
    EMPTY_STRUCT,
    XmlRules,
    XmlScan,
    canonical,
    compatible,
    conform_row,
    duplicate_name,
    root_columns,
    scan_xml,
)

MISSING_ROW_TAG = ("XML needs the element that is one row: set format_options.xml.rowTag in the payload "
                   '(e.g. {"format_options": {"xml": {"rowTag": "record"}}}) or pass --format-option '
                   "xml.rowTag=record")


SPARK_XML_PACKAGE = "com.databricks:spark-xml_2.12:0.18.0"  # Spark 3.5's XML reader (Scala 2.12)


def spark_xml_format(spark_version: str) -> str:
    """The name Spark reads XML by: built in since Spark 4; the spark-xml package on Spark 3.5."""
    return "xml" if not spark_version.startswith("3.") else "com.databricks.spark.xml"


@dataclass(frozen=True)
class XmlOptions:
    """The XML reader's typed options (executor.formats validates them)."""

    row_tag: str | None = None


@dataclass
class XmlFacts(FileFacts):
    scan: XmlScan | None = None  # the file read through: records, corrupt ones, type, first rows
    row_tag: str | None = None


class _Decoded:
    """A binary stream read as text the way Spark's InputStreamReader decodes it: UTF-8, bad bytes
    replaced, line ends as they are (works over any file object with read(n))."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def read(self, n: int = -1, /) -> str:
        data = self.raw.read(n if n > 0 else -1)
        return self.decoder.decode(data, final=not data)


class XmlReader(TypedFormatReader[XmlFacts, XmlOptions]):
    formats = ("xml",)
    extensions = {".xml": "xml"}
    compressible = True
    sniff_rank = 15  # before CSV: a line of XML may hold commas
    # 2: the record holds the file's records, corrupt records and merged type (a changed table's unchanged
    # files are not read); records of version 1 held the signature and rows only
    rule_version = 2

    def sniff(self, head: bytes) -> str | None:
        text = text_head(head)
        return "xml" if text is not None and text.startswith(b"<?xml") else None

    def typed_options(self, options: Mapping[str, OptionValue]) -> XmlOptions:
        tag = options.get("rowTag")
        return XmlOptions(row_tag=str(tag) if tag else None)

    def file_facts(self, ctx: FileContext, pf: PlannedFile, file_format: str, sample_rows: int) -> FileFacts:
        options = self.typed_options(ctx.options(file_format))
        if options.row_tag is None:
            return XmlFacts(error=MISSING_ROW_TAG)
        with open_data(ctx.store, pf.info.uri, pf.compression) as fh:
            if b"\x00" in fh.read(4096):
                return FileFacts(error=f"{pf.info.relative or pf.info.name} is not a text file (binary content)")
            fh.seek(0)
            scan = scan_xml(_Decoded(fh), options.row_tag, sample_rows, XmlRules.for_version(ctx.spark_version))
        return XmlFacts(signature=("xml", options.row_tag), rows=scan.rows, scan=scan, row_tag=options.row_tag)

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        s = ctx.settings
        scans: list[XmlScan] = []
        row_tag = None
        for f in plan.files:
            fact = facts[f.info.uri]
            if not isinstance(fact, XmlFacts) or fact.scan is None:
                raise TableExtractionError(fact.error or MISSING_ROW_TAG)
            scans.append(fact.scan)
            row_tag = fact.row_tag
        root: Any = EMPTY_STRUCT
        rules = XmlRules.for_version(ctx.spark_version)
        for scan in scans:
            root = compatible(root, scan.root, rules)
        table.row_count = total = sum(scan.rows for scan in scans)
        table.malformed_records = sum(scan.corrupt for scan in scans)
        table.format_details = {"row_tag": row_tag, "corrupt_records": table.malformed_records}
        if ctx.fast:
            twice = None if rules.spark4 else duplicate_name(canonical(root) or EMPTY_STRUCT)
            if twice is not None:  # what Spark answers when it reads these files with spark-xml
                raise TableExtractionError(
                    f"[COLUMN_ALREADY_EXISTS] The column `{twice}` already exists: spark-xml infers element names "
                    "that differ only in case as separate columns and Spark refuses them")
            inferred = root_columns(root)
        else:  # inference=spark: Spark's XML reader infers (one job)
            reader = ctx.reader().format(spark_xml_format(ctx.spark_version)).option("rowTag", row_tag)
            try:
                inferred = ctx.spark_schema(reader.load(ctx.spark_uris(plan)).schema)
            except Exception as exc:
                if "DATA_SOURCE_NOT_FOUND" in str(exc) or "ClassNotFound" in str(exc):
                    raise TableExtractionError(
                        f"this Spark has no XML reader: Spark {ctx.spark_version} reads XML with spark-xml (built into "
                        f"Databricks Runtime); add {SPARK_XML_PACKAGE} to NUVYN_SPARK_PACKAGES") from None
                raise
        if total == 0:
            table.add_table_note(f"no <{row_tag}> element in the files: check format_options.xml.rowTag")
        names_types = plan.data_columns(inferred)
        canonical_root = canonical(root) or EMPTY_STRUCT
        # the rows each file gives the sample, and the merged type the sampled rows are conformed to
        share = ctx.sample_share(plan)
        extra = {"share": share, "root": json.loads(json.dumps(canonical_root))}
        if ctx.reused_window(plan, table, names_types, total, extra):
            return  # an incremental run: the earlier run's window, provably this table's

        def first_rows(pf: PlannedFile) -> list[dict[str, Any]]:  # a restored file's first records, as a full run reads them
            with open_data(ctx.store, pf.info.uri, pf.compression) as fh:
                return scan_xml(_Decoded(fh), str(row_tag), share, rules, sample_only=True).sample

        rows, used = ctx.share_rows(plan, [scan.rows for scan in scans],
                                    [scan.sample if scan.sampled else None for scan in scans], share, first_rows)
        rows = [conform_row(r, canonical_root) for r in rows]
        profiles = profile_rows(names_types, rows, ctx.scope(len(rows), total), s.sample_value_max_chars)
        samples = ctx.row_samples([n for n, _ in names_types], rows)
        ctx.record_window(plan, used, len(rows), names_types, profiles, samples, extra)
        ctx.finish(plan, table, ctx.columns(names_types, {}, samples, profiles))

    def plan_details(self, plan: TablePlan, facts: Mapping[str, FileFacts]) -> dict[str, Any]:
        found = [f for f in (facts.get(p.info.uri) for p in plan.files) if isinstance(f, XmlFacts) and f.scan]
        if not found:
            return {}
        return {"row_tag": found[0].row_tag, "records": sum(f.rows or 0 for f in found),
                "corrupt_records": sum(f.scan.corrupt for f in found if f.scan)}

    def describe(self, details: Mapping[str, Any]) -> str | None:
        if not details.get("row_tag"):
            return None
        corrupt = details.get("corrupt_records") or 0
        return f"row tag <{details['row_tag']}>" + (f", {corrupt} corrupt records (_corrupt_record)" if corrupt else "")
