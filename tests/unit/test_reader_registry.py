"""The reader registry: a new format is one reader plus one registration, nothing else. A throwaway
`lines` format (docs/ARCHITECTURE.md's example) is registered and a source holding a .lines
file is planned (dry run) and extracted (no Spark) with no other module touched."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest

from executor.metadata.compression import open_data
from executor.metadata.extractor import MetadataExtractor
from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import TableFacts
from executor.metadata.profile import profile_rows
from executor.metadata.readers.base import FileContext, FileFacts, FormatReader, Registry, TableContext
from executor.metadata.readers.csv import CsvReader
from executor.metadata.readers.json import JsonReader
from executor.metadata.readers.registry import READERS
from executor.ops.dry_run import plan_extraction
from executor.settings import Settings


@dataclass
class LinesFacts(FileFacts):
    first: list[str] = field(default_factory=list)  # the first lines, for samples and profiles


class LinesReader(FormatReader):
    """Text files of lines: one string column `line`, one row per line."""

    formats = ("lines",)
    extensions = {".lines": "lines"}
    compressible = True  # .lines.gz and .lines.bz2 are read too

    def file_facts(self, ctx: FileContext, pf: PlannedFile, file_format: str, sample_rows: int) -> FileFacts:
        with open_data(ctx.store, pf.info.uri, pf.compression) as fh:
            lines = fh.read().decode("utf-8").splitlines()
        return LinesFacts(signature=("lines",), rows=len(lines), first=lines[:sample_rows])

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        files = [facts[f.info.uri] for f in plan.files]
        table.row_count = sum(f.rows or 0 for f in files)
        rows = [{"line": x} for f in files if isinstance(f, LinesFacts) for x in f.first]
        names_types = [("line", "string")]
        profiles = profile_rows(names_types, rows, ctx.scope(len(rows), table.row_count),
                                ctx.settings.sample_value_max_chars)
        ctx.finish(plan, table, ctx.columns(names_types, {}, ctx.row_samples(["line"], rows), profiles))


@pytest.fixture
def lines_format() -> Iterator[LinesReader]:
    reader = LinesReader()
    READERS.register(reader)
    try:
        yield reader
    finally:
        READERS.unregister(reader)


def _lake(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.lines").write_text("alpha\nbeta\n")
    (tmp_path / "notes" / "b.lines.gz").write_bytes(gzip.compress(b"gamma\nalpha\ndelta\n"))
    (tmp_path / "people.csv").write_text("id,name\n1,ann\n2,bob\n")
    return tmp_path


def test_a_registered_format_is_planned_and_extracted(tmp_path, lines_format):
    lake = _lake(tmp_path)
    assert "lines" in READERS.formats and READERS.detect("x.lines.gz") == ("lines", "gzip")

    report = plan_extraction(str(lake), settings=Settings(io_threads=2))
    planned = {t.name: (t.file_format, t.files, t.problem) for t in report.tables}
    assert planned == {"notes": ("lines", 2, None), "people": ("csv", 1, None)}

    result = MetadataExtractor(None, Settings(io_threads=2)).extract_metadata(str(lake))
    notes = {t.table_name: t for t in result.tables}["notes"]
    assert (notes.status, notes.file_type, notes.row_count, notes.file_count) == ("ok", "lines", 5, 2)
    [line] = notes.columns
    assert (line.column_name, line.data_type, line.distinct_count, line.profile_scope) == ("line", "string", 4,
                                                                                           "exact")
    assert sorted(line.sample_values) == ["alpha", "beta", "delta", "gamma"]


def test_without_the_registration_the_format_is_skipped(tmp_path):
    report = plan_extraction(str(_lake(tmp_path)), settings=Settings(io_threads=2))
    assert [t.name for t in report.tables] == ["people"]
    assert {s["path"]: s["reason"] for s in report.skipped} == {"notes/a.lines": "unsupported format",
                                                                "notes/b.lines.gz": "unsupported format"}


def test_registry_rules():
    registry = Registry([CsvReader(), JsonReader()])
    assert registry.formats == ("csv", "tsv", "json")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(CsvReader())
    assert registry.detect("a.TAB.bz2") == ("tsv", "bzip2")
    assert registry.detect("a.parquet") == (None, None)  # no reader claims it here
    assert registry.sniff_format(b'{"a": 1, "b": 2}\n') == "json"  # JSON is asked before CSV
    assert registry.sniff_file(io.BytesIO(gzip.compress(b"a;b\n1;2\n"))) == ("csv", "gzip")
    assert registry.sniff_file(io.BytesIO(b"\x1f\x8bnot gzip")) == (None, None)


class HalvesReader(LinesReader):
    """Two tables in every .lines file (the split_tables hook): its odd and its even lines."""

    def split_tables(self, plan, facts):
        from dataclasses import replace

        return [replace(plan, part="odd"), replace(plan, part="even")]

    def extract_table(self, ctx, plan, facts, table):
        super().extract_table(ctx, plan, facts, table)
        table.format_details = {"part": plan.part}


def test_several_tables_in_one_file_through_split_tables(tmp_path):
    reader = HalvesReader()
    READERS.register(reader)
    try:
        lake = _lake(tmp_path)
        report = plan_extraction(str(lake), settings=Settings(io_threads=2))
        assert sorted(t.name for t in report.tables) == ["notes/even", "notes/odd", "people"]
        result = MetadataExtractor(None, Settings(io_threads=2)).extract_metadata(str(lake))
        parts = {t.table_name: t.format_details for t in result.tables if t.file_type == "lines"}
        assert parts == {"notes/odd": {"part": "odd"}, "notes/even": {"part": "even"}}
    finally:
        READERS.unregister(reader)
