"""CSV and TSV (plain, gzip or bzip2): the dialect and header from each file's first bytes, exact
record counts streamed in the run's pool (csv_scan), types from the first records (ported Spark
rules, else Spark itself), samples and profiles from the same read."""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from executor.errors import TableExtractionError
from executor.metadata import csv_scan
from executor.metadata.compression import open_data
from executor.metadata.fanout import fan_out
from executor.metadata.grouping import PlannedFile, TablePlan
from executor.metadata.model import ColumnFacts, TableFacts
from executor.metadata.profile import PROFILE_EXACT, PROFILE_SAMPLED, ColumnProfile, profile_column
from executor.metadata.readers import base
from executor.metadata.readers.base import (
    SNIFF_BYTES,
    FileContext,
    FileFacts,
    FormatReader,
    TableContext,
    text_head,
)
from executor.metadata.types.csv_inference import infer_csv_schema, make_safe_header
from executor.metadata.types.fallback import SparkFallback
from executor.metadata.window import Window
from executor.settings import Settings, cores
from executor.sources.base import FileStore, cached_bytes, forget_cached, read_range
from executor.spark_connect import csv_from_lines

if TYPE_CHECKING:
    from pyspark.sql import DataFrameReader

logger = logging.getLogger(__name__)


@dataclass
class CsvFacts(FileFacts):
    dialect: csv_scan.CsvDialect | None = None
    header: list[str] | None = None  # the file's header record, None when it has none
    # the exact count: running in the pool (a big file), done, or a DeferredCount (a small cached one)
    count: Future[csv_scan.CsvCount] | None = None
    # a big file's first range, read once for its count and its sample (whichever asks first)
    first_range: csv_scan.SharedRead | None = None


@dataclass
class _WindowRead:
    """What a CSV table's window gave (CsvReader._read_window): its types, the records profiled,
    whether they filled the budget, the files they came from, and each column's profile (scope
    unset) and samples."""

    inferred: list[tuple[str, str]]
    seen: int
    filled: bool
    used: int
    columns: list[tuple[ColumnProfile, list[str]]]


def column_names(header: list[str] | None, spark_names: list[str], where: str = "the file") -> list[str]:
    """The table's column names: the header's cells as written, except a blank cell, which Spark
    names `_c<index>` (CSVUtils.makeSafeHeader); Spark's own names where there is no header cell.
    Duplicates keep the header's spelling (Spark appends their index: a0, a1). TableExtractionError
    when Spark's names collide (a blank cell named `_c1` next to a header cell `_c1`): Spark refuses
    such a file (COLUMN_ALREADY_EXISTS)."""
    if header is None:
        return list(spark_names)
    names = [(f"_c{i}" if not header[i] else header[i]) if i < len(header) else n for i, n in enumerate(spark_names)]
    try:
        safe = make_safe_header(header, len(header))
    except SparkFallback:
        return names
    seen: dict[str, int] = {}
    for i, n in enumerate(safe):
        key = n.lower()
        if key in seen:
            raise TableExtractionError(
                f"{where}: header columns {seen[key] + 1} and {i + 1} are both named `{n}` as Spark names them "
                f"(a blank header cell is named `_c<index>`); Spark refuses the file (COLUMN_ALREADY_EXISTS): "
                "rename the header cells")
        seen[key] = i
    return names


COUNT_WITH_FACTS_BYTES = 4 * 1024 * 1024
"""A file up to this size is counted from the facts step's read (one request on a remote store: the
first read of a file this small fetches all of it; see DeferredCount); larger files are counted by
`prefetch` (see _count)."""


class DeferredCount(Future[csv_scan.CsvCount]):
    """The exact count of a small file whose bytes the facts step left in the store's cache, taken
    from the read that needs them anyway: the table's window parses the file whole (offer: the
    records of that parse, csv_scan.CsvSample.whole_count), so such a file is not also scanned to be
    counted (on the bench's CSV folders, 12 of each table's 20 files). A file the window will not read
    (read_file_facts tells, see CsvReader.collected) is counted from the cached bytes in the facts
    step's pool, which then drops them; any other is counted when its count is first asked for
    (settle, from the cache, else from storage)."""

    def __init__(self, store: FileStore, uri: str, dialect: csv_scan.CsvDialect) -> None:
        super().__init__()
        self.store, self.uri, self.dialect = store, uri, dialect
        self._settling = threading.Lock()
        self._bound: int | None = None

    def bound(self) -> int | None:
        """At least the file's data records (its line ends, plus one), from its cached bytes (None
        once they are gone): the rows the window's extent is judged by before the count is known
        (CsvReader.known_rows; where it overstates, a file the window reads is counted apart and read
        again from storage). Computed when first asked: only for the files up to the window's end."""
        if self._bound is None:
            data = cached_bytes(self.store, self.uri)
            if data is None:
                return None
            self._bound = max(csv_scan.records_bound(data) - (1 if self.dialect.header else 0), 0)
        return self._bound

    def offer(self, count: csv_scan.CsvCount | None) -> None:
        """The count from a read of the whole file (None: that read did not give it: counted now)."""
        if count is None:
            self.settle()
            return
        with self._settling:
            if not self.done():
                self.set_result(count)

    def settle(self, forget: bool = False) -> None:
        """Count the file now unless its count is known; `forget`: then drop its cached bytes."""
        with self._settling:
            if not self.done():
                try:
                    data = cached_bytes(self.store, self.uri)
                    if data is None:
                        with self.store.open(self.uri) as fh:
                            data = fh.read()
                    with base.CPU_SLOTS:
                        self.set_result(csv_scan.count_records(io.BytesIO(data), self.dialect))
                except Exception as exc:  # noqa: BLE001 - raised where the count is used, failing the table
                    self.set_exception(exc)
        if forget:
            forget_cached(self.store, [self.uri])

    def result(self, timeout: float | None = None) -> csv_scan.CsvCount:
        self.settle()
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self.settle()
        return super().exception(timeout)


def ranges_at_once() -> int:
    """The ranges of one big file read at once: enough connections to fill the link, few enough
    that they arrive one after another and each is scanned while the next ones download (all at
    once, they share the link and arrive together at the end, the scans after them). The remote
    bench's 200 MB CSV on 2 cores (fresh workers, interleaved): every range at once 1.21-1.24 s;
    4 at once 0.94-1.16 s (mean 1.08, 328 MB peak RSS); 8 at once 0.85-1.08 s (mean 0.99, 370-398 MB);
    12 at once 1.07-1.08 s."""
    return max(8, 2 * cores())


def _ranged(pf: PlannedFile) -> bool:
    """Every uncompressed file that prefetch counts is counted from parallel ranges, its first one
    shared with the sample (a file read whole by the facts step, or a compressed one, is not)."""
    return pf.compression is None and pf.info.size > COUNT_WITH_FACTS_BYTES


def _count(store: FileStore, pf: PlannedFile, dialect: csv_scan.CsvDialect, pool: Executor,
           first_range: csv_scan.SharedRead | None = None) -> csv_scan.CsvCount:
    """The exact count of one file: an uncompressed one from parallel ranges (each one ranged read,
    fanned out over the run's pool; the first one through `first_range`, which the sample shares),
    a compressed one in one sequential pass."""
    info = pf.info
    if _ranged(pf):
        def run(fn: Callable[[csv_scan.Range], csv_scan.ChunkScan],
                ranges: Sequence[csv_scan.Range]) -> list[csv_scan.ChunkScan]:
            return fan_out(pool, fn, ranges, width=ranges_at_once())

        return csv_scan.count_records_ranges(lambda: store.open(info.uri), info.size, dialect, run,
                                             first=first_range, read_range=_range_of(store, info.uri))
    with open_data(store, info.uri, pf.compression, sequential=True) as fh:  # remote: ranges fetched ahead
        return csv_scan.count_records(fh, dialect)


def _range_of(store: FileStore, uri: str) -> Callable[[int, int], bytes]:
    """(lo, hi) -> the file's bytes in [lo, hi), read by the store's ranged read."""
    return lambda lo, hi: read_range(store, uri, lo, hi - lo)


def _drop_first_ranges(facts: Sequence[FileFacts]) -> None:
    """Once the sample is read (or not needed), the shared first ranges are not kept (8 MiB each)."""
    for fact in facts:
        if isinstance(fact, CsvFacts):
            fact.first_range = None


def _waits(fact: FileFacts | None) -> bool:
    """Whether a file's count still waits for its cached bytes (DeferredCount)."""
    count = fact.count if isinstance(fact, CsvFacts) else None
    return isinstance(count, DeferredCount) and not count.done()


def _done(fn: Callable[[], csv_scan.CsvCount]) -> Future[csv_scan.CsvCount]:
    """fn() as a finished future (its error kept for the table step, as a pool's future would)."""
    fut: Future[csv_scan.CsvCount] = Future()
    try:
        fut.set_result(fn())
    except Exception as exc:  # noqa: BLE001 - raised where the count is used, failing the table
        fut.set_exception(exc)
    return fut


def _spark_csv_options(dialect: csv_scan.CsvDialect) -> dict[str, str]:
    """The options Spark's CSV reader gets for a file of this dialect (inference on)."""
    return {"header": str(dialect.header).lower(), "sep": dialect.delimiter, "quote": '"', "escape": '"',
            "inferSchema": "true", "mode": "PERMISSIVE"}


def _spark_csv(ctx: TableContext, dialect: csv_scan.CsvDialect) -> DataFrameReader:
    return ctx.reader().options(**_spark_csv_options(dialect))


class CsvReader(FormatReader):
    formats = ("csv", "tsv")
    extensions = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}
    compressible = True
    sniff_rank = 20  # after JSON: a JSON line holds commas
    early_facts = True

    def sniff(self, head: bytes) -> str | None:
        """Text whose first line splits on a tab (tsv) or on `,` `;` `|` (csv)."""
        text = text_head(head)
        if text is None:
            return None
        try:
            decoded = text[:SNIFF_BYTES].decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            decoded = text[:SNIFF_BYTES].decode("iso-8859-1")
        if any(ord(c) < 32 and c not in "\r\n\t" for c in decoded):
            return None
        first = decoded.splitlines()[0] if decoded else ""
        if "\t" in first:
            return "tsv"
        if any(d in first for d in (",", ";", "|")):
            return "csv"
        return None

    def file_facts(self, ctx: FileContext, pf: PlannedFile, file_format: str, sample_rows: int) -> FileFacts:
        info = pf.info
        # a file the facts step also counts is read from storage once (sniff, head and count reread it)
        whole = info.size <= COUNT_WITH_FACTS_BYTES
        # read whole, the file is then parsed from memory in a CPU slot (readers.base.CPU_SLOTS)
        with open_data(ctx.store, info.uri, pf.compression, whole=whole) as fh, \
                (base.CPU_SLOTS if whole else contextlib.nullcontext()):
            head = fh.read(csv_scan.SNIFF_BYTES)
            if b"\x00" in head[:4096]:
                return FileFacts(error=f"{info.relative or info.name} is not a text file (binary content)")
            dialect = csv_scan.sniff_dialect(head, delimiter="\t" if file_format == "tsv" else None,
                                             csv_header=str(ctx.options(file_format).get("header", ctx.csv_header)),
                                             spark_version=ctx.spark_version)
            fh.seek(0)
            first = csv_scan.read_head(fh, dialect, max_records=0 if dialect.header else 1,
                                       chunk_bytes=csv_scan.HEAD_MEMORY_BYTES if whole else csv_scan.HEAD_READ_BYTES)
            count: Future[csv_scan.CsvCount] | None = None
            if whole:  # counted from the bytes already read: later where they wait in the store's cache
                if pf.compression is None and cached_bytes(ctx.store, info.uri) is not None:
                    count = DeferredCount(ctx.store, info.uri, dialect)
                else:
                    fh.seek(0)
                    count = _done(lambda: csv_scan.count_records(fh, dialect))
        header = first.header
        # headerless files are told apart by their width (Spark takes it from the first record):
        # files of different widths never merge into one table
        shape = tuple(header) if header is not None else ("<no header>", len(first.rows[0]) if first.rows else 0)
        return CsvFacts(signature=(file_format, dialect.signature(), shape), dialect=dialect, header=header,
                        count=count)

    def rereads(self, settings: Settings, index: int, rows_before: int | None) -> bool:
        """The sample reads the heads of the first NUVYN_INFER_SAMPLE_FILES files until it has its
        records (the window: max(NUVYN_INFER_SAMPLE_RECORDS, NUVYN_PROFILE_MAX_ROWS)); the files after
        those leave the store's cache as soon as the facts step has them (the bench's CSV folders: 8 of
        each table's 20 files, 720 KB each)."""
        budget = max(settings.infer_sample_records, settings.profile_max_rows)
        return index < settings.infer_sample_files and (rows_before is None or rows_before < budget)

    def known_rows(self, fact: FileFacts) -> int | None:
        """The data records of a file the facts step counted (a small one, from its bytes in memory);
        at least them while its count waits for the window (DeferredCount.bound); None while its count
        runs (a big file's, in the table step)."""
        count = fact.count if isinstance(fact, CsvFacts) else None
        if _waits(fact):
            return cast(DeferredCount, count).bound()
        if count is None or not count.done() or count.exception() is not None:
            return None
        return count.result().data_rows

    def collected(self, ctx: FileContext, uri: str, fact: FileFacts, read_again: bool, pool: Executor) -> None:
        """A small file the window will not read is counted now, in the pool, from its cached bytes,
        which the count then drops (DeferredCount); one it reads keeps them for the window."""
        if read_again:
            return
        if _waits(fact):
            pool.submit(cast(DeferredCount, cast(CsvFacts, fact).count).settle, True)
        else:
            forget_cached(ctx.store, [uri])

    def prefetch(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts]) -> None:
        """Every file's exact count starts in the pool: counting is most of a CSV table's time (a big
        file's count fans out into parallel ranges from there, see _count)."""
        for i, f in enumerate(plan.files):
            fact = facts[f.info.uri]
            assert isinstance(fact, CsvFacts) and fact.dialect is not None
            if fact.count is None:  # an incremental run's unchanged file has its count from the record
                # shared only where the sample may read it (a count's first range is kept until the
                # sample is read: other files' would be 8 MiB each held for nobody)
                shared = _ranged(f) and self.rereads(ctx.settings, i, None)
                first_range = csv_scan.SharedRead() if shared else None
                fact.first_range = first_range
                fact.count = ctx.pool.submit(_count, ctx.store, f, fact.dialect, ctx.pool, first_range)

    def prepare(self, ctx: TableContext, plan: TablePlan,
                facts: Mapping[str, FileFacts]) -> Callable[[], _WindowRead] | None:
        """The table's window (sample, types, profiles) read while other tables' files are still
        read (base.EarlyTables), when the ported rules infer the types and the sample's files are
        small ones the facts step read whole (a big file's first range is shared with its count,
        which starts in the table step). Never Spark: a sample the rules leave to Spark fails here
        and is read again by the table step."""
        s = ctx.settings
        files = [facts.get(f.info.uri) for f in plan.files]
        if not (files and s.infer_sample_records and ctx.fast) \
                or any(not isinstance(f, CsvFacts) or f.dialect is None for f in files) \
                or any(f.info.size > COUNT_WITH_FACTS_BYTES for f in plan.files[: s.infer_sample_files]):
            return None
        dialect = cast(CsvFacts, files[0]).dialect
        assert dialect is not None

        def work() -> _WindowRead:
            # the window's files give their counts (DeferredCount); none is big: no shared first range
            read = self._read_window(ctx, plan, dialect, cast(list[FileFacts], files))
            # the table step reads none of its files again: their cached bytes make room for the files
            # still downloading (a table whose files the plan changed afterwards would read its window
            # again, from storage), except a file whose count still waits for them
            forget_cached(ctx.store, [f.info.uri for f, fact in zip(plan.files, files)
                                      if not _waits(fact)])
            return read

        return work

    def extract_table(self, ctx: TableContext, plan: TablePlan, facts: Mapping[str, FileFacts],
                      table: TableFacts) -> None:
        s = ctx.settings
        files = [facts[f.info.uri] for f in plan.files]
        first = files[0]
        assert isinstance(first, CsvFacts) and first.dialect is not None
        dialect = first.dialect
        table.format_details = csv_details(dialect)
        # an incremental run: the earlier run's sample when it is provably this one (executor.metadata.window)
        slot = ctx.window(plan.name) if s.infer_sample_records else None
        earlier = slot.usable([f.info.uri for f in plan.files[: s.infer_sample_files]]) if slot is not None else None
        read: _WindowRead | None = None
        if earlier is not None:
            inferred = list(earlier.names_types)
            _drop_first_ranges(files)  # no sample read: the shared first ranges are not kept
        else:  # read during the facts step (prepare), else now
            read = ctx.prepared(plan) or self._read_window(ctx, plan, dialect, files)
            inferred = read.inferred
        # the counts (started in prefetch) ran while the sample was read and typed
        total = 0
        for f, fact in zip(plan.files, files):
            assert isinstance(fact, CsvFacts)
            total += (fact.count.result() if fact.count is not None else _count(ctx.store, f, dialect, ctx.pool)).data_rows
        table.row_count = total
        names = column_names(first.header, [n for n, _t in inferred], plan.files[0].info.relative or plan.files[0].info.name)
        cols: list[ColumnFacts] = []
        if read is None:
            assert slot is not None and earlier is not None
            slot.use(earlier)
            for i, (name, (_spark_name, type_string)) in enumerate(zip(names, inferred)):
                profile, samples = earlier.profile(str(i), total)
                cols.append(ColumnFacts(name, type_string, i + 1, True, samples).set_profile(profile))
            ctx.finish(plan, table, cols)
            return
        scope = PROFILE_EXACT if read.seen >= total else PROFILE_SAMPLED
        window = Window(files=[slot.relative.get(f.info.uri, f.info.uri) for f in plan.files[: read.used]]
                        if slot is not None and read.used else [], filled=read.filled, seen=read.seen,
                        names_types=list(inferred))
        for i, (name, (_spark_name, type_string)) in enumerate(zip(names, inferred)):
            profile, samples = read.columns[i]
            profile.profile_scope = scope
            window.put(str(i), profile, samples)
            cols.append(ColumnFacts(name, type_string, i + 1, True, samples).set_profile(profile))
        if slot is not None and read.used:
            slot.record(window)
        ctx.finish(plan, table, cols)

    def _read_window(self, ctx: TableContext, plan: TablePlan, dialect: csv_scan.CsvDialect,
                     files: Sequence[FileFacts]) -> _WindowRead:
        """The table's types and its columns' profiles and samples from its window: one read of the
        first records of its first files serves inference (the first NUVYN_INFER_SAMPLE_RECORDS) and
        profiles (NUVYN_PROFILE_MAX_ROWS). Profiles come without their scope (it needs the count)."""
        s = ctx.settings
        budget = s.infer_sample_records
        used: list[int] = []
        if budget:
            header, records = self._sample(ctx, plan, dialect, max(budget, s.profile_max_rows), files, used)
            inferred = self._infer_sample(ctx, plan, dialect, header, records.head(budget))
        else:  # the full-scan path: Spark infers from every record of every file
            schema = (_spark_csv(ctx, dialect).option("multiLine", "true").option("encoding", dialect.spark_encoding)
                      .csv(ctx.spark_uris(plan)).schema)
            inferred = ctx.spark_schema(schema)
            records = self._sample(ctx, plan, dialect, s.profile_max_rows, files)[1]
        filled = records.n >= max(budget, s.profile_max_rows)
        records = records.head(s.profile_max_rows)
        by_column = records.by_column()  # Arrow string arrays, or tuples where short records give None
        columns: list[tuple[ColumnProfile, list[str]]] = []
        for i, (_spark_name, type_string) in enumerate(inferred):
            values = by_column[i] if i < len(by_column) else [None] * records.n
            if isinstance(values, tuple):
                values = list(values)
            profile = profile_column(values, type_string, PROFILE_SAMPLED, text=True, max_chars=s.sample_value_max_chars)
            columns.append((profile, ctx.samples(csv_scan.iter_values(values))))
        return _WindowRead(inferred, records.n, filled, used[0] if used else 0, columns)

    def plan_details(self, plan: TablePlan, facts: Mapping[str, FileFacts]) -> dict[str, Any]:
        dialect = next((f.dialect for f in (facts.get(p.info.uri) for p in plan.files)
                        if isinstance(f, CsvFacts) and f.dialect is not None), None)
        return csv_details(dialect) if dialect is not None else {}

    def describe(self, details: Mapping[str, Any]) -> str | None:
        if details.get("header") is None:
            return None
        return f"{'header' if details['header'] else 'no header'} - {details.get('header_reason')}"

    @staticmethod
    def _sample(ctx: TableContext, plan: TablePlan, dialect: csv_scan.CsvDialect,
                budget: int, facts: Sequence[FileFacts] = (),
                used: list[int] | None = None) -> tuple[list[str] | None, csv_scan.CsvRecords]:
        """The header and up to `budget` records from the table's first files (read in parallel;
        as columns where the text is plain, see csv_scan.read_sample). A big file starts with the
        first range its count reads too (`facts[i].first_range`: read once, by whichever asks first);
        a small file whose count waits (DeferredCount) gets it from its sample, read in place from the
        store's cache. `used` gets the number of files the records came from (the table's window,
        executor.metadata.window)."""
        first_ranges = {f.info.uri: fact.first_range for f, fact in zip(plan.files, facts)
                        if isinstance(fact, CsvFacts) and fact.first_range is not None}
        deferred = {f.info.uri: fact.count for f, fact in zip(plan.files, facts)
                    if isinstance(fact, CsvFacts) and isinstance(fact.count, DeferredCount)}

        def head(f: PlannedFile, want: int) -> tuple[csv_scan.CsvSample, int]:
            shared = first_ranges.get(f.info.uri)
            data = b""
            if shared is not None:
                data = csv_scan.read_first_range(lambda: ctx.store.open(f.info.uri), f.info.size, shared,
                                                 _range_of(ctx.store, f.info.uri))
            if data:
                with ctx.store.open(f.info.uri) as rest:
                    rest.seek(len(data))
                    h = csv_scan.read_sample(csv_scan.prefixed(data, rest), dialect, max_records=want)
            else:
                cached = cached_bytes(ctx.store, f.info.uri) if f.compression is None else None
                if cached is not None:  # read in place
                    h = csv_scan.read_sample_of(cached, dialect, max_records=want)
                else:
                    with open_data(ctx.store, f.info.uri, f.compression) as fh:
                        h = csv_scan.read_sample(fh, dialect, max_records=want)
                waiting = deferred.get(f.info.uri)
                if waiting is not None:  # the whole file parsed gives its count, else it is counted now
                    waiting.offer(h.whole_count(dialect))
            return h, h.n

        try:
            samples = ctx.first_files(plan.files[: ctx.settings.infer_sample_files], None, budget, head)
        finally:
            _drop_first_ranges(facts)
        if used is not None:
            used.append(len(samples))
        header = next((h.header for h in samples if h.header is not None), None)
        return header, csv_scan.CsvRecords.of(samples, budget)

    @staticmethod
    def _infer_sample(ctx: TableContext, plan: TablePlan, dialect: csv_scan.CsvDialect, header: list[str] | None,
                      records: csv_scan.CsvRecords) -> list[tuple[str, str]]:
        """[(Spark's column name, type)] for the sample: the ported rules (over the columns when
        the sample came as columns), else Spark itself."""
        if ctx.fast:
            try:
                return [(n, t.simple_string()) for n, t in infer_csv_schema(
                    header if dialect.header else None, records.rows or (), spark_version=ctx.spark_version,
                    columns=records.columns)]
            except SparkFallback as exc:
                logger.debug("table %s: asking Spark for the CSV schema (%s)", plan.name, exc)
        spark = ctx.session()  # first: a context without Spark (an early table) gives up before the lines
        lines = csv_scan.to_csv_lines(header, records.to_rows(), dialect.delimiter)
        # Spark's reader over the lines themselves (classic: an RDD; Spark Connect: a Parse relation)
        return ctx.spark_schema(csv_from_lines(spark, lines, _spark_csv_options(dialect)).schema)


def csv_details(dialect: csv_scan.CsvDialect) -> dict[str, Any]:
    """A CSV/TSV table's reader-owned results (tables.format_details; csv_header and
    csv_header_reason are derived from header and header_reason)."""
    return {"header": dialect.header, "header_reason": dialect.header_reason, "delimiter": dialect.delimiter,
            "encoding": dialect.encoding}
