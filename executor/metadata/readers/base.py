"""What a format reader is, and the registry of readers. A FormatReader declares its format
names, file extensions, whether its files may be gzip/bzip2 compressed and how to recognise them
by their first bytes; it reads one file's facts (schema signature, exact rows, errors) and fills
one table's TableFacts. The Registry is the single list of supported formats: grouping asks it
for a file's format, plan.py for file facts, the extractor for the reader of each table. Readers
get what they share (store, settings, Spark, partition columns, samples, profiles) from the
FileContext and TableContext passed in, never from the extractor.
"""

from __future__ import annotations

import logging
import struct
import threading
import zlib
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Generic, TypeAlias, TypeVar

from executor.errors import TableExtractionError
from executor.formats import FormatOptions, OptionValue, format_spec
from executor.metadata.compression import open_decompressed, sniff_compression, split_compression
from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import ColumnFacts, TableFacts
from executor.metadata.profile import PROFILE_EXACT, PROFILE_SAMPLED, ColumnProfile, ColumnProfiler
from executor.metadata.samples import distinct_samples
from executor.metadata.types.fallback import SparkFallback
from executor.metadata.types.partition_inference import HIVE_DEFAULT_PARTITION, infer_partition_types
from executor.metadata.window import Window, WindowSlot, share_files
from executor.redaction import SECRETS
from executor.sandbox.pool import ReaderSandbox, in_process
from executor.settings import Settings, cores
from executor.sources.base import FileStore, forget_cached

if TYPE_CHECKING:
    from pyspark.sql import DataFrameReader, SparkSession

logger = logging.getLogger(__name__)

SNIFF_BYTES = 4096  # bytes read (decompressed) to recognise a file without an extension
_T = TypeVar("_T")
_R = TypeVar("_R")


def first_line(exc: BaseException) -> str:
    """The first line of an error, at most 500 characters, secrets removed. Python's own errors
    (a KeyError's bare key, a TypeError about NoneType) are said as what they mean for the file:
    content the reader did not expect."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"unexpected content: a field the format requires is missing ({text})"
    elif isinstance(exc, RecursionError):
        text = "unexpected content: structures nested too deeply to read"
    elif isinstance(exc, UnicodeDecodeError):
        text = f"unexpected content: text that is not valid {exc.encoding} (byte {exc.object[exc.start:exc.start + 1]!r} " \
               f"at offset {exc.start})"
    elif isinstance(exc, (TypeError, AttributeError, IndexError, struct.error)):
        text = f"unexpected content: a value of the wrong type or size ({type(exc).__name__}: {text})"
    return SECRETS.redact(text.splitlines()[0][:500])


def text_head(head: bytes) -> bytes | None:
    """The first bytes without a BOM and leading blanks when they can be text (no NUL byte)."""
    if not head or b"\x00" in head[:SNIFF_BYTES]:
        return None
    return head.lstrip(b"\xef\xbb\xbf").lstrip()


def parent(uri: str, levels: int) -> str:
    """The folder `levels` segments above a '/'-separated path or URI."""
    for _ in range(levels):
        uri = uri.rsplit("/", 1)[0]
    return uri


@dataclass
class FileFacts:
    """What one file's header or footer told: its schema signature (files of one folder with
    different signatures become different tables), exact rows when the format stores them, or
    the error that fails its table. Readers subclass it for their own facts."""

    signature: Hashable | None = None
    error: str | None = None
    rows: int | None = None


def options_for(format_options: FormatOptions, file_format: str) -> dict[str, OptionValue]:
    """One format's options: its fallback format's (tsv reads csv's), then its own."""
    spec = format_spec(file_format)
    base = dict(format_options.get(spec.options_from, {})) if spec is not None and spec.options_from else {}
    return {**base, **format_options.get(file_format, {})}


# Parsing bytes already in memory (a CSV file's sniff and count in the facts step) is done by at
# most as many threads at once as the machine has cores (two at least). The I/O pool has 32 threads
# on a remote store; when most of them parse at once, on 2 cores, they spend CPU handing the GIL
# to one another (the remote bench's CSV folders, a fresh worker process per run, with and
# without slots interleaved: 1.92 -> 1.86 s mean over five pairs, each pair faster with them; CPU
# 1.66 -> 1.61 s). A thread takes a slot only after its reads (a slot is never held over the
# network) and takes no other slot inside it.
CPU_SLOTS = threading.BoundedSemaphore(max(2, cores()))


@dataclass
class FileContext:
    """What a reader needs to read one file's facts."""

    store: FileStore
    settings: Settings
    spark_version: str = "3.5"  # the Spark rules executor.metadata.types applies (3.5 or 4.0)
    csv_header: str = "auto"  # the payload's csv_header: auto, true or false
    format_options: FormatOptions = field(default_factory=dict)  # the payload's format_options, validated
    # where native decoders (pyarrow, fastavro) run: the run's worker processes (executor/sandbox)
    sandbox: ReaderSandbox = field(default_factory=in_process)

    def options(self, file_format: str) -> dict[str, OptionValue]:
        """The options given for `file_format` (executor.formats), over its fallback format's."""
        return options_for(self.format_options, file_format)


class EarlyTables:
    """Tables whose extraction starts while the facts of other tables' files are still being read.

    The plan is final only when every file's facts are known (the schema split, the names), so the
    table step waits for all of them; on a remote store that is the time of the downloads, with CPU to
    spare. A reader's `prepare` gives the part of a table's extraction that needs only the table's
    own files' facts (CSV: its window: sample, types, profiles); it runs here, in the background, at
    most `workers` tables at once, as soon as the table's files are read. The table step takes the
    result when its table's files are exactly these (`take`); work not started by then is cancelled
    and done by the table step itself (in parallel with the other tables), and work that failed is
    done again there, where its error fails the table as usual."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, cores() // 2)
        self._work = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="nuvyn-early")
        # the early tables' reads (each table's sample files, two at a time: see TableContext.first_files)
        self.reads = ThreadPoolExecutor(max_workers=2 * self.workers, thread_name_prefix="nuvyn-early-io")
        self._lock = threading.Lock()
        self._futures: dict[tuple[str, ...], Future[Any]] = {}
        self._closed = False
        self.taken = 0  # results a table step used

    @staticmethod
    def key(plan: TablePlan) -> tuple[str, ...]:
        return tuple(f.info.uri for f in plan.files)

    def offer(self, plan: TablePlan, work: Callable[[], Any]) -> None:
        """Start `work` (the early part of `plan`'s extraction) in the background."""
        with self._lock:
            if not self._closed:
                self._futures[self.key(plan)] = self._work.submit(work)

    def take(self, plan: TablePlan) -> Any | None:
        """The early result of a table with exactly `plan`'s files (waiting for it when it runs), or
        None: none offered, not started yet (cancelled now), or failed."""
        with self._lock:
            fut = self._futures.pop(self.key(plan), None)
        if fut is None or fut.cancel():
            return None
        try:
            result = fut.result()
        except Exception as exc:  # noqa: BLE001 - the table step does the work again and reports it
            logger.debug("table %s: its early extraction failed (%s), done again in the table step",
                         plan.name, type(exc).__name__)
            return None
        if result is not None:
            with self._lock:
                self.taken += 1
        return result

    def __enter__(self) -> EarlyTables:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel what was not taken; wait for the work running (at most `workers` tables)."""
        with self._lock:
            self._closed = True
            futures, self._futures = list(self._futures.values()), {}
        for fut in futures:
            fut.cancel()
        self._work.shutdown(wait=True, cancel_futures=True)
        self.reads.shutdown(wait=True, cancel_futures=True)


@dataclass
class TableContext:
    """What a reader needs to fill one table: the store, settings, Spark (None in a run that must
    not start it), the pool the run reads in, and the helpers every format shares."""

    store: FileStore
    settings: Settings
    spark: SparkSession | None
    spark_version: str
    pool: ThreadPoolExecutor
    threads: int = 8  # the pool's threads
    format_options: FormatOptions = field(default_factory=dict)  # the payload's format_options, validated
    # where native decoders (pyarrow, fastavro) run: the run's worker processes (executor/sandbox)
    sandbox: ReaderSandbox = field(default_factory=in_process)
    # table name -> its window (executor.metadata.window): the earlier run's to reuse, this run's to record
    windows: dict[str, WindowSlot] = field(default_factory=dict)
    # tables whose extraction started during the facts step (EarlyTables; None: none did)
    early: EarlyTables | None = None

    def options(self, file_format: str) -> dict[str, OptionValue]:
        return options_for(self.format_options, file_format)

    def prepared(self, plan: TablePlan) -> Any | None:
        """What the reader's `prepare` gave for this table during the facts step (EarlyTables.take), or None."""
        return self.early.take(plan) if self.early is not None else None

    def window(self, table_name: str) -> WindowSlot | None:
        """The table's window slot (None: the run records no windows, e.g. a dry run or a test's context)."""
        return self.windows.get(table_name)

    @property
    def fast(self) -> bool:
        """True when schemas come from the ported rules; False (inference=spark): Spark infers."""
        return self.settings.inference == "fast"

    def session(self) -> SparkSession:
        """The Spark session; a table that needs Spark fails when the run has none."""
        if self.spark is None:
            raise TableExtractionError("this table needs Spark and the run has no Spark session")
        return self.spark

    def reader(self) -> DataFrameReader:
        return self.session().read

    def spark_schema(self, frame_schema: Any) -> list[tuple[str, str]]:
        """[(name, type)] of a Spark StructType."""
        return [(f.name, f.dataType.simpleString()) for f in frame_schema.fields]

    def spark_uris(self, plan: TablePlan) -> list[str]:
        return [self.store.spark_uri(f.info.uri) for f in plan.files]

    def root_spark_uri(self, plan: TablePlan) -> str:
        """The partitioned table's folder as Spark reads it (its basePath)."""
        return parent(self.store.spark_uri(plan.files[0].info.uri), len(plan.partition_keys) + 1)

    def partition_types(self, plan: TablePlan) -> list[tuple[str, str]]:
        """Partition column types as Spark infers them: ported rules, else Spark's own inference
        through a text read of the paths (no data is read)."""
        if self.fast:
            try:
                return [(n, t.simple_string()) for n, t in infer_partition_types(
                    plan.partition_value_lists(), spark_version=self.spark_version)]
            except SparkFallback:
                pass
        schema = self.reader().format("text").option("basePath", self.root_spark_uri(plan)).load(
            self.spark_uris(plan)).schema
        return [(n, t) for n, t in self.spark_schema(schema) if n != "value"]

    def partition_facts(self, plan: TablePlan, types: list[tuple[str, str]], start: int) -> list[ColumnFacts]:
        """The partition columns, profiled over their distinct folder values (exact)."""
        cols = []
        s = self.settings
        by_key = plan.partition_value_lists()
        for i, (name, type_string) in enumerate(types):
            raw = by_key.get(name, [])
            values = [v for v in raw if v != HIVE_DEFAULT_PARTITION]
            profile = ColumnProfiler(type_string, text=True, max_chars=s.sample_value_max_chars).add_all(
                dict.fromkeys(values)).result(PROFILE_EXACT)
            default = len(values) < len(raw)
            profile.null_count = None if default else 0  # rows under the default partition are not counted
            cols.append(ColumnFacts(name, type_string, start + i, True, self.samples(values),
                                    is_partition=True).set_profile(profile))
        return cols

    def first_files(self, items: Sequence[_T], rows: Sequence[int | None] | None, budget: int,
                    read: Callable[[_T, int], tuple[_R | None, int]]) -> list[_R]:
        """`read(item, rows_wanted) -> (result, rows given)` for the first items, in order, until
        `budget` rows are read; a None result ends the reading. The items are read in parallel in
        the pool: with each item's `rows` known, exactly those needed; otherwise one first, then as
        many as its rows say are still needed. At most 2 x io_threads reads are in flight."""
        window = max(2, 2 * self.threads)
        out: list[_R] = []
        pending: deque[tuple[Future[tuple[_R | None, int]], int]] = deque()
        got = expected = 0
        estimate: int | None = None
        nxt = 0
        try:
            while True:
                while nxt < len(items) and len(pending) < window and got + expected < budget:
                    known = rows[nxt] if rows is not None else None
                    guess = known if known is not None else estimate
                    if guess is None and pending:
                        break  # nothing known yet: one read tells how many more are needed
                    pending.append((self.pool.submit(read, items[nxt], max(1, budget - got - expected)), guess or budget))
                    expected += guess or budget
                    nxt += 1
                if not pending:
                    return out
                fut, guess = pending.popleft()
                expected -= guess
                result, n = fut.result()
                if result is None:
                    return out
                out.append(result)
                got += n
                estimate = max(1, got // len(out))
                if got >= budget:
                    return out
        finally:
            for fut, _guess in pending:
                fut.cancel()

    def sample_share(self, plan: TablePlan) -> int:
        """The rows each file of a JSON/XML table gives its samples and profiles: the facts step keeps each
        file's share of NUVYN_PROFILE_MAX_ROWS (plan.sample_share of the table before its schema split, in
        the table's window slot; in a run without slots, all of it)."""
        slot = self.window(plan.name)
        return slot.share if slot is not None and slot.share is not None else self.settings.profile_max_rows

    def reused_window(self, plan: TablePlan, table: TableFacts, names_types: list[tuple[str, str]], total: int,
                      extra: Mapping[str, Any]) -> bool:
        """An incremental run: `table`'s columns from the earlier run's window when it is provably this
        table's (executor.metadata.window: the same unchanged first files, columns and `extra`); True when
        they were filled."""
        slot = self.window(plan.name)
        earlier = slot.usable([f.info.uri for f in plan.files], names_types, []) if slot is not None else None
        if slot is None or earlier is None or earlier.extra != extra:
            return False
        slot.use(earlier)
        got = {n: earlier.profile(n, total) for n, _t in names_types}
        self.finish(plan, table, self.columns(names_types, {}, {n: v[1] for n, v in got.items()},
                                              {n: v[0] for n, v in got.items()}))
        return True

    def share_rows(self, plan: TablePlan, counts: Sequence[int], kept: Sequence[list[dict[str, Any]] | None],
                   share: int, read: Callable[[PlannedFile], list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], int]:
        """(the rows, the number of first files they come from) of a table whose files each give their first
        `share` rows until profile_max_rows (JSON, XML; window.share_files): the rows the facts step `kept`,
        or, for a file restored from an earlier run's record (None), `read(file)` in the pool."""
        budget = self.settings.profile_max_rows
        used = share_files(counts, share, budget)
        missing = [i for i in range(used) if kept[i] is None]
        read_rows = dict(zip(missing, self.pool.map(lambda i: read(plan.files[i]), missing), strict=True))
        rows: list[dict[str, Any]] = []
        for i in range(used):
            if len(rows) < budget:
                rows.extend((read_rows[i] if i in read_rows else kept[i] or [])[: budget - len(rows)])
        return rows, used

    def record_window(self, plan: TablePlan, used: int, rows: int, names_types: list[tuple[str, str]],
                      profiles: Mapping[str, ColumnProfile], samples: Mapping[str, list[str]],
                      extra: dict[str, Any]) -> None:
        """This run's window of a table whose samples and profiles came from its first `used` files
        (`rows` rows), recorded for the next incremental run (nothing when the run records none)."""
        slot = self.window(plan.name)
        if slot is None:
            return
        window = Window(files=[slot.relative.get(f.info.uri, f.info.uri) for f in plan.files[:used]],
                        filled=rows >= self.settings.profile_max_rows, seen=rows, names_types=list(names_types),
                        extra=extra)
        for n, _t in names_types:
            window.put(n, profiles[n], samples[n])
        slot.record(window)

    def samples(self, values: Iterable[Any]) -> list[str]:
        s = self.settings
        return distinct_samples(values, s.sample_values_count, s.sample_value_max_chars)

    def row_samples(self, names: list[str], rows: list[dict[str, Any]]) -> dict[str, list[str]]:
        """Samples per column from rows read as dicts."""
        return {n: self.samples(r.get(n) for r in rows) for n in names}

    @staticmethod
    def scope(profiled: int, total: int) -> str:
        """exact when the rows profiled are all the table's rows, else sampled."""
        return PROFILE_EXACT if profiled >= total else PROFILE_SAMPLED

    @staticmethod
    def columns(names_types: list[tuple[str, str]], nullable: Mapping[str, bool],
                samples: Mapping[str, list[str]], profiles: Mapping[str, ColumnProfile]) -> list[ColumnFacts]:
        """The data columns in order, from per-name nullability, samples and profiles."""
        return [ColumnFacts(n, t, i + 1, bool(nullable.get(n, True)), samples.get(n, [])).set_profile(profiles.get(n))
                for i, (n, t) in enumerate(names_types)]

    def finish(self, plan: TablePlan, table: TableFacts, cols: list[ColumnFacts],
               partition_types: list[tuple[str, str]] | None = None) -> None:
        """The table's columns: its data columns, then its partition columns (their types
        inferred here unless given)."""
        if plan.partitioned:
            types = self.partition_types(plan) if partition_types is None else partition_types
            cols = cols + self.partition_facts(plan, types, len(cols) + 1)
        table.columns = cols


FactsT = TypeVar("FactsT", bound=FileFacts)
OptionsT = TypeVar("OptionsT")


class TypedFormatReader(ABC, Generic[FactsT, OptionsT]):  # noqa: UP046 - Python 3.10/3.11 run it too
    """One data format (or a family read the same way, such as csv and tsv), generic over its file
    facts (a FileFacts subclass) and its typed options (built by `typed_options` from the payload's
    format_options, validated by executor.formats).

    Class attributes: `formats` (names, as in data_source_type and file_type), `extensions`
    ('.ext' -> format name), `compressible` (gzip/bzip2 files of these formats are read),
    `sniff_rank` (readers recognising a file by its first bytes are asked in rank order),
    `file_facts_per_file` (False: the table is read as a whole, e.g. from a transaction log),
    `early_facts` (True: file_facts ignores `sample_rows`, so a file's facts may be read while the
    listing goes on, before its table's size is known),
    `rule_version` (bump it when the reader's rules change what it finds in a file: an incremental run
    then reads again what an earlier version recorded; executor.metadata.incremental).
    `formats`, `extensions` and `compressible` must agree with executor.formats (Registry.register).

    Reader-owned results: `extract_table` sets `table.format_details` (a JSON object stored in
    tables.format_details); `plan_details` gives the same from file facts alone (the dry run), and
    `describe` says them in one line (the dry run and the run's summary)."""

    formats: ClassVar[tuple[str, ...]]
    rule_version: ClassVar[int] = 1
    extensions: ClassVar[Mapping[str, str]] = {}
    compressible: ClassVar[bool] = False
    sniff_rank: ClassVar[int] = 50
    file_facts_per_file: ClassVar[bool] = True
    early_facts: ClassVar[bool] = False

    def sniff(self, head: bytes) -> str | None:
        """The format of a file from its first bytes (decompressed), or None when not this one."""
        return None

    def file_facts(self, ctx: FileContext, pf: PlannedFile, file_format: str, sample_rows: int) -> FileFacts:
        """One file's facts; `sample_rows` rows may be kept for profiles. Exceptions become the
        file's error (plan.read_file_facts). The default knows nothing per file (no signature, so
        no schema split; no rows): right for readers that read a table as a whole."""
        return FileFacts()

    def rereads(self, settings: Settings, index: int, rows_before: int | None) -> bool:
        """Whether extract_table reads file number `index` of its table again (samples), given the
        rows of the files before it (None: unknown). A small file it rereads stays in the store's
        cache from the facts step (no second request). The files read again come first: once a file
        is not, the facts step asks no more of its table (nor its rows). Default: no file is read again."""
        return False

    def collected(self, ctx: FileContext, uri: str, fact: FileFacts, read_again: bool, pool: Executor) -> None:
        """The facts step took a file's facts, in table order; `read_again`: its table reads it again
        (rereads). Default: a file not read again leaves the store's cache at once (a reader may
        first finish work on its cached bytes in `pool`, the facts step's)."""
        if not read_again:
            forget_cached(ctx.store, [uri])

    def known_rows(self, fact: FileFacts) -> int | None:
        """The rows of a file as far as its facts know them now (the `rows_before` rereads is given):
        its exact rows by default; a reader whose count finishes later may know them sooner."""
        return fact.rows

    def prefetch(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts]) -> None:
        """Start work for a table before tables are extracted one by one (in ctx.pool)."""
        return None

    def prepare(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts]) -> Callable[[], Any] | None:
        """Work for a table that may start as soon as its files' facts are read, before the plan is
        final (EarlyTables): a function run in the background whose result extract_table takes with
        ctx.prepared(plan), or None (the default: nothing starts early). `ctx` has no Spark and a pool
        of its own; `plan` is one table of the schema split, not yet named (the result is used only
        when the final table has exactly these files). The function must give what extract_table would compute,
        and leave nothing behind that the table step needs (no shared reads consumed)."""
        return None

    @abstractmethod
    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        """Fill `table` (row_count, columns...); raise to fail the table with the error."""

    def typed_options(self, options: Mapping[str, OptionValue]) -> OptionsT:
        """This reader's typed options from one format's validated options (ctx.options(format))."""
        return options  # type: ignore[return-value]  # readers without typed options take the mapping

    def split_tables(self, plan: TablePlan, facts: Mapping[str, FileFacts]) -> list[TablePlan]:
        """Several tables in one file (sheets of a workbook, record types of one file): the plan's
        tables after the schema split. The default is one table per plan; a reader that returns
        several gives each its own `name` suffix (`part`) and reads only its part in extract_table."""
        return [plan]

    def plan_details(self, plan: TablePlan, facts: Mapping[str, FileFacts]) -> dict[str, Any]:
        """The reader-owned results a table will have, from its files' facts only (the dry run)."""
        return {}

    def describe(self, details: Mapping[str, Any]) -> str | None:
        """One line for humans about a table's reader-owned results (None: nothing to say)."""
        return None


# A reader that does not name its facts and options (the registry holds any reader).
FormatReader: TypeAlias = TypedFormatReader[Any, Any]  # noqa: UP040 - subclassed, and Python 3.10 runs it


class Registry:
    """The supported formats: format name -> reader, extensions, sniffing order."""

    def __init__(self, readers: Iterable[FormatReader] = ()) -> None:
        self._readers: list[FormatReader] = []
        for reader in readers:
            self.register(reader)

    def register(self, reader: FormatReader) -> None:
        taken = set(self.formats) & set(reader.formats)
        if taken:
            raise ValueError(f"format(s) {sorted(taken)} already registered")
        for name in reader.formats:  # a listed format reads exactly the files the list says
            spec = format_spec(name)
            if spec is None:
                continue  # a format registered at run time (tests, plug-ins) has no payload name
            exts = sorted(e for e, f in reader.extensions.items() if f == name)
            if exts != sorted(spec.extensions) or reader.compressible != spec.compressible and spec.extensions:
                raise ValueError(f"reader of {name} disagrees with executor.formats: extensions {exts} "
                                 f"compressible {reader.compressible}, the list says {sorted(spec.extensions)} "
                                 f"{spec.compressible}")
        self._readers.append(reader)

    def unregister(self, reader: FormatReader) -> None:
        self._readers.remove(reader)

    @property
    def formats(self) -> tuple[str, ...]:
        """Every supported format name, in registration order."""
        return tuple(f for r in self._readers for f in r.formats)

    def reader(self, file_format: str) -> FormatReader:
        for r in self._readers:
            if file_format in r.formats:
                return r
        raise TableExtractionError(f"unsupported format {file_format}")

    def detect(self, name: str) -> tuple[str | None, str | None]:
        """(format, compression) of a file from its name; (None, None) when no reader claims it
        or its format is not read compressed."""
        base, codec = split_compression(name)
        dot = base.rfind(".")
        if dot < 0:
            return None, None
        ext = base[dot:].lower()
        for r in self._readers:
            fmt = r.extensions.get(ext)
            if fmt is not None:
                return (fmt, codec) if codec is None or r.compressible else (None, None)
        return None, None

    def sniff_format(self, head: bytes) -> str | None:
        """The format of a file from its first bytes (already decompressed), or None."""
        for r in sorted(self._readers, key=lambda r: r.sniff_rank):
            fmt = r.sniff(head)
            if fmt is not None:
                return fmt
        return None

    def sniff_file(self, raw: BinaryIO) -> tuple[str | None, str | None]:
        """(format, compression) of an open file without a usable extension."""
        head = raw.read(SNIFF_BYTES)
        codec = sniff_compression(head)
        if codec is None:
            return self.sniff_format(head), None
        raw.seek(0)
        try:
            inner = open_decompressed(raw, codec).read(SNIFF_BYTES)
        except (OSError, EOFError, zlib.error):  # a broken stream is simply not a known format
            return None, None
        fmt = self.sniff_format(inner)
        return (fmt, codec) if fmt is not None and self.reader(fmt).compressible else (None, None)
