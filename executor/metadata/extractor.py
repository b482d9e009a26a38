"""MetadataExtractor: a data source in, a MetadataResult out.

The way through (each step's rules live in their own module, this file wires them):
  1. plan the source: listing, grouping, file facts, schema split, names      plan.plan_source
  2. per table: its format's reader fills row count, schema, samples, profiles  readers (registry)
     several tables at once (their reads share the I/O pool); results in plan order
A table that fails (corrupt file, unreadable header, Spark error) is recorded as failed with its
error, and the run goes on. Extraction never writes anything: storage is a separate room.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from executor import __version__
from executor.errors import ExecutorError, TableExtractionError
from executor.formats import FormatOptions
from executor.gc_scope import startup_heap_frozen
from executor.metadata import incremental as inc
from executor.metadata.csv_scan import HEADER_AUTO
from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import ROLE_DATA, ROLE_LOG, TABLE_FAILED, TABLE_OK, FileRecord, MetadataResult, TableFacts
from executor.metadata.plan import (
    ReuseFacts,
    SourcePlan,
    StoreFactory,
    default_store_factory,
    file_facts,
    file_named,
    open_source,
    plan_source,
    read_error,
    sample_share,
)
from executor.metadata.readers.base import EarlyTables, FileContext, FileFacts, TableContext, first_line, parent
from executor.metadata.readers.registry import READERS
from executor.metadata.window import WindowSlot
from executor.redaction import SECRETS
from executor.sandbox.pool import ReaderSandbox, shared_sandbox
from executor.settings import Settings
from executor.sources.base import FileStore, bytes_read, io_threads, release_files
from executor.sources.location import Location
from executor.spark_jobs import in_job_group

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

# progress(table, totals): called once before the first table (table=None) and after each table;
# totals: tables_done, tables_total, files_done, files_total, bytes_done, bytes_total, rows.
ProgressCallback = Callable[[TableFacts | None, dict[str, int]], None]


class ExtractRequest(Protocol):
    """What extract() needs of a job request (payload.JobRequest has it)."""

    @property
    def data_source_path(self) -> str: ...

    @property
    def data_source_type(self) -> str: ...

    @property
    def include(self) -> Sequence[str]: ...

    @property
    def exclude(self) -> Sequence[str]: ...

    @property
    def csv_header(self) -> str: ...

    @property
    def format_options(self) -> FormatOptions: ...


def _notify(progress: ProgressCallback | None, table: TableFacts | None, totals: dict[str, int]) -> None:
    """Call the progress callback; its failure never fails the run."""
    if progress is None:
        return
    try:
        progress(table, dict(totals))
    except Exception:  # noqa: BLE001 - progress display is best effort
        logger.debug("progress callback failed", exc_info=True)


class MetadataExtractor:
    """Extracts schema, exact row counts and samples of every table under a source path."""

    def __init__(self, spark: SparkSession | None, settings: Settings | None = None,
                 store_factory: StoreFactory | None = None, *,
                 workflow_id: str | None = None, source_id: str | None = None,
                 sandbox: ReaderSandbox | Callable[[], ReaderSandbox] | None = None) -> None:
        self.spark = spark
        self._sandbox = sandbox
        self.settings = settings or Settings()
        self.store_factory = store_factory or default_store_factory
        self.readers = READERS
        self.workflow_id = workflow_id
        self.source_id = source_id

    @property
    def sandbox(self) -> ReaderSandbox:
        """Where native decoders run (executor/sandbox): the one given (ExecutorContext gives the run's),
        else the process's shared one (made at first use)."""
        given = self._sandbox
        if given is None:
            return shared_sandbox()
        return given if isinstance(given, ReaderSandbox) else given()

    @property
    def spark_version(self) -> str:
        """'3.5' or '4.0': the rules executor.metadata.types applies (others ask Spark). Without a
        session (only schema signatures are needed) the 3.5 rules."""
        if self.spark is None:
            return "3.5"
        return ".".join(self.spark.version.split(".")[:2])

    # ------------------------------------------------------------------ the seed's API

    def _get_workflow_id_from_environment(self) -> str | None:
        """The workflow_id of this job: resolved by the caller from the job's environment
        (NUVYN_JOB_PAYLOAD, main.get_workflow_id_from_environment) and passed in."""
        return self.workflow_id

    def _get_source_id_from_environment(self) -> str | None:
        """The source_id of this job (for filtering): resolved by the caller from the job's
        environment (NUVYN_JOB_PAYLOAD, main.get_source_id_from_environment) and passed in."""
        return self.source_id

    # ------------------------------------------------------------------ extraction

    def extract(self, request: ExtractRequest, progress: ProgressCallback | None = None,
                prior: inc.PriorRun | None = None) -> MetadataResult:
        """`prior` (refresh: incremental): the earlier run whose facts unchanged files and tables reuse."""
        return self.extract_metadata(request.data_source_path, request.data_source_type,
                                     include=request.include, exclude=request.exclude, progress=progress,
                                     csv_header=request.csv_header, format_options=request.format_options, prior=prior)

    def open_source(self, data_source_path: str, data_source_type: str = "auto") -> tuple[Location, FileStore]:
        return open_source(data_source_path, data_source_type, self.settings, self.store_factory)

    @startup_heap_frozen()  # the collector leaves the imported libraries' objects alone (executor.gc_scope)
    def extract_metadata(self, data_source_path: str, data_source_type: str = "auto",
                         include: Sequence[str] = (), exclude: Sequence[str] = (),
                         progress: ProgressCallback | None = None, csv_header: str = HEADER_AUTO,
                         format_options: FormatOptions | None = None,
                         prior: inc.PriorRun | None = None) -> MetadataResult:
        """Extract the metadata of every table under `data_source_path`.

        `progress` (optional) is called before the first table and after each one (ProgressCallback).
        `csv_header`: auto (csv_scan.decide_header), true or false for every CSV/TSV file (the old name
        of format_options.csv.header). `format_options`: each format's options (executor.formats).
        `prior` (an incremental run): the earlier run whose records unchanged files and tables reuse
        (executor.metadata.incremental); None reads everything."""
        started, t0 = datetime.now(timezone.utc), time.monotonic()
        rules = inc.Rules(__version__, inc.settings_fingerprint(self.settings, self.spark_version, csv_header,
                                                                data_source_type, format_options))

        restored: dict[str, FileRecord] = {}  # uri -> the earlier run's record, for files not opened
        reuse = self._reuse(prior, rules, restored)
        # a full run's tables start their extraction while other tables' files are read (an incremental
        # run may reuse a table's window instead of reading it)
        with EarlyTables() if prior is None else contextlib.nullcontext() as early_tables:
            sandbox = self.sandbox
            source = plan_source(data_source_path, data_source_type, include, exclude, settings=self.settings,
                                 store_factory=self.store_factory, csv_header=csv_header,
                                 spark_version=self.spark_version, readers=self.readers, format_options=format_options,
                                 reuse=reuse, sandbox=sandbox, early_tables=early_tables)
            reused = self._reusable_tables(source, prior, rules)
            reads, windows = self._read_missing_facts(source, reused, restored, csv_header), \
                self._window_slots(source, reused, prior, restored, self.settings)
            location, store, listing = source.location, source.store, source.listing
            store.configure_spark(self.spark)  # Azure: Spark gets the listing's credential
            logger.info("listed %s: %d data files (%d bytes) in %d groups, %d skipped",
                        location.display, listing.files_found, listing.total_size_bytes, len(listing.tables),
                        len(listing.skipped))
            result = MetadataResult(
                source_path=location.display,
                source_type=location.kind,
                extraction_timestamp=started,
                files_found=listing.files_found,
                total_size_bytes=listing.total_size_bytes,
                skipped=listing.skipped,
            )
            threads = io_threads(self.settings, store)
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nuvyn-io") as pool, \
                    ThreadPoolExecutor(max_workers=table_workers(threads, len(source.tables)),
                                       thread_name_prefix="nuvyn-table") as tables_pool:
                ctx = TableContext(store, self.settings, self.spark, self.spark_version, pool, threads,
                                   dict(format_options or {}), sandbox=sandbox, windows=windows, early=early_tables)
                for table in source.tables:
                    if source.problem(table) is None and table.name not in reused:
                        self.readers.reader(table.file_format).prefetch(ctx, table, source.facts)
                result.tables.extend(self._run_tables(ctx, source, reused, tables_pool, progress))
            result.file_records = self._file_records(source, result, rules, restored, windows)
            result.reads = self._reads_summary(result, reads, reused, prior, store, windows)
            logger.info("extracted %d tables (%d failed) in %.1fs: %d files read, %d reused, %s bytes read",
                        len(result.tables), len(result.failed_tables), time.monotonic() - t0, reads.files_read,
                        reads.files_reused, result.reads["bytes_read"])
            return result

    def _run_tables(self, ctx: TableContext, source: SourcePlan, reused: Mapping[str, TableFacts],
                    tables_pool: ThreadPoolExecutor, progress: ProgressCallback | None) -> list[TableFacts]:
        """Every table's result, in plan order: tables in parallel (their reads go to the I/O pool); an
        incremental run's unchanged tables are the earlier run's results (nothing read), done before the
        first notification."""
        listing = source.listing
        totals = {"tables_done": 0, "tables_total": len(source.tables), "files_done": 0,
                  "files_total": listing.files_found, "bytes_done": 0, "bytes_total": listing.total_size_bytes,
                  "rows": 0}

        def count(done: TableFacts) -> None:
            totals["tables_done"] += 1
            totals["files_done"] += done.file_count
            totals["bytes_done"] += done.size_bytes
            totals["rows"] += done.row_count or 0

        done_tables: dict[int, TableFacts] = {i: self._reused_table(source, table, reused[table.name])
                                              for i, table in enumerate(source.tables) if table.name in reused}
        for done in done_tables.values():
            count(done)
        _notify(progress, None, totals)
        running = {tables_pool.submit(in_job_group(self.spark, self._extract_table), ctx, source, table): i
                   for i, table in enumerate(source.tables) if table.name not in reused}
        for fut in as_completed(running):
            i = running[fut]
            done = done_tables[i] = fut.result()
            release_files(source.store, table_uris(source.tables[i]))  # staged copies, cached bytes
            count(done)
            _notify(progress, done, totals)
        return [done_tables[i] for i in range(len(source.tables))]

    # ------------------------------------------------------------------ incremental runs

    def _reuse(self, prior: inc.PriorRun | None, rules: inc.Rules,
               restored: dict[str, FileRecord]) -> ReuseFacts | None:
        """plan_source's `reuse` of an incremental run (None in a full run): an unchanged file's facts from
        the record (incremental.restorable); `restored` collects the records of those files."""
        if prior is None:
            return None

        known: dict[str, FileFacts] = {}  # the listing asks first (EarlyReads), the facts step again

        def reuse(table: TablePlan, pf: PlannedFile) -> FileFacts | None:
            uri = pf.info.uri
            if uri in known:  # restored once: a record's facts are JSON text, parsed when restored
                return known[uri]
            version = self.readers.reader(table.file_format).rule_version
            facts = inc.restorable(prior, pf.info, table.file_format, pf.compression, version, rules)
            if facts is not None:
                restored[uri], known[uri] = prior.files[pf.info.relative], facts
            return facts

        return reuse

    @staticmethod
    def _reads_summary(result: MetadataResult, reads: inc.Reuse, reused: Mapping[str, TableFacts],
                       prior: inc.PriorRun | None, store: FileStore,
                       windows: Mapping[str, WindowSlot]) -> dict[str, Any]:
        """The summary's files_read, files_reused, bytes_read and (incremental) the tables' changes and the
        changed tables whose window came from the record."""
        if prior is not None:
            reads.windows_reused = sorted(name for name, slot in windows.items() if slot.reused)
            names = {t.table_name for t in result.tables}
            reads.prior_run_id = prior.run_id
            reads.tables_reused = sorted(reused)
            reads.tables_added = sorted(names - prior.table_names)
            reads.tables_removed = sorted(prior.table_names - names)
            reads.tables_changed = sorted((names & prior.table_names) - set(reused))
        return {**reads.summary(), "bytes_read": bytes_read(store)}

    def _table_files(self, table: TablePlan) -> dict[str, Any]:
        """path -> FileInfo of what a table's result depends on: its data files, and a Delta table's log."""
        infos = [f.info for f in table.files] + list(table.log_files)
        return {i.relative: i for i in infos}

    def _reusable_tables(self, source: SourcePlan, prior: inc.PriorRun | None,
                         rules: inc.Rules) -> dict[str, TableFacts]:
        """name -> the earlier run's result of each table that is exactly as it was (incremental.reusable_table)."""
        out: dict[str, TableFacts] = {}
        if prior is None:
            return out
        for table in source.tables:
            if source.problem(table) is not None:
                continue
            version = self.readers.reader(table.file_format).rule_version
            compressions = {f.info.relative: f.compression for f in table.files}
            old = inc.reusable_table(prior, table.name, self._table_files(table), table.file_format, version,
                                     rules, compressions)
            if old is not None:
                out[table.name] = old
        return out

    def _read_missing_facts(self, source: SourcePlan, reused: dict[str, TableFacts],
                            restored: Mapping[str, object], csv_header: str) -> inc.Reuse:
        """Read the facts of unchanged files whose table is extracted and whose reader needs more than the
        record holds (incremental.needs_read); count the files read and reused."""
        reads = inc.Reuse()
        shares = {id(f): sample_share(self.settings, t) for t in source.listing.tables for f in t.files}
        ctx = FileContext(source.store, self.settings, self.spark_version, csv_header, sandbox=self.sandbox)
        todo: list[tuple[TablePlan, PlannedFile]] = []
        for table in source.tables:
            per_file = self.readers.reader(table.file_format).file_facts_per_file
            for f in table.files:
                fact = source.facts.get(f.info.uri)
                if table.name in reused or (f.info.uri in restored and not inc.needs_read(fact)):
                    reads.files_reused += 1
                    continue
                reads.files_read += 1
                if per_file and isinstance(fact, inc.RestoredFacts) and source.problem(table) is None:
                    todo.append((table, f))
        if todo:
            with ThreadPoolExecutor(max_workers=io_threads(self.settings, source.store),
                                    thread_name_prefix="nuvyn-io") as pool:
                futures = [(f, pool.submit(file_facts, self.readers.reader(t.file_format), ctx, f, t.file_format,
                                           shares.get(id(f), self.settings.profile_max_rows))) for t, f in todo]
                for f, fut in futures:
                    source.facts[f.info.uri] = fut.result()
        return reads

    @staticmethod
    def _window_slots(source: SourcePlan, reused: Mapping[str, TableFacts], prior: inc.PriorRun | None,
                      restored: Mapping[str, object], settings: Settings) -> dict[str, WindowSlot]:
        """table name -> its window slot (executor.metadata.window), for every table extracted: with the
        earlier run's window when the record holding it is of a file unchanged now (incremental.prior_window),
        and the rows each of its files gave the facts step's sample (plan.sample_share)."""
        out: dict[str, WindowSlot] = {}
        shares = {id(f): sample_share(settings, t) for t in source.listing.tables for f in t.files}
        for table in source.tables:
            if table.name in reused or source.problem(table) is not None:
                continue
            unchanged = frozenset(f.info.relative for f in table.files if f.info.uri in restored)
            out[table.name] = WindowSlot(relative={f.info.uri: f.info.relative for f in table.files},
                                         prior=inc.prior_window(prior, table.name, unchanged), unchanged=unchanged,
                                         share=shares.get(id(table.files[0])) if table.files else None)
        return out

    def _reused_table(self, source: SourcePlan, plan: TablePlan, old: TableFacts) -> TableFacts:
        """The earlier run's result of an unchanged table, as this run records it."""
        table = copy.deepcopy(old)
        table.file_path = _table_root(source.store, source.location, plan)
        table.file_count, table.size_bytes = len(plan.files), plan.size_bytes
        table.partition_columns = list(plan.partition_keys)
        return table

    def _file_records(self, source: SourcePlan, result: MetadataResult, rules: inc.Rules,
                      restored: Mapping[str, FileRecord],
                      windows: Mapping[str, WindowSlot]) -> list[FileRecord]:
        """The file_facts rows of this run: every file of each ok table, with the facts a later run restores
        (a file not opened keeps its record's facts: same identity, same rules). An extracted table's window
        goes with its first file's record (an unchanged table's stays where it was: the same file)."""
        ok = {t.table_name for t in result.tables if t.status == TABLE_OK}
        out: list[FileRecord] = []
        for table in source.tables:
            if table.name not in ok:
                continue
            version = self.readers.reader(table.file_format).rule_version
            entries = [(f.info, f.compression, ROLE_DATA, source.facts.get(f.info.uri)) for f in table.files]
            entries += [(info, None, ROLE_LOG, None) for info in table.log_files]
            slot = windows.get(table.name)
            for i, (info, compression, role, fact) in enumerate(entries):
                prior = restored.get(info.uri)
                facts = prior.facts_json if prior is not None else inc.facts_to_json(fact) if fact is not None else None
                rows = prior.rows if prior is not None else fact.rows if fact is not None else None
                # extracted: this run's window, on its first file (serialized now: one record per file is kept)
                text = inc.record_facts(facts, slot.out if slot is not None and i == 0 else None, slot is not None)
                out.append(FileRecord(table_name=table.name, path=info.relative, size=info.size,
                                      modified_us=inc.modified_us(info), etag=info.etag, file_format=table.file_format,
                                      compression=compression, rule_version=version,
                                      executor_version=rules.executor_version,
                                      settings_fingerprint=rules.settings_fingerprint, role=role, facts_json=text,
                                      rows=rows if text is not None else None))
        return out

    def _extract_table(self, ctx: TableContext, source: SourcePlan, plan: TablePlan) -> TableFacts:
        table = TableFacts(
            table_name=plan.name,
            file_path=_table_root(source.store, source.location, plan),
            file_type=plan.file_format,
            file_count=len(plan.files),
            size_bytes=plan.size_bytes,
            partition_columns=list(plan.partition_keys),
        )
        try:
            problem = source.problem(plan)
            if problem:
                raise TableExtractionError(problem)
            self.readers.reader(plan.file_format).extract_table(ctx, plan, source.facts, table)
        except Exception as exc:  # noqa: BLE001 - one table fails, the run goes on
            table.status = TABLE_FAILED
            table.error_message = _table_error(exc, plan)
            table.columns = []
            table.row_count = None
            logger.warning("table %s failed: %s", plan.name, table.error_message)
        return table


def _table_error(exc: BaseException, plan: TablePlan) -> str:
    """A failed table's message: the executor's own errors as they are (secrets redacted); a file
    gone or unreadable since its facts were read named by its path in the source, as the facts
    step names it; anything else by its first line."""
    if isinstance(exc, ExecutorError):
        return SECRETS.redact(str(exc))
    where = file_named(plan.files, exc)
    return (read_error(exc, where) if where is not None else None) or first_line(exc)


TABLES_AT_ONCE = 2


def table_workers(threads: int, tables: int) -> int:
    """Tables extracted at once: two, so that one table's reads overlap another's decoding (each
    table's own reads are parallel, CSV counts run ahead in the I/O pool). More gains little and
    costs memory (each holds a sample of up to NUVYN_PROFILE_MAX_ROWS rows, Python values for
    CSV): on the remote benchmark's CSV folders, 1/2/4 tables at once took 14.8/13.4/12.7 s and
    272/355/574 MB; its Parquet tables the same time with 2 or 4."""
    return max(1, min(tables, TABLES_AT_ONCE))


def table_uris(plan: TablePlan) -> list[str]:
    return [f.info.uri for f in plan.files] + [f.uri for f in plan.log_files]


def _table_root(store: FileStore, location: Location, plan: TablePlan) -> str:
    """The table's root as recorded: the Delta folder, the lone file, or the table's folder."""
    if plan.is_delta:
        uri = plan.log_files[0].uri.rsplit("/_delta_log/", 1)[0] if plan.log_files else location.display
        return store.display(uri)
    first = plan.files[0].info
    if first.relative == "" or (len(plan.files) == 1 and not plan.partitioned):
        return store.display(first.uri)
    depth = first.relative.count("/") - (plan.folder.count("/") + 1 if plan.folder else 0)
    return store.display(parent(first.uri, depth + 1))
