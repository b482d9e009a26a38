"""From a source path to the tables a run extracts, without Spark: open the source's store, stream
its listing (pruned), group files into tables (grouping.plan_tables, formats from the reader
registry), read each file's facts in threads (its reader), split folders whose files disagree on
schema and name the tables. The extractor reads the tables of this plan; the dry run prints it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields

from executor.formats import FormatOptions
from executor.metadata.grouping import (
    DELTA_LOG,
    Plan,
    PlannedFile,
    TablePlan,
    assign_names,
    early_format,
    plan_tables,
    prune_listing,
    split_by_schema,
)
from executor.metadata.readers.base import (
    EarlyTables,
    FileContext,
    FileFacts,
    FormatReader,
    Registry,
    TableContext,
    first_line,
)
from executor.metadata.readers.registry import READERS
from executor.sandbox.pool import ReaderSandbox, SandboxError, shared_sandbox
from executor.settings import Settings
from executor.sources.base import FileInfo, FileStore, forget_cached, io_threads, stop_caching
from executor.sources.local import LocalFileStore
from executor.sources.location import Location, source_location

StoreFactory = Callable[[Location, Settings], FileStore]
# An incremental run's record: the facts of an unchanged file (not opened), or None to read it.
ReuseFacts = Callable[[TablePlan, PlannedFile], "FileFacts | None"]


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


class EarlyReads:
    """Work started while the listing goes on (pages are consumed while the first files are read):
    the facts of files whose format their name tells and whose reader does not need the table's
    size (FormatReader.early_facts), and the first bytes of files without an extension (sniffing).
    A file that turns out not to be read (part of a Delta table seen later) costs its request only.

    Facts are started only while fewer than max(16, 2 x threads) of them wait for a pool thread:
    the listing outruns the reads (a page of 5,000 names against ~1,000 footers a second), so the
    pool stays busy through the listing without a future per listed file; the files passed over
    are read by read_file_facts, in order, once the listing is grouped."""

    def __init__(self, ctx: FileContext, pool: ThreadPoolExecutor, readers: Registry, format_filter: str | None,
                 include: Sequence[str], exclude: Sequence[str], read_facts: bool,
                 reuse: ReuseFacts | None = None) -> None:
        self.ctx, self.pool, self.readers = ctx, pool, readers
        self.format_filter, self.include, self.exclude = format_filter, include, exclude
        self.read_facts = read_facts
        self.reuse = reuse  # an incremental run: files whose facts the record gives are not read early
        self.facts: dict[str, Future[FileFacts]] = {}
        self.sniffs: dict[str, Future[tuple[str | None, str | None]]] = {}
        self._delta_roots: set[str] = set()
        self._room = threading.Semaphore(max(16, 2 * io_threads(ctx.settings, ctx.store)))  # facts not started yet

    def _in_delta(self, relative: str) -> bool:
        segs = relative.split("/")
        if DELTA_LOG in segs[:-1]:
            self._delta_roots.add("/".join(segs[: segs.index(DELTA_LOG)]))
            return True
        return "" in self._delta_roots or any("/".join(segs[:i]) in self._delta_roots for i in range(1, len(segs)))

    def see(self, info: FileInfo) -> None:
        if info.skip_reason or self._in_delta(info.relative):
            return
        kind = early_format(info, self.readers.detect, self.format_filter, self.include, self.exclude)
        if kind is None:
            return
        fmt, codec = kind
        if fmt is None:
            self.sniffs[info.uri] = self.pool.submit(sniff_file, self.ctx.store, info, self.readers)
            return
        reader = self.readers.reader(fmt)
        if self.read_facts and reader.early_facts and reader.file_facts_per_file:
            pf = PlannedFile(info, compression=codec)
            if self.reuse is not None and self.reuse(TablePlan("", fmt, ()), pf) is not None:
                return  # unchanged since the earlier run: read_file_facts restores it
            if not self._room.acquire(blocking=False):
                return  # the pool has enough waiting: read_file_facts reads this one

            def read() -> FileFacts:
                self._room.release()  # started: room for the next listed file
                return file_facts(reader, self.ctx, pf, fmt, self.ctx.settings.profile_max_rows)

            self.facts[info.uri] = self.pool.submit(read)

    def listing(self, files: Iterable[FileInfo]) -> Iterator[FileInfo]:
        for info in files:
            self.see(info)
            yield info

    def sniff(self, info: FileInfo) -> tuple[str | None, str | None]:
        fut = self.sniffs.pop(info.uri, None)
        return fut.result() if fut is not None else sniff_file(self.ctx.store, info, self.readers)

    def unused(self, used: set[str]) -> None:
        """Cancel what was started for files no table reads."""
        for uri, fut in self.facts.items():
            if uri not in used:
                fut.cancel()
        for sniffing in self.sniffs.values():
            sniffing.cancel()


def sniff_file(store: FileStore, info: FileInfo, readers: Registry = READERS) -> tuple[str | None, str | None]:
    with store.open(info.uri) as fh:
        return readers.sniff_file(fh)


def group_listing(store: FileStore, data_source_type: str = "auto", include: Sequence[str] = (),
                  exclude: Sequence[str] = (), readers: Registry = READERS, early: EarlyReads | None = None) -> Plan:
    """The store's listing grouped into (unnamed, unsplit) tables; files without an extension
    are sniffed; data_source_type, when a format, keeps only that format. `early`: reads started
    while the listing streams in."""
    fmt = data_source_type if data_source_type in readers.formats else None
    files = store.list_files(prune_listing)
    if early is None:
        return plan_tables(files, detect=readers.detect, format_filter=fmt, include=include, exclude=exclude,
                           sniff=lambda info: sniff_file(store, info, readers))
    return plan_tables(early.listing(files), detect=readers.detect, format_filter=fmt, include=include,
                       exclude=exclude, sniff=early.sniff)


def file_facts(reader: FormatReader, ctx: FileContext, pf: PlannedFile, file_format: str,
               sample_rows: int) -> FileFacts:
    """One file's facts; whatever goes wrong becomes the file's error (it fails its table)."""
    info = pf.info
    where = info.relative or info.name
    if info.size == 0:
        return FileFacts(error=f"{where} is empty (0 bytes)")
    try:
        return reader.file_facts(ctx, pf, file_format, sample_rows)
    except SandboxError as exc:  # the decoder crashed, hung or ran out of memory: its message names the file
        return FileFacts(error=str(exc))
    except Exception as exc:  # noqa: BLE001 - recorded as the table's error, the run goes on
        return FileFacts(error=read_error(exc, where) or f"{where}: {first_line(exc)}")


def read_error(exc: BaseException, where: str) -> str | None:
    """What a listed file's read refused by the file system says, naming the file by `where`
    (its path in the source, never the machine's): gone since the listing, or not readable.
    None for any other error."""
    if isinstance(exc, FileNotFoundError):
        return f"{where} disappeared after listing"
    if isinstance(exc, PermissionError):
        return f"{where} is not readable (permission denied)"
    return None


def file_named(files: Sequence[PlannedFile], exc: BaseException) -> str | None:
    """The path in the source of the file of `files` an OS error names (its `filename`, the uri the
    store's open was given); None when it names none of them."""
    name = getattr(exc, "filename", None)
    if not isinstance(name, str) or not name:
        return None
    return next((pf.info.relative or pf.info.name for pf in files if pf.info.uri == name), None)


def share_schema(fact: FileFacts, first_of: dict[Hashable, FileFacts]) -> FileFacts:
    """The facts with the parts equal to those of the first file of the same signature replaced by
    that file's objects (schema, columns, nullability, dialect...): a table of 20,000 files holds
    one copy of its schema, not 20,000 (memory flat in the number of files)."""
    if fact.signature is None:
        return fact
    first = first_of.setdefault(fact.signature, fact)
    if first is fact or type(first) is not type(fact):
        return fact
    for f in fields(fact):
        if f.name in ("rows", "error"):
            continue
        mine, theirs = getattr(fact, f.name), getattr(first, f.name)
        if mine is not theirs and mine == theirs:
            setattr(fact, f.name, theirs)
    return fact


def sample_share(settings: Settings, table: TablePlan) -> int:
    """The rows each file of a (pre-split) table may keep for profiles."""
    return -(-settings.profile_max_rows // max(1, len(table.files)))


def read_file_facts(ctx: FileContext, tables: list[TablePlan], readers: Registry = READERS,
                    pool: ThreadPoolExecutor | None = None, early: EarlyReads | None = None,
                    reuse: ReuseFacts | None = None,
                    ready: Callable[[TablePlan, dict[str, FileFacts]], None] | None = None) -> dict[str, FileFacts]:
    """Every file's facts (uri -> facts), read in the pool (io_threads threads). Formats read as a
    whole (Delta) have none. Each file keeps its share of profile_max_rows rows for profiles. `reuse`
    (an incremental run) gives the facts of unchanged files, which are then not opened. `ready(table,
    facts)` is called as soon as a table's files all have their facts (in table order).

    Facts are collected table by table, file by file: a small file the table step reads again
    (FormatReader.rereads) stays in the store's cache, every other one leaves it at once."""
    if pool is None:
        with ThreadPoolExecutor(max_workers=io_threads(ctx.settings, ctx.store), thread_name_prefix="nuvyn-io") as own:
            return read_file_facts(ctx, tables, readers, own, early, reuse, ready)
    started = early.facts if early is not None else {}
    todo: list[tuple[TablePlan, PlannedFile, FormatReader, int]] = []  # the files to read, in the order collected
    restored: dict[str, FileFacts] = {}
    for t in tables:
        reader = readers.reader(t.file_format)
        if not reader.file_facts_per_file:
            continue
        share = sample_share(ctx.settings, t)
        for f in t.files:
            old = reuse(t, f) if reuse is not None else None
            if old is not None:
                restored[f.info.uri] = old
            else:
                todo.append((t, f, reader, share))
    used = {f.info.uri for _, f, _, _ in todo}
    if early is not None:
        early.unused(used)
    # submitted a window ahead of the collection, not all at once: a pool's future per file (~0.7 KB,
    # 14 MB for the 20,000-file bench table) and each finished file's cached bytes stay bounded
    ahead = max(64, 4 * io_threads(ctx.settings, ctx.store))
    jobs: dict[str, Future[FileFacts]] = {}
    submitted = 0

    def submit_through(n: int) -> None:
        nonlocal submitted
        while submitted < min(n, len(todo)):
            t, f, reader, share = todo[submitted]
            submitted += 1
            fut = started.get(f.info.uri) if reader.early_facts else None
            jobs[f.info.uri] = fut if fut is not None else pool.submit(file_facts, reader, ctx, f, t.file_format,
                                                                       share)

    facts: dict[str, FileFacts] = {}
    first_of: dict[Hashable, FileFacts] = {}
    collected = 0
    for t in tables:
        reader = readers.reader(t.file_format)
        if not reader.file_facts_per_file:
            continue
        rows: int | None = 0
        again = True  # rereads holds for the files up to the window's end only (FormatReader.rereads)
        for i, f in enumerate(t.files):
            uri = f.info.uri
            again = again and reader.rereads(ctx.settings, i, rows)
            if uri in restored:  # not opened: nothing cached
                fact = facts[uri] = restored[uri]
            else:
                collected += 1
                submit_through(collected + ahead)
                fact = facts[uri] = share_schema(jobs.pop(uri).result(), first_of)
                reader.collected(ctx, uri, fact, again, pool)
            if again:  # the next file's verdict needs the rows so far
                known = reader.known_rows(fact)
                rows = None if rows is None or known is None else rows + known
        if ready is not None:
            ready(t, facts)
    forget_cached(ctx.store, [uri for uri in started if uri not in used])
    return facts


def _early_starter(early_tables: EarlyTables, ctx: TableContext,
                   readers: Registry) -> Callable[[TablePlan, dict[str, FileFacts]], None]:
    """read_file_facts' `ready`: a table whose files are read starts its reader's `prepare` early, for
    each table the schema split will make of it (split_by_schema needs only the table's own facts; a
    partitioned table is never split, and is not asked, so that no error is set on it twice)."""
    def ready(table: TablePlan, facts: dict[str, FileFacts]) -> None:
        signatures = {f.info.uri: sig for f in table.files if (sig := facts[f.info.uri].signature) is not None}
        parts = [table] if table.partitioned else split_by_schema([table], signatures)
        reader = readers.reader(table.file_format)
        for part in parts:
            work = reader.prepare(ctx, part, facts)
            if work is not None:
                early_tables.offer(part, work)

    return ready


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
                readers: Registry = READERS, format_options: FormatOptions | None = None,
                reuse: ReuseFacts | None = None, sandbox: ReaderSandbox | None = None,
                early_tables: EarlyTables | None = None) -> SourcePlan:
    """List, group, read file facts (unless read_facts is False: the pre-split grouping), split by
    schema, split files that hold several tables (each reader's `split_tables`) and name: the tables
    a run would extract. Never starts Spark. `format_options` (validated by executor.formats) reach
    the readers through the FileContext; `csv_header` is format_options.csv.header's old name.
    `reuse` (an incremental run): read_file_facts. Footers and headers are decoded in `sandbox` (the
    run's; default: the process's shared one). `early_tables` (a run that extracts the tables, not
    an incremental one): each table's `prepare` starts there once its files' facts are read."""
    location, store = open_source(data_source_path, data_source_type, settings, store_factory)
    facts: dict[str, FileFacts] = {}
    options = dict(format_options or {})
    if csv_header != "auto" and "header" not in options.get("csv", {}):
        options["csv"] = {**options.get("csv", {}), "header": csv_header}
    ctx = FileContext(store, settings, spark_version, str(options.get("csv", {}).get("header", "auto")), options,
                      sandbox or shared_sandbox())
    fmt = data_source_type if data_source_type in readers.formats else None
    with ThreadPoolExecutor(max_workers=io_threads(settings, store), thread_name_prefix="nuvyn-io") as pool:
        early = EarlyReads(ctx, pool, readers, fmt, include, exclude, read_facts, reuse)
        try:
            listing = group_listing(store, data_source_type, include, exclude, readers, early)
            tables = listing.tables
            if read_facts:
                ready = _early_starter(early_tables, TableContext(
                    store, settings, None, spark_version, early_tables.reads, threads=1, format_options=options,
                    sandbox=ctx.sandbox), readers) if early_tables is not None and reuse is None else None
                facts = read_file_facts(ctx, listing.tables, readers, pool, early, reuse, ready)
                signatures = {uri: f.signature for uri, f in facts.items() if f.signature is not None}
                tables = split_by_schema(listing.tables, signatures)
        finally:
            early.unused(set(facts))
            stop_caching(store)
    named = assign_names(tables, location.root_name)
    if read_facts:  # several tables in one file (FormatReader.split_tables): each named <table>/<part>
        named = [part for t in named for part in readers.reader(t.file_format).split_tables(t, facts)]
        for t in named:
            if t.part:
                t.name = f"{t.name}/{t.part}"
    return SourcePlan(location, store, listing, named, facts)
