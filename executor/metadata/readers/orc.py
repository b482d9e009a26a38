"""ORC: rows and schema from each file's footer (pyarrow), samples and profiles from the first
stripes. Timestamps (ORC `timestamp` and `timestamp with local time zone`) are Spark `timestamp`.

Spark reads ORC with the Java reader, pyarrow with the C++ one; where they differ the tail is read
as Java reads it (orc_footer): a file of a format version Java does not know fails its table, and
a decimal whose precision or scale the footer leaves out (old Hive writers) takes Java's defaults
(precision 38, scale 10)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import TableFacts
from executor.metadata.readers.arrow import ArrowWindowRead, arrow_profile, early_window
from executor.metadata.readers.base import FileContext, FileFacts, FormatReader, TableContext
from executor.metadata.readers.orc_footer import (
    DEFAULT_DECIMAL,
    OrcTailError,
    OrcUnsupportedCodec,
    column_decimals,
    defaulted_decimals,
    parse_tail,
    read_tail_bytes,
    stripe_refusal,
    version_refusal,
)
from executor.metadata.types.algebra import (
    TIMESTAMP,
    ArrayType,
    DecimalType,
    MapType,
    SparkType,
    StructField,
    StructType,
)
from executor.metadata.types.parquet_mapping import arrow_to_spark_type
from executor.settings import Settings

logger = logging.getLogger(__name__)

Decimals = dict[tuple[str, ...], "tuple[int, int] | str"]


@dataclass
class OrcFacts(FileFacts):
    spark_columns: list[tuple[str, str, bool]] | None = None
    no_values: dict[str, str] | None = None  # column -> why its values are not sampled (column notes)


class OrcDecimalRefused(ValueError):
    """Spark's ORC reader refuses a decimal type of the footer."""


def orc_type(arrow_type: Any, spark_version: str, path: tuple[str, ...] = (),
             decimals: Decimals | None = None) -> SparkType:
    """Spark's type of an ORC column from pyarrow's reading of the ORC schema; `decimals` (path ->
    the Java reader's (precision, scale) or its refusal) overrides pyarrow's decimals."""
    import pyarrow.types as pt

    t = arrow_type
    d = decimals or {}
    if pt.is_timestamp(t):
        return TIMESTAMP
    if pt.is_decimal(t) and path in d:
        java = d[path]
        if isinstance(java, str):
            raise OrcDecimalRefused(f"column {'.'.join(path)}: {java}")
        return DecimalType(java[0], java[1])
    if pt.is_list(t) or pt.is_large_list(t):
        return ArrayType(orc_type(t.value_type, spark_version, path + ('<element>',), d))
    if pt.is_map(t):
        return MapType(orc_type(t.key_type, spark_version, path + ('<key>',), d),
                       orc_type(t.item_type, spark_version, path + ('<value>',), d))
    if pt.is_struct(t):
        return StructType(tuple(
            StructField(t.field(i).name, orc_type(t.field(i).type, spark_version, path + (t.field(i).name,), d))
            for i in range(t.num_fields)))
    return arrow_to_spark_type(t, spark_version)


def orc_batches(fh: BinaryIO, columns: list[str] | None, budget: int, notes: dict[str, str]) -> Iterable[Any]:
    """The stripes of one ORC file (arrow.FileBatches)."""
    import pyarrow.orc as orc

    f = orc.ORCFile(fh)
    return (f.read_stripe(i, columns=columns) for i in range(f.nstripes))


def orc_rows_schema(fh: BinaryIO) -> tuple[int, Any]:
    """(rows, Arrow schema) of one ORC file as pyarrow's C++ reader reads its tail (a sandbox task)."""
    import pyarrow.orc as orc

    f = orc.ORCFile(fh)
    return f.nrows, f.schema


class OrcReader(FormatReader):
    formats = ("orc",)
    extensions = {".orc": "orc"}
    sniff_rank = 0
    early_facts = True

    def sniff(self, head: bytes) -> str | None:
        return "orc" if head.startswith(b"ORC") else None

    def file_facts(self, ctx: FileContext, pf: PlannedFile, file_format: str, sample_rows: int) -> FileFacts:
        where = pf.info.relative or pf.info.name
        decimals: Decimals = {}
        with ctx.store.open(pf.info.uri) as fh:  # a remote store reads the tail in one request
            try:
                raw, size = read_tail_bytes(fh)
                tail = parse_tail(raw)
            except OrcUnsupportedCodec as exc:
                logger.info("%s: ORC tail not read here (%s); pyarrow's reading stands", where, exc)
                tail = None
            except OrcTailError as exc:
                return FileFacts(error=f"{where}: corrupt ORC tail: {exc}; Spark cannot read this file either "
                                       "(rewrite it, or remove it from the folder)")
            if tail is not None:
                refusal = version_refusal(tail) or stripe_refusal(tail, size)
                if refusal:
                    return FileFacts(error=f"{where}: {refusal}; Spark cannot read this file (rewrite it, or remove "
                                           "it from the folder)")
                decimals = column_decimals(tail)
            rows, schema = ctx.sandbox.run(orc_rows_schema, file=fh, path=where, reader="ORC reader")
        try:
            cols = [(fld.name, orc_type(fld.type, ctx.spark_version, (fld.name,), decimals).simple_string(), True)
                    for fld in schema]
        except OrcDecimalRefused as exc:
            return FileFacts(error=f"{where}: {exc}; Spark's ORC reader refuses this decimal type (rewrite the file "
                                   "with a precision and scale)")
        defaulted = {p[0] for p in defaulted_decimals(tail)} if tail is not None else set()
        why = (f"no samples or profile: the file records no precision or scale for its decimal values (old Hive "
               f"writer); Spark reads them with its ORC reader's defaults (precision {DEFAULT_DECIMAL[0]}, scale "
               f"{DEFAULT_DECIMAL[1]}), pyarrow at another scale")
        return OrcFacts(signature=("orc", tuple(sorted((n, t) for n, t, _ in cols))), rows=rows, spark_columns=cols,
                        no_values={n: why for n in sorted(defaulted)})

    def rereads(self, settings: Settings, index: int, rows_before: int | None) -> bool:
        """The samples read the first files until profile_max_rows rows."""
        return rows_before is None or rows_before < settings.profile_max_rows

    @staticmethod
    def _window_args(plan: TablePlan, files: list[FileFacts]) -> tuple[list[tuple[str, str]], dict[str, str]]:
        """The table's data columns (the first footer's, partition columns left out) and the column
        notes its files' facts give before the window is read."""
        first = files[0]
        assert isinstance(first, OrcFacts) and first.spark_columns is not None
        notes: dict[str, str] = {}
        for fact in files:
            if isinstance(fact, OrcFacts):
                for n, why in (fact.no_values or {}).items():
                    notes.setdefault(n, why)
        return plan.data_columns(first.spark_columns), notes

    def prepare(self, ctx: TableContext, plan: TablePlan,
                facts: Mapping[str, FileFacts]) -> Callable[[], ArrowWindowRead] | None:
        """The table's window read while other tables' tails are still fetched (as Parquet's: the
        footers give the types)."""
        files = [facts.get(f.info.uri) for f in plan.files]
        if not files or any(not isinstance(f, OrcFacts) or f.spark_columns is None for f in files):
            return None
        known = cast(list[FileFacts], files)
        names_types, notes = self._window_args(plan, known)
        return early_window(ctx, plan, [f.info.uri for f in plan.files], orc_batches, names_types,
                            sum(f.rows or 0 for f in known), notes, [f.rows for f in known])

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        files = [facts[f.info.uri] for f in plan.files]
        table.row_count = sum(f.rows or 0 for f in files)
        names_types, notes = self._window_args(plan, files)
        for n, why in notes.items():
            table.column_notes.setdefault(n, why)
        profiles, samples = arrow_profile(ctx, plan.name, [f.info.uri for f in plan.files], orc_batches,
                                          names_types, table.row_count, table.column_notes,
                                          rows=[f.rows for f in files], window=ctx.window(plan.name),
                                          prepared=ctx.prepared(plan))
        ctx.finish(plan, table, ctx.columns(names_types, {}, samples, profiles))
