"""Parquet: each file's footer read as Spark sees it (parquet_footer's schema tree, so that what
Spark refuses fails and what Spark reads stands even when pyarrow would refuse it); rows = the
sum of the row groups' num_rows (Spark's count); samples and profiles from the first rows, with
the footers' statistics (exact null counts, min, max) when the profile is sampled."""

from __future__ import annotations

import logging
import struct
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, BinaryIO, cast

from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import TableFacts, add_table_note
from executor.metadata.profile import PROFILE_SAMPLED, ColumnProfile, apply_exact, orderable, render
from executor.metadata.readers.arrow import ArrowWindowRead, arrow_profile, early_window
from executor.metadata.readers.base import FileContext, FileFacts, FormatReader, TableContext
from executor.metadata.readers.parquet_footer import (
    MAGIC,
    FooterError,
    FooterFacts,
    RowGroupFacts,
    footer_facts,
    has_optional_map_key,
    projected_file,
    read_footer_bytes,
    read_footer_facts,
    spark_refusal,
    tree_spark_columns,
)
from executor.metadata.types.fallback import SparkFallback, UnsupportedParquetType
from executor.metadata.types.parquet_mapping import parquet_schema_to_spark
from executor.settings import Settings

logger = logging.getLogger(__name__)

ColumnStats = dict[str, tuple[int | None, Any, Any]]
# per top-level column of one file: (null count or None, min, max, min known, max known)
FileStats = dict[str, tuple[Any, ...]]


@dataclass
class ParquetFacts(FileFacts):
    stats: FileStats | None = None  # the footer's statistics (None when pyarrow refuses the schema)
    nullable: dict[str, bool] | None = None
    spark_columns: list[tuple[str, str, bool]] | None = None  # None: Spark is asked for the schema
    notes: list[str] | None = None  # what only the footer told and a Spark scan would meet (table notes)


def open_parquet(fh: BinaryIO, notes: dict[str, str] | None = None) -> Any:
    """pyarrow's ParquetFile over `fh`, reading INT96 as microseconds (Spark's timestamp precision:
    nanosecond values never overflow or refuse conversion). When pyarrow refuses the schema as a
    whole where Spark reads it (a MAP whose key is not REQUIRED; a column name that is not UTF-8),
    the file is read through a rewritten footer: without those map columns (`notes` says why they
    have no values), and with bad name bytes replaced by U+FFFD (the names Spark shows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(fh, coerce_int96_timestamp_unit="us")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
        fh.seek(0)
        tree = read_footer_facts(fh)
        odd = set(has_optional_map_key(tree.root))
        if not odd and not tree.bad_names:
            raise
        if notes is not None:
            for name in sorted(odd):
                notes.setdefault(name, f"no samples or profile: pyarrow cannot read this column ({exc}); "
                                       "Spark reads it")
        fh.seek(0)
        return pq.ParquetFile(projected_file(fh, odd, utf8_names=tree.bad_names), coerce_int96_timestamp_unit="us")


def footer_notes(tree: FooterFacts, file_size: int, where: str) -> tuple[int, list[str]]:
    """(rows as Spark counts them, notes) for one file: what Spark's count skips or would fail to
    scan, said rather than hidden (the executor reads the footer only)."""
    count = tree.spark_rows(file_size)
    notes = []
    groups = tree.row_groups
    if count.outside:
        lost = sum(groups[i].num_rows for i in count.outside)
        notes.append(f"{where}: row group(s) {_ordinals(count.outside)} ({lost} rows declared) lie past the end of "
                     f"the file ({file_size} bytes: truncated?); Spark skips them, row_count does too")
    if count.cut:
        notes.append(f"{where}: row group(s) {_ordinals(count.cut)} end past the end of the file's data "
                     "(truncated?); their rows are counted from the footer as Spark counts them, but a Spark scan "
                     "of their values fails")
    if any(g.num_rows < 0 for g in groups):
        scan = ("a Spark scan returns no rows either" if count.rows == 0 else
                "a Spark scan reads row groups whose declared rows and pages disagree: it may fail or return other "
                "rows")
        notes.append(f"{where}: the footer declares negative row counts ({count.declared} rows in all; corrupt "
                     f"footer); Spark's count() returns {count.rows}, row_count is that, and {scan}")
    return count.rows, notes


def _ordinals(indexes: list[int]) -> str:
    shown = ", ".join(str(i + 1) for i in indexes[:10])
    return shown + (f" and {len(indexes) - 10} more" if len(indexes) > 10 else "")


def parquet_batches(fh: BinaryIO, columns: list[str] | None, budget: int, notes: dict[str, str]) -> Iterable[Any] | None:
    """The record batches of one Parquet file (arrow.FileBatches)."""
    pf = open_parquet(fh, notes)
    cols = None if columns is None else [c for c in columns if c in pf.schema_arrow.names]
    if cols == []:
        return None
    fh.seek(0, 2)
    groups = spark_row_groups(pf.metadata, fh.tell())
    batches: Iterable[Any] = pf.iter_batches(batch_size=min(65536, max(budget, 1)), columns=cols, row_groups=groups)
    return batches


def spark_row_groups(meta: Any, file_size: int) -> list[int] | None:
    """The row groups Spark reads (parquet_footer.spark_count's midpoint rule, from pyarrow's
    FileMetaData), or None when it reads them all: a truncated file's samples are the rows Spark
    returns, never the pages past its end."""
    groups = []
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        cols = [rg.column(j) for j in range(rg.num_columns)]
        start = cols[0].data_page_offset if cols else 0
        dictionary = cols[0].dictionary_page_offset if cols else None
        if dictionary is not None and start > dictionary:
            start = dictionary
        groups.append(RowGroupFacts(num_rows=rg.num_rows, start=start,
                                    size=sum(c.total_compressed_size for c in cols), end=0))
    kept = [i for i, g in enumerate(groups) if 0 <= g.midpoint < file_size]
    return None if len(kept) == len(groups) else kept


def file_stats(meta: Any) -> FileStats:
    """One file's statistics per top-level primitive column over its row groups (pyarrow
    FileMetaData): (null count (None where a row group lacks it), min, max, min known, max known)."""
    out: dict[str, list[Any]] = {}
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for j in range(group.num_columns):
            col = group.column(j)
            name = col.path_in_schema
            if "." in name:
                continue
            acc = out.setdefault(name, [0, None, None, True, True])
            st = col.statistics
            if st is None or not st.has_null_count:
                acc[0] = None
            elif acc[0] is not None:
                acc[0] += st.null_count
            if st is None or not st.has_min_max:
                if group.num_rows > (st.null_count if st is not None and st.has_null_count else -1):
                    acc[3] = acc[4] = False
                continue
            try:
                lo, hi = _plain(st.min), _plain(st.max)
                if acc[1] is None or lo < acc[1]:
                    acc[1] = lo
                if acc[2] is None or hi > acc[2]:
                    acc[2] = hi
            except Exception:  # noqa: BLE001 - a statistic Arrow cannot convert
                acc[3] = acc[4] = False
    return {sys.intern(name): tuple(acc) for name, acc in out.items()}  # held per file: kept small


_PLAIN = (type(None), bool, int, float, str, bytes, Decimal, date, time)


def _plain(value: Any) -> Any:
    """A statistic as a plain value (facts cross from the sandbox's worker as data): pyarrow gives
    pandas.Timestamp for nanosecond timestamps, which becomes its profile text (render: the same
    text, ordered alike within a column)."""
    if type(value) in _PLAIN or (type(value) is datetime and (value.tzinfo is None or type(value.tzinfo) is timezone)):
        return value
    return render(value)


def merge_stats(files: Iterable[FileStats]) -> ColumnStats:
    """(null_count, min, max) per column over several files' statistics (None where unknown)."""
    out: dict[str, list[Any]] = {}
    for stats in files:
        for name, (nulls, lo, hi, lo_ok, hi_ok) in stats.items():
            acc = out.setdefault(name, [0, None, None, True, True])
            acc[0] = None if acc[0] is None or nulls is None else acc[0] + nulls
            try:
                if lo is not None and (acc[1] is None or lo < acc[1]):
                    acc[1] = lo
                if hi is not None and (acc[2] is None or hi > acc[2]):
                    acc[2] = hi
            except TypeError:  # values of different types in different files: no exact bound
                lo_ok = hi_ok = False
            acc[3] = acc[3] and lo_ok
            acc[4] = acc[4] and hi_ok
    return {n: (a[0], a[1] if a[3] else None, a[2] if a[4] else None) for n, a in out.items()}


def footer_stats(footers: list[Any]) -> ColumnStats:
    """(null_count, min, max) per top-level primitive column over every row group of these
    footers (pyarrow FileMetaData; None where a row group lacks the statistic)."""
    return merge_stats(file_stats(meta) for meta in footers)


def footer_metadata(footer: bytes) -> Any:
    """pyarrow's FileMetaData from a footer's bytes alone (the data pages are not needed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.ParquetFile(pa.BufferReader(MAGIC + footer + struct.pack("<i", len(footer)) + MAGIC)).metadata


def parquet_facts(footer: bytes, where: str, spark_version: str, file_size: int) -> FileFacts:
    """One Parquet file's facts from its footer's bytes (no I/O): Spark's schema and refusals from
    the Thrift tree, rows as Spark counts them (footer_notes), statistics from pyarrow's reading of
    the footer."""
    import pyarrow as pa

    try:
        tree = footer_facts(footer)
    except FooterError as exc:
        return FileFacts(error=f"{where}: corrupt Parquet footer: {exc}; Spark cannot read this file either "
                               "(rewrite it, or remove it from the folder)")
    refusal = spark_refusal(tree.root)
    if refusal:
        return FileFacts(error=f"{where}: {refusal}; Spark cannot read this file (rewrite it with a valid "
                               "schema)")
    try:
        meta = footer_metadata(footer)
        arrow = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        logger.info("%s: pyarrow refuses the schema (%s); the footer is read without it", where, exc)
        meta, arrow = None, None
    spark_columns = None
    try:
        spark_columns = [(n, t.simple_string(), nullable) for n, t, nullable in (
            parquet_schema_to_spark(meta.schema, spark_version) if meta is not None
            else tree_spark_columns(tree.root, spark_version))]
    except UnsupportedParquetType as exc:
        return FileFacts(error=f"{where}: {exc}; Spark cannot read this column type (rewrite the file with a "
                               "supported type)")
    except SparkFallback:
        pass  # Spark itself is asked for this table's schema
    if spark_columns is not None:
        sig: tuple[Any, ...] = ("parquet", tuple(sorted((n, t) for n, t, _ in spark_columns)))
    elif arrow is not None:
        sig = ("parquet", tuple(sorted((f.name, str(f.type)) for f in arrow)))
    else:
        sig = ("parquet", tuple(sorted(c.name for c in tree.root.children)))
    if tree.num_rows != tree.rows:
        logger.info("%s: footer num_rows %d, row groups hold %d (Spark counts the row groups)", where,
                    tree.num_rows, tree.rows)
    rows, notes = footer_notes(tree, file_size, where)
    return ParquetFacts(signature=sig, rows=rows, stats=file_stats(meta) if meta is not None else None,
                        nullable={c.name: c.repetition == "optional" for c in tree.root.children},
                        spark_columns=spark_columns, notes=notes)


def parquet_facts_many(items: Sequence[tuple[bytes, str, str, int]]) -> list[FileFacts]:
    """parquet_facts of each (footer, where, spark_version, file_size), in order: the sandbox task of
    a group of footers."""
    return [parquet_facts(*item) for item in items]


def apply_stats(profiles: dict[str, ColumnProfile], names_types: list[tuple[str, str]],
                stats: Mapping[str, tuple[int | None, Any, Any]], max_chars: int) -> None:
    """Exact null count, min and max from file statistics into the sampled profiles."""
    for n, t in names_types:
        if n in stats and n in profiles:
            nulls, lo, hi = stats[n]
            apply_exact(profiles[n], null_count=nulls, min_value=lo, max_value=hi, max_chars=max_chars,
                        orderable_type=orderable(t))


class ParquetReader(FormatReader):
    formats = ("parquet",)
    extensions = {".parquet": "parquet", ".pq": "parquet", ".parq": "parquet"}
    sniff_rank = 0
    early_facts = True

    def sniff(self, head: bytes) -> str | None:
        return "parquet" if head.startswith(b"PAR1") else None

    def file_facts(self, ctx: FileContext, pf: PlannedFile, file_format: str, sample_rows: int) -> FileFacts:
        info = pf.info
        with ctx.store.open(info.uri) as fh:  # a remote store reads the tail in one request
            try:
                footer = read_footer_bytes(fh)
            except FooterError as exc:
                where = info.relative or info.name
                return FileFacts(error=f"{where}: corrupt Parquet footer: {exc}; Spark cannot read this file either "
                                       "(rewrite it, or remove it from the folder)")
        where = info.relative or info.name
        # pyarrow decodes the footer (statistics, schema) in the sandbox, with the footers other threads
        # hold at the moment (one call for many: sandbox/grouped.py): plain facts come back
        decode = ctx.sandbox.grouped(parquet_facts_many, parquet_facts, "Parquet reader")
        return decode((footer, where, ctx.spark_version, info.size), where)

    def rereads(self, settings: Settings, index: int, rows_before: int | None) -> bool:
        """The samples read the first files until profile_max_rows rows."""
        return rows_before is None or rows_before < settings.profile_max_rows

    @staticmethod
    def _footer_notes(files: list[FileFacts]) -> list[str]:
        """The table notes its files' footers gave (the table's first notes), in file order."""
        return [note for f in files if isinstance(f, ParquetFacts) for note in f.notes or []]

    @staticmethod
    def _data_fields(plan: TablePlan, first: ParquetFacts) -> list[tuple[str, str]] | None:
        """The table's data columns from its first footer (None: the footer does not give them, Spark does)."""
        if first.spark_columns is None:
            return None
        return plan.data_columns(first.spark_columns)

    @staticmethod
    def _window_files(plan: TablePlan, files: list[FileFacts]) -> tuple[list[str], list[int | None]]:
        """(uris, rows) of the files the table's window reads from: the files Spark returns rows of (a
        corrupt footer Spark counts as 0 rows is skipped)."""
        with_rows = [(f.info.uri, fact.rows) for f, fact in zip(plan.files, files) if fact.rows != 0 or not isinstance(
            fact, ParquetFacts) or not fact.notes]
        return [u for u, _ in with_rows], [r for _, r in with_rows]

    def prepare(self, ctx: TableContext, plan: TablePlan,
                facts: Mapping[str, FileFacts]) -> Callable[[], ArrowWindowRead] | None:
        """The table's window (samples and profiles from its first files, decoded in the sandbox from
        the bytes the facts step kept) read while other tables' footers are still fetched
        (base.EarlyTables), when the footers give the types (no Spark)."""
        files = [facts.get(f.info.uri) for f in plan.files]
        if not files or not ctx.fast or any(not isinstance(f, ParquetFacts) for f in files):
            return None
        first = files[0]
        assert isinstance(first, ParquetFacts)
        data_fields = self._data_fields(plan, first)
        if data_fields is None:
            return None
        known = cast(list[FileFacts], files)
        uris, rows = self._window_files(plan, known)
        total = sum(f.rows or 0 for f in known)
        notes: dict[str, str] = {}  # what the table step's notes are when it reads: its footers' notes
        for note in self._footer_notes(known):
            add_table_note(notes, note)

        return early_window(ctx, plan, uris, parquet_batches, data_fields, total, notes, rows)

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        files = [facts[f.info.uri] for f in plan.files]
        table.row_count = sum(f.rows or 0 for f in files)
        for note in self._footer_notes(files):
            table.add_table_note(note)
        first = files[0]
        assert isinstance(first, ParquetFacts)
        part_types: list[tuple[str, str]] | None = None
        prepared: ArrowWindowRead | None = None
        footer_fields = self._data_fields(plan, first) if ctx.fast else None
        if footer_fields is not None:
            data_fields = footer_fields
            prepared = ctx.prepared(plan)  # read during the facts step (prepare), when it was
        else:
            reader = ctx.reader()
            if plan.partitioned:
                reader = reader.option("basePath", ctx.root_spark_uri(plan))
            fields = ctx.spark_schema(reader.parquet(*ctx.spark_uris(plan)).schema)
            data_fields = plan.data_columns(fields)
            part_types = [(n, t) for n, t in fields if n in plan.partition_keys]
        uris, rows = self._window_files(plan, files)
        profiles, samples = arrow_profile(ctx, plan.name, uris, parquet_batches, data_fields, table.row_count,
                                          table.column_notes, rows=rows, window=ctx.window(plan.name),
                                          prepared=prepared)
        stats = [f.stats if isinstance(f, ParquetFacts) else None for f in files]
        if any(p.profile_scope == PROFILE_SAMPLED for p in profiles.values()) and all(m is not None for m in stats):
            # footer statistics: exact null counts, min and max without reading data pages
            apply_stats(profiles, data_fields, merge_stats(m for m in stats if m is not None),
                        ctx.settings.sample_value_max_chars)
        ctx.finish(plan, table, ctx.columns(data_fields, first.nullable or {}, samples, profiles), part_types)
