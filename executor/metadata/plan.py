"""From a source path to the tables a run extracts, without Spark: open the source's store, stream
its listing (pruned), group files into tables (grouping.plan_tables, formats from the reader
registry), read each file's facts in threads (its reader), split folders whose files disagree on
schema and name the tables. The extractor reads the tables of this plan; the dry run prints it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from executor.formats import FormatOptions
from executor.metadata.grouping import (
    Plan,
    PlannedFile,
    TablePlan,
    assign_names,
    plan_tables,
    prune_listing,
    split_by_schema,
)
from executor.metadata.readers.base import FileContext, FileFacts, FormatReader, Registry, first_line
from executor.metadata.readers.registry import READERS
from executor.settings import Settings
from executor.sources.base import FileInfo, FileStore
from executor.sources.local import LocalFileStore
from executor.sources.location import Location, source_location

StoreFactory = Callable[[Location, Settings], FileStore]


def default_store_factory(location: Location, settings: Settings) -> FileStore:
    """Local and DBFS paths read through the file system; Azure through azure-storage-blob."""
    if location.kind == "local":
        return LocalFileStore(location.local_path or location.display)
    if location.kind == "dbfs":
        return LocalFileStore(location.local_path or "/dbfs", kind="dbfs", fuse_root="/dbfs", spark_scheme="dbfs:")
    from executor.sources.azure import AzureBlobFileStore  # azure-storage-blob, azure-identity

    return AzureBlobFileStore.from_location(location, settings)


def open_source(data_source_path: str, data_source_type: str, settings: Settings,
                store_factory: StoreFactory = default_store_factory) -> tuple[Location, FileStore]:
    """The parsed location (its SAS token registered as a secret) and its store."""
    location = source_location(data_source_path, data_source_type, settings)
    return location, store_factory(location, settings)


def group_listing(store: FileStore, data_source_type: str = "auto", include: Sequence[str] = (),
                  exclude: Sequence[str] = (), readers: Registry = READERS) -> Plan:
    """The store's listing grouped into (unnamed, unsplit) tables; files without an extension
    are sniffed; data_source_type, when a format, keeps only that format."""
    fmt = data_source_type if data_source_type in readers.formats else None

    def sniff(info: FileInfo) -> tuple[str | None, str | None]:
        with store.open(info.uri) as fh:
            return readers.sniff_file(fh)

    return plan_tables(store.list_files(prune_listing), detect=readers.detect, format_filter=fmt, include=include,
                       exclude=exclude, sniff=sniff)


def file_facts(reader: FormatReader, ctx: FileContext, pf: PlannedFile, file_format: str,
               sample_rows: int) -> FileFacts:
    """One file's facts; whatever goes wrong becomes the file's error (it fails its table)."""
    info = pf.info
    where = info.relative or info.name
    if info.size == 0:
        return FileFacts(error=f"{where} is empty (0 bytes)")
    try:
        return reader.file_facts(ctx, pf, file_format, sample_rows)
    except FileNotFoundError:
        return FileFacts(error=f"{where} disappeared after listing")
    except PermissionError:
        return FileFacts(error=f"{where} is not readable (permission denied)")
    except Exception as exc:  # noqa: BLE001 - recorded as the table's error, the run goes on
        return FileFacts(error=f"{where}: {first_line(exc)}")


def read_file_facts(ctx: FileContext, tables: list[TablePlan], readers: Registry = READERS) -> dict[str, FileFacts]:
    """Every file's facts (uri -> facts), read in settings.io_threads threads. Formats read as a
    whole (Delta) have none. Each file keeps its share of profile_max_rows rows for profiles."""
    jobs: dict[str, Future[FileFacts]] = {}
    with ThreadPoolExecutor(max_workers=ctx.settings.io_threads, thread_name_prefix="nuvyn-io") as pool:
        for t in tables:
            reader = readers.reader(t.file_format)
            if not reader.file_facts_per_file:
                continue
            share = -(-ctx.settings.profile_max_rows // max(1, len(t.files)))
            for f in t.files:
                jobs[f.info.uri] = pool.submit(file_facts, reader, ctx, f, t.file_format, share)
        return {uri: fut.result() for uri, fut in jobs.items()}


@dataclass
class SourcePlan:
    """The tables of a source as a run extracts them, and what was learnt on the way."""

    location: Location
    store: FileStore
    listing: Plan  # the grouping: files found, skipped files, tables before the schema split
    tables: list[TablePlan]  # named; split by schema when the file facts were read
    facts: dict[str, FileFacts] = field(default_factory=dict)  # uri -> the file's facts

    def problem(self, table: TablePlan) -> str | None:
        """Why `table` fails before it is read: the plan's own error, else its first file's error."""
        if table.error:
            return table.error
        return next((self.facts[f.info.uri].error for f in table.files
                     if f.info.uri in self.facts and self.facts[f.info.uri].error), None)


def plan_source(data_source_path: str, data_source_type: str = "auto", include: Sequence[str] = (),
                exclude: Sequence[str] = (), *, settings: Settings, store_factory: StoreFactory = default_store_factory,
                read_facts: bool = True, csv_header: str = "auto", spark_version: str = "3.5",
                readers: Registry = READERS, format_options: FormatOptions | None = None) -> SourcePlan:
    """List, group, read file facts (unless read_facts is False: the pre-split grouping), split by
    schema, split files that hold several tables (each reader's `split_tables`) and name: the tables
    a run would extract. Never starts Spark. `format_options` (validated by executor.formats) reach
    the readers through the FileContext; `csv_header` is format_options.csv.header's old name."""
    location, store = open_source(data_source_path, data_source_type, settings, store_factory)
    listing = group_listing(store, data_source_type, include, exclude, readers)
    facts: dict[str, FileFacts] = {}
    tables = listing.tables
    if read_facts:
        options = dict(format_options or {})
        if csv_header != "auto" and "header" not in options.get("csv", {}):
            options["csv"] = {**options.get("csv", {}), "header": csv_header}
        ctx = FileContext(store, settings, spark_version, str(options.get("csv", {}).get("header", "auto")),
                          options)
        facts = read_file_facts(ctx, listing.tables, readers)
        signatures = {uri: f.signature for uri, f in facts.items() if f.signature is not None}
        tables = split_by_schema(listing.tables, signatures)
    named = assign_names(tables, location.root_name)
    if read_facts:  # several tables in one file (FormatReader.split_tables): each named <table>/<part>
        named = [part for t in named for part in readers.reader(t.file_format).split_tables(t, facts)]
        for t in named:
            if t.part:
                t.name = f"{t.name}/{t.part}"
    return SourcePlan(location, store, listing, named, facts)
