"""ORC: rows and schema from each file's footer (pyarrow), samples and profiles from the first
stripes. Timestamps (ORC `timestamp` and `timestamp with local time zone`) are Spark `timestamp`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import TableFacts
from executor.metadata.readers.arrow import arrow_profile
from executor.metadata.readers.base import FileContext, FileFacts, FormatReader, TableContext
from executor.metadata.spark_types import arrow_to_spark_type
from executor.settings import Settings


@dataclass
class OrcFacts(FileFacts):
    spark_columns: list[tuple[str, str, bool]] | None = None


def orc_type(arrow_type: Any, spark_version: str) -> str:
    """Spark's type of an ORC column from pyarrow's reading of the ORC schema."""
    import pyarrow.types as pt

    t = arrow_type
    if pt.is_timestamp(t):
        return "timestamp"
    if pt.is_list(t) or pt.is_large_list(t):
        return f"array<{orc_type(t.value_type, spark_version)}>"
    if pt.is_map(t):
        return f"map<{orc_type(t.key_type, spark_version)},{orc_type(t.item_type, spark_version)}>"
    if pt.is_struct(t):
        return "struct<" + ",".join(f"{t.field(i).name}:{orc_type(t.field(i).type, spark_version)}"
                                    for i in range(t.num_fields)) + ">"
    return arrow_to_spark_type(t, spark_version)


def orc_batches(fh: BinaryIO, columns: list[str] | None, budget: int, notes: dict[str, str]) -> Iterable[Any]:
    """The stripes of one ORC file (arrow.FileBatches)."""
    import pyarrow.orc as orc

    f = orc.ORCFile(fh)
    return (f.read_stripe(i, columns=columns) for i in range(f.nstripes))


class OrcReader(FormatReader):
    formats = ("orc",)
    extensions = {".orc": "orc"}
    sniff_rank = 0
    early_facts = True

    def sniff(self, head: bytes) -> str | None:
        return "orc" if head.startswith(b"ORC") else None

    def file_facts(self, ctx: FileContext, pf: PlannedFile, file_format: str, sample_rows: int) -> FileFacts:
        import pyarrow.orc as orc

        with ctx.store.open(pf.info.uri) as fh:  # a remote store reads the tail in one request
            f = orc.ORCFile(fh)
            rows, schema = f.nrows, f.schema
        cols = [(fld.name, orc_type(fld.type, ctx.spark_version), True) for fld in schema]
        return OrcFacts(signature=("orc", tuple(sorted((n, t) for n, t, _ in cols))), rows=rows, spark_columns=cols)

    def rereads(self, settings: Settings, index: int, rows_before: int | None) -> bool:
        """The samples read the first files until profile_max_rows rows."""
        return rows_before is None or rows_before < settings.profile_max_rows

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        first = facts[plan.files[0].info.uri]
        assert isinstance(first, OrcFacts) and first.spark_columns is not None
        table.row_count = sum(facts[f.info.uri].rows or 0 for f in plan.files)
        partition_names = set(plan.partition_keys)
        names_types = [(n, t) for n, t, _ in first.spark_columns if n not in partition_names]
        profiles, samples = arrow_profile(ctx, plan.name, [f.info.uri for f in plan.files], orc_batches,
                                          names_types, table.row_count, {},
                                          rows=[facts[f.info.uri].rows for f in plan.files])
        ctx.finish(plan, table, ctx.columns(names_types, {}, samples, profiles))
