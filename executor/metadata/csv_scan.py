"""CSV facts without Spark: dialect sniffing, exact RFC 4180 record counts, head samples.

Pure Python + numpy over a binary stream (local file, DBFS FUSE or an Azure range reader).

Exact counts: a record ends at a newline that is outside quotes, so a quoted field holding a
newline is one record (Spark's default line-based CSV reader counts it as two). The fast counter
finds newlines and quotes with numpy and keeps the ones with an even number of quotes before them;
it also checks that every quote stands where RFC 4180 allows (opening at a field start, closing
before a delimiter, a line end or a doubled quote). Chunks are scanned for both quote states at
their start and stitched in order, so a big file is counted from parallel ranges just as exactly
(count_records_ranges). A file with a stray quote (`5" screen`) is recounted with Python's csv
module, which reads stray quotes literally, as Spark does. Empty records (blank lines) are not
rows, for Spark and for Python's csv module alike.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, BinaryIO, cast

import numpy as np

from executor.metadata.types.algebra import NUMERIC_PRECEDENCE, STRING, DecimalType
from executor.metadata.types.csv_inference import CsvSchemaInferrer
from executor.metadata.types.fallback import SparkFallback

CHUNK_BYTES = 8 * 1024 * 1024
SNIFF_BYTES = 64 * 1024
HEAD_READ_BYTES = 256 * 1024  # the text reads of read_head (TextIOWrapper reads 8 KiB at a time by default)
HEAD_MEMORY_BYTES = 16 * 1024  # read_head's reads of a file in memory (its first record, decoded)
DELIMITERS = (",", ";", "\t", "|")
QUOTE = '"'

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

_NL = 10
_CR = 13


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written. `encoding` is a Python codec name Spark also knows."""

    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True
    quotechar: str = QUOTE
    bom: bool = False
    header_reason: str = field(default="", compare=False)  # why `header` (decide_header or csv_header)

    @property
    def spark_encoding(self) -> str:
        return {"utf-8": "UTF-8", "iso-8859-1": "ISO-8859-1"}.get(self.encoding, self.encoding)

    @property
    def python_encoding(self) -> str:
        return "utf-8-sig" if self.bom else self.encoding

    def signature(self) -> tuple[str, str, bool]:
        return (self.delimiter, self.encoding, self.header)


# --------------------------------------------------------------------------- sniffing


def detect_encoding(head: bytes) -> tuple[str, bool]:
    """(encoding, has_utf8_bom). UTF-8 when the head decodes as UTF-8, else ISO-8859-1."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8", False
    except UnicodeDecodeError:
        return "iso-8859-1", False


def _head_rows(text: str, delimiter: str, limit: int = 50) -> list[list[str]]:
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=QUOTE)
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows


HEAD_ROWS = 200  # the records of a file's head that the header rule judges


def detect_delimiter(text: str, truncated: bool, parsed: dict[str, list[list[str]]] | None = None) -> str:
    """The candidate delimiter that splits the head's records into the most consistent columns
    (judged on the first 50 records). A candidate absent from the text splits nothing (one field
    per record) and is not parsed. `parsed` gets each parsed candidate's first HEAD_ROWS records."""
    best, best_score = ",", (0.0, 0)
    for cand in DELIMITERS:
        if cand not in text:
            continue
        head = _head_rows(text, cand, limit=HEAD_ROWS)
        if parsed is not None:
            parsed[cand] = head
        rows = head[:50]  # what a parse stopped at 50 records gives
        if truncated and len(rows) > 1:
            rows = rows[:-1]  # the last record of a cut head may be incomplete
        if not rows:
            continue
        counts = [len(r) for r in rows]
        modal = max(set(counts), key=counts.count)
        if modal < 2:
            continue
        score = (counts.count(modal) / len(counts), modal)
        if score > best_score:
            best, best_score = cand, score
    return best


HEADER_AUTO, HEADER_TRUE, HEADER_FALSE = "auto", "true", "false"


@dataclass(frozen=True)
class HeaderDecision:
    """Whether a file's first record is its header, and why (recorded per table)."""

    header: bool
    reason: str


def _is_year(value: str) -> bool:
    v = value.strip()
    return len(v) == 4 and v.isdigit() and 1800 <= int(v) <= 2100


def decide_header(rows: list[list[str]], spark_version: str = "3.5") -> HeaderDecision:
    """The header rule (README "CSV"): the first record is the header, as Spark reads with
    header=true, unless strong evidence says it is data:

    1. every field of the first record parses as the type the following records give its column
       (Spark's CSV inference over the head: adding the field leaves the column's type unchanged);
    2. at least one column is not `string`, and at least one such column has a non-blank first
       field (a blank cell is never evidence: pandas' unnamed index column, blank survey cells);
    3. a year (an integer 1800-2100) in the first record counts as a value only over a column of
       years: `district,2022` over counts or amounts is a header.
    A header cell that is text in a typed column (`id`, `2017-2018 season` over numbers) fails 1.
    Columns are judged in order, each typed only when it is reached: the first column that shows a
    header decides (the reason names it), so a header file is seldom typed past its first columns.
    """
    if len(rows) < 2:
        return HeaderDecision(True, "fewer than two records: the first record is the header (Spark header=true)")
    first, rest = rows[0], rows[1:]
    n = len(first)
    try:
        inf = CsvSchemaInferrer(n, spark_version=spark_version)
        probe = CsvSchemaInferrer(1, spark_version=spark_version)
        evidence: list[str] = []
        for i in range(n):
            cell = first[i]
            t = inf.add_column(i, rest)  # typed even under a blank cell: a value left to Spark decides
            if t is STRING or cell == "":
                continue
            if probe.widen(inf.types[i], cell) != inf.types[i]:
                return HeaderDecision(True, f"first-record field {i + 1} ({cell[:40]!r}) does not parse as {t}, "
                                            "the type of the values below it: the first record is the header")
            if t in NUMERIC_PRECEDENCE or isinstance(t, DecimalType):
                values = [r[i] for r in rest if i < len(r) and r[i] != ""]
                if _is_year(cell) and not all(_is_year(v) for v in values):
                    return HeaderDecision(True, f"first-record field {i + 1} ({cell!r}) is a year over a column "
                                                "that is not one of years: the first record is the header")
            evidence.append(f"{i + 1}:{t}")
    except SparkFallback as exc:
        return HeaderDecision(True, f"types not judged ({exc}): the first record is the header (Spark header=true)")
    if not evidence:
        return HeaderDecision(True, "no typed column gives evidence (all string or blank first fields): the first "
                                    "record is the header (Spark header=true)")
    return HeaderDecision(False, "every first-record field parses as its column's type, and typed columns agree "
                                 f"({', '.join(evidence[:5])}{'...' if len(evidence) > 5 else ''}): the first "
                                 "record is data")


def sniff_dialect(head: bytes, *, delimiter: str | None = None, header: bool | None = None,
                  csv_header: str = HEADER_AUTO, spark_version: str = "3.5") -> CsvDialect:
    """Sniff encoding, delimiter and header from the first bytes of a file.

    `header` (True/False) or `csv_header` ('true'/'false', the payload field) force the header
    decision; with neither, decide_header applies to the head's records."""
    encoding, bom = detect_encoding(head)
    body = head[len(codecs.BOM_UTF8):] if bom else head
    text = body.decode(encoding, errors="replace")
    truncated = len(head) >= SNIFF_BYTES
    parsed: dict[str, list[list[str]]] = {}
    delim = delimiter or detect_delimiter(text, truncated, parsed)
    if header is None and csv_header in (HEADER_TRUE, HEADER_FALSE):
        header, reason = csv_header == HEADER_TRUE, f"csv_header={csv_header} (payload)"
    elif header is not None:
        reason = f"header={str(header).lower()} (given)"
    else:
        rows = parsed[delim] if delim in parsed else _head_rows(text, delim, limit=HEAD_ROWS)
        if truncated and len(rows) > 2:
            rows = rows[:-1]
        decision = decide_header(rows, spark_version)
        header, reason = decision.header, decision.reason
    return CsvDialect(delimiter=delim, encoding=encoding, header=header, bom=bom, header_reason=reason)


# --------------------------------------------------------------------------- exact counting
#
# A record ends at a CR or LF outside quotes (LF, CR LF and a lone CR alike), and blank lines are
# not records. So every CR and LF outside quotes is a terminator byte and the records are the
# maximal runs of other bytes: count the run starts (a non-terminator byte at the file start or
# after a terminator byte). Whether a newline is outside quotes depends only on the parity of the
# quotes before it, so a chunk read on its own is scanned for both states at its start (outside,
# inside a quoted field): its run starts, the parity of its quotes, and whether its quotes are all
# RFC 4180 quoting, each under both states. Chunks are then stitched in file order, each taking
# the state the ones before it leave (the first chunk starts outside quotes); the bytes at chunk
# edges (a run starting at a chunk's first byte, a quote at either edge) are judged with the
# neighbour's edge byte while stitching. That is exact, whatever the chunk sizes and whether the
# chunks are read one after another (count_records) or as parallel ranges (count_records_ranges).


class _StrayQuote(Exception):
    pass


_EMPTY = np.zeros(0, dtype=np.intp)
_NEWLINES = (_NL, _CR)


@dataclass(frozen=True)
class ChunkScan:
    """One chunk's counting facts under both quote states at its start (index 0: outside quotes,
    1: inside a quoted field). `records`: run starts at positions after the chunk's first byte.
    `stray`: a quote inside the chunk is not RFC 4180 quoting. `open_at_start` / `close_at_end`:
    the first byte is an opening quote (its previous byte must be a delimiter, a newline or a
    quote) / the last byte a closing quote (its next byte must be one), checked while stitching."""

    size: int
    first: int
    last: int
    odd_quotes: bool
    records: tuple[int, int]
    stray: tuple[bool, bool]
    open_at_start: tuple[bool, bool]
    close_at_end: tuple[bool, bool]


def _allowed(delim: int) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[[delim, _NL, _CR, ord(QUOTE)]] = True
    return table


def _runs(ends: np.ndarray, n: int) -> int:
    """Run starts after position 0 in a chunk of n bytes whose terminator bytes are at `ends`."""
    if not ends.size:
        return 0
    adjacent = int(np.count_nonzero(np.diff(ends) == 1))
    return int(ends.size) - adjacent - (1 if int(ends[-1]) == n - 1 else 0)


def _runs_unquoted(data: bytes, lo: int, hi: int) -> int:
    """_runs for data[lo:hi], without quotes and starting outside quotes: every CR and LF terminates.
    Counted over a mask rather than from positions: the run starts are the terminators less those
    right after another and less a terminator at the end (bytes.count runs at ~2.3 GB/s and a search
    for b"\n\n" at ~1 GB/s in text where LF is frequent; the mask at ~5 GB/s)."""
    ends = _terminator_mask(data, lo, hi)
    return int(np.count_nonzero(ends)) - int(np.count_nonzero(ends[1:] & ends[:-1])) - int(ends[-1])


def _terminator_mask(data: bytes, lo: int, hi: int) -> np.ndarray:
    """Which bytes of data[lo:hi] are LF or CR (a CR is looked for before it is compared: seldom there)."""
    a = np.frombuffer(data, dtype=np.uint8, count=hi - lo, offset=lo)
    ends: np.ndarray = a == _NL
    if data.find(b"\r", lo, hi) >= 0:
        ends |= a == _CR
    return ends


BOUND_PIECE_BYTES = 64 * 1024


def records_bound(data: bytes) -> int:
    """At least the records of a file of these bytes (count_records' records): its line ends (LF,
    CR LF and a lone CR alike, quoted ones too) plus one; a few numpy passes, no quote parity."""
    if not data:
        return 0
    a = np.frombuffer(data, dtype=np.uint8)
    # compared in pieces into one small mask: a mask of the whole file is a fresh mapping to fault in
    mask = np.empty(min(a.size, BOUND_PIECE_BYTES), dtype=bool)
    ends = 1
    for lo in range(0, a.size, BOUND_PIECE_BYTES):
        piece = a[lo:lo + BOUND_PIECE_BYTES]
        m = mask[: piece.size]
        np.equal(piece, _NL, out=m)
        ends += int(np.count_nonzero(m))
    if data.find(b"\r") >= 0:  # a CR not followed by an LF ends a record too (seldom there)
        ends += int(np.count_nonzero((a[:-1] == _CR) & (a[1:] != _NL))) + int(a[-1] == _CR)
    return ends


def scan_chunk(chunk: bytes, delimiter: str, parity: int | None = None, lo: int = 0, hi: int | None = None) -> ChunkScan:
    """The facts of chunk[lo:hi] (the whole chunk by default; the span is read in place, not
    copied) under both quote states at its start, or only under `parity` when it is known (the
    other state's facts are then zeros, never read)."""
    hi = len(chunk) if hi is None else hi
    n = hi - lo
    if n <= 0:
        return ChunkScan(0, 0, 0, False, (0, 0), (False, False), (False, False), (False, False))
    states = (0, 1) if parity is None else (parity,)
    records = [0, 0]
    stray = [False, False]
    open_at_start = [False, False]
    close_at_end = [False, False]
    odd = False
    if chunk.find(b'"', lo, hi) < 0:
        if 0 in states:  # inside quotes (state 1) the whole chunk is one field's text: no run starts
            records[0] = _runs_unquoted(chunk, lo, hi)
    else:
        a = np.frombuffer(chunk, dtype=np.uint8, count=n, offset=lo)
        q = np.flatnonzero(a == ord(QUOTE))
        m = int(q.size)
        odd = bool(m & 1)
        ends = np.flatnonzero((a == _NL) | (a == _CR)) if chunk.find(b"\r", lo, hi) >= 0 else np.flatnonzero(a == _NL)
        before = np.searchsorted(q, ends) if ends.size else _EMPTY  # quotes before each newline
        allowed = _allowed(ord(delimiter))
        for p in states:
            records[p] = _runs(ends[((before + p) & 1) == 0], n) if ends.size else 0
            # quote j is opening when the quotes before it (j in the chunk, plus the state) are
            # even; a quote at either edge of the chunk is judged while stitching
            opening, closing = q[p::2], q[1 - p::2]
            stray[p] = not (bool((allowed[a[np.maximum(opening - 1, 0)]] | (opening == 0)).all())
                            and bool((allowed[a[np.minimum(closing + 1, n - 1)]] | (closing == n - 1)).all()))
            open_at_start[p] = p == 0 and int(q[0]) == 0
            close_at_end[p] = int(q[-1]) == n - 1 and (m - 1) % 2 != p
    return ChunkScan(n, chunk[lo], chunk[hi - 1], odd, (records[0], records[1]), (stray[0], stray[1]),
                     (open_at_start[0], open_at_start[1]), (close_at_end[0], close_at_end[1]))


def combine(a: ChunkScan, b: ChunkScan, delimiter: str) -> ChunkScan:
    """The scan of chunk a followed by chunk b, from their two scans (exact: scans form a monoid,
    so a range can be scanned in small pieces and a file in any split)."""
    if not a.size:
        return b
    if not b.size:
        return a
    allowed = (ord(delimiter), _NL, _CR, ord(QUOTE))
    records, stray, close = [0, 0], [False, False], [False, False]
    for p in (0, 1):
        q = p ^ int(a.odd_quotes)  # the state at b's start
        run_at_b = a.last in _NEWLINES and q == 0 and b.first not in _NEWLINES
        records[p] = a.records[p] + b.records[q] + int(run_at_b)
        stray[p] = (a.stray[p] or b.stray[q] or (a.close_at_end[p] and b.first not in allowed)
                    or (b.open_at_start[q] and a.last not in allowed))
        close[p] = b.close_at_end[q]
    return ChunkScan(a.size + b.size, a.first, b.last, a.odd_quotes != b.odd_quotes, (records[0], records[1]),
                     (stray[0], stray[1]), a.open_at_start, (close[0], close[1]))


class _Stitch:
    """Chunk scans added in file order give the file's records (raises _StrayQuote)."""

    def __init__(self, delimiter: str) -> None:
        self.allowed = {ord(delimiter), _NL, _CR, ord(QUOTE)}
        self.parity = 0  # the quote state at the next chunk's start
        self.prev: int | None = None  # the last byte so far (None: the file start)
        self.pending_close = False  # the last byte so far is a closing quote
        self.records = 0

    def add(self, s: ChunkScan) -> None:
        if not s.size:
            return
        p = self.parity
        if s.stray[p] or (self.pending_close and s.first not in self.allowed) \
                or (s.open_at_start[p] and self.prev is not None and self.prev not in self.allowed):
            raise _StrayQuote
        prev_ends = self.prev is None or (self.prev in _NEWLINES and p == 0)  # a newline keeps the state
        first_ends = s.first in _NEWLINES and p == 0
        self.records += s.records[p] + (1 if prev_ends and not first_ends else 0)
        self.pending_close = s.close_at_end[p]
        self.parity = p ^ int(s.odd_quotes)
        self.prev = s.last


def _fast_count(stream: BinaryIO, delimiter: str, chunk_bytes: int) -> tuple[int, int]:
    """(non-empty records, bytes), reading the stream once in chunks. Raises _StrayQuote when a
    quote is not RFC 4180 quoting."""
    stitch = _Stitch(delimiter)
    nbytes = 0
    while True:
        chunk = stream.read(chunk_bytes)
        if not chunk:
            return stitch.records, nbytes
        nbytes += len(chunk)
        stitch.add(scan_chunk(chunk, delimiter, stitch.parity))


def _slow_count(stream: BinaryIO, dialect: CsvDialect) -> int:
    text = io.TextIOWrapper(stream, encoding=dialect.python_encoding, errors="replace", newline="")
    # read1() of a buffered reader with an empty buffer reads the raw stream directly, _CHUNK_SIZE
    # bytes (8 KiB by default: one request each on a remote reader); 1 MiB reads instead
    cast(Any, text)._CHUNK_SIZE = 1 << 20
    reader = csv.reader(text, delimiter=dialect.delimiter, quotechar=dialect.quotechar)
    try:
        return sum(1 for row in reader if row)
    finally:
        text.detach()


@dataclass(frozen=True)
class CsvCount:
    records: int  # non-empty records, the header included
    data_rows: int  # records minus the header
    bytes_read: int
    # 'vectorized', 'vectorized-ranges' (parallel ranges), 'csv-module' (stray quotes) or 'parsed'
    # (the records of the file's whole sample, CsvSample.whole_count)
    exact_path: str


def _result(records: int, nbytes: int, path: str, dialect: CsvDialect) -> CsvCount:
    data = max(records - 1, 0) if dialect.header else records
    return CsvCount(records=records, data_rows=data, bytes_read=nbytes, exact_path=path)


def count_records(stream: BinaryIO, dialect: CsvDialect, chunk_bytes: int = CHUNK_BYTES) -> CsvCount:
    """Exact count of a CSV file's records, reading it once in bounded chunks."""
    start = stream.tell() if stream.seekable() else 0
    try:
        records, nbytes = _fast_count(stream, dialect.delimiter, chunk_bytes)
        path = "vectorized"
    except _StrayQuote:
        if not stream.seekable():
            raise
        stream.seek(start)
        records = _slow_count(stream, dialect)
        nbytes = stream.tell() - start
        path = "csv-module"
    return _result(records, nbytes, path, dialect)


RANGE_BYTES = 8 * 1024 * 1024  # one ranged read (one request on a remote store) per range
SCAN_BYTES = 1024 * 1024  # a range is scanned in pieces of this size (combine)

Range = tuple[int, int]
RangeRunner = Callable[[Callable[[Range], ChunkScan], Sequence[Range]], list[ChunkScan]]


def byte_ranges(size: int, range_bytes: int | None = None) -> list[Range]:
    step = range_bytes or RANGE_BYTES
    return [(lo, min(lo + step, size)) for lo in range(0, size, step)]


class SharedRead:
    """Bytes read once, by whichever caller asks first (a big file's first range: its count and
    its sample both need it); a later caller waits for that read, which is running, never for a
    queue. When the first read failed, a later caller reads for itself."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed = False
        self._done = threading.Event()
        self._data: bytes | None = None

    def get(self, read: Callable[[], bytes]) -> bytes:
        with self._lock:
            mine, self._claimed = not self._claimed, True
        if not mine:
            self._done.wait()
            return self._data if self._data is not None else read()
        try:
            self._data = read()
            return self._data
        finally:
            self._done.set()


def _range_reader(open_stream: Callable[[], BinaryIO]) -> Callable[[int, int], bytes]:
    def read(lo: int, hi: int) -> bytes:
        with open_stream() as fh:
            fh.seek(lo)
            return fh.read(hi - lo)

    return read


def count_records_ranges(open_stream: Callable[[], BinaryIO], size: int, dialect: CsvDialect, run: RangeRunner,
                         range_bytes: int | None = None, first: SharedRead | None = None,
                         read_range: Callable[[int, int], bytes] | None = None) -> CsvCount:
    """Exact count of an uncompressed file of `size` bytes from ranges read and scanned
    concurrently: `run(fn, ranges)` is [fn(r) for r in ranges] (fanout.fan_out over the run's
    pool); each range is read once, by `read_range(lo, hi)` (sources.base.read_range: one ranged
    GET on Azure) or else by opening the file (`open_stream()`), seeking and reading. A file
    with a stray quote is recounted sequentially with Python's csv module, as count_records does.
    `first`: the first range is read through it (shared with the sample, see read_first_range).
    (Reading the first range alone before the others, for the sample to start sooner, was tried:
    no faster on the remote bench, and 270 MB more peak RSS on the 200 MB CSV.)"""
    delimiter = dialect.delimiter
    read = read_range or _range_reader(open_stream)

    def scan(r: Range) -> ChunkScan:
        lo, hi = r
        data = first.get(lambda: read(lo, hi)) if first is not None and lo == 0 else read(lo, hi)
        if len(data) != hi - lo:
            raise OSError(f"the file changed while it was counted: {len(data)} bytes at offset {lo}, "
                          f"{hi - lo} expected (size {size} when listed); rerun the job")
        # scanned in small pieces: numpy's temporaries stay a few MiB per range in flight
        pieces = [scan_chunk(data, delimiter, lo=i, hi=min(i + SCAN_BYTES, len(data)))
                  for i in range(0, len(data), SCAN_BYTES)]
        return functools.reduce(lambda x, y: combine(x, y, delimiter), pieces)

    stitch = _Stitch(delimiter)
    try:
        for s in run(scan, byte_ranges(size, range_bytes)):
            stitch.add(s)
        return _result(stitch.records, size, "vectorized-ranges", dialect)
    except _StrayQuote:
        with open_stream() as fh:
            records = _slow_count(fh, dialect)
            nbytes = fh.tell()
        return _result(records, nbytes, "csv-module", dialect)


# --------------------------------------------------------------------------- head samples


@dataclass(frozen=True)
class CsvHead:
    header: list[str] | None
    rows: list[list[str]]  # parsed data records (header excluded)


def read_head(stream: BinaryIO, dialect: CsvDialect, max_records: int, max_bytes: int | None = None,
              chunk_bytes: int = HEAD_READ_BYTES) -> CsvHead:
    """The header and up to `max_records` data records from the start of a file, decoded
    `chunk_bytes` at a time (a file in memory: a few KiB are enough for its first record)."""
    text = io.TextIOWrapper(stream, encoding=dialect.python_encoding, errors="replace", newline="")
    cast(Any, text)._CHUNK_SIZE = chunk_bytes  # not 8 KiB raw reads (one request each on a remote reader)
    reader = csv.reader(text, delimiter=dialect.delimiter, quotechar=dialect.quotechar)
    header: list[str] | None = None
    rows: list[list[str]] = []
    consumed = 0
    try:
        for row in reader:
            if not row:
                continue
            if dialect.header and header is None:
                header = row
                continue
            if len(rows) >= max_records:
                break
            rows.append(row)
            if max_bytes is not None:
                consumed += sum(len(v) for v in row) + len(row)
                if consumed >= max_bytes:
                    break
    finally:
        text.detach()
    return CsvHead(header=header, rows=rows)


def to_csv_lines(header: list[str] | None, rows: list[list[str]], delimiter: str) -> list[str]:
    """Records as CSV strings (one string per record, quoted where needed) for Spark's reader."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quotechar=QUOTE, lineterminator="\n")
    out = []
    for row in ([header] if header is not None else []) + rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        out.append(buf.getvalue()[:-1])
    return out


# --------------------------------------------------------------------------- columnar samples
#
# The sample a CSV table is typed and profiled from (up to NUVYN_PROFILE_MAX_ROWS records) parsed
# by Python's csv module costs a Python string per field, a list per record and a transpose: most
# of a CSV table's CPU. Most files are plain: every quote wraps a whole field that holds no
# quote (what pyarrow, pandas and Spark write, unless a value holds a quote). For such text the
# csv module's records are those of RFC 4180 without doubled quotes (non-blank records split at
# the delimiters outside quotes, a field's wrapping quotes removed, a quoted newline kept in its
# field): exactly what pyarrow's CSV reader gives when it reads every column as text, nulls
# off (C++, off the GIL: a 650 KB file's sample in ~2.3 ms against ~5.8 ms for the numpy cut it
# replaced). The text is the csv module's own (decoded with the same codec and errors='replace',
# re-encoded as UTF-8). Any other text (a quote elsewhere, a doubled quote, a lone CR, a NUL, a
# leading U+FEFF, records of different widths) is read by read_head, from the bytes already read:
# the same records either way (tests/unit/test_csv_sample.py compares the two on tricky inputs
# and generated ones).

SAMPLE_READ_BYTES = HEAD_READ_BYTES  # the first read of read_sample (the next ones are sized from it)
PARSE_BLOCK_BYTES = 1 << 30  # the largest block pyarrow's CSV reader parses plain text in
SAMPLE_MAX_READ_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class CsvSample:
    """A file's header and first data records, as columns (Arrow string arrays, every record of
    the same width: `columns`) or as rows (`rows`, read_head's records)."""

    header: list[str] | None
    n: int  # data records
    columns: list[Any] | None = None  # pyarrow.StringArray per field position
    rows: list[list[str]] | None = None
    # the whole file's records (header included) when the sample parsed all of it as plain text
    # decoded without loss: count_records' own count of the file (see whole_count)
    file_records: int | None = None

    def whole_count(self, dialect: CsvDialect) -> CsvCount | None:
        """The file's exact count from this sample, when it parsed the whole file, else None:
        a file the sample reads whole is not also scanned to be counted."""
        if self.file_records is None:
            return None
        return _result(self.file_records, 0, "parsed", dialect)

    def to_rows(self) -> list[list[str]]:
        if self.rows is not None:
            return self.rows
        assert self.columns is not None
        return [list(r) for r in zip(*(c.to_pylist() for c in self.columns))]


def read_first_range(open_stream: Callable[[], BinaryIO], size: int, first: SharedRead,
                     read_range: Callable[[int, int], bytes] | None = None) -> bytes:
    """The bytes of count_records_ranges' first range of a file of `size` bytes, through `first`."""
    hi = byte_ranges(size)[0][1] if size else 0
    read = read_range or _range_reader(open_stream)
    return first.get(lambda: read(0, hi))


def prefixed(prefix: bytes, rest: BinaryIO) -> BinaryIO:
    """A stream of `prefix`, then what `rest` reads from where it stands. Unbuffered: a read gives
    at most what is left of the prefix, so that read_sample reads `rest` only for more records."""
    return cast(BinaryIO, _Prefixed(prefix, rest))


class _Prefixed(io.RawIOBase):
    """The bytes already read, then the rest of the stream (read_head's fallback reads both)."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._prefix.nbytes:
            n = min(len(b), self._prefix.nbytes)
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(b))
        b[:len(data)] = data
        return len(data)


@dataclass(frozen=True)
class _Plain:
    """The records of plain CSV text, one Arrow string array per field position."""

    records: int
    columns: list[Any]

    def texts(self, record: int) -> list[str]:
        return [c[record].as_py() for c in self.columns]

    def slice(self, first: int, last: int) -> list[Any]:
        return [c.slice(first, last - first) for c in self.columns]


def _lines(raw: bytes | bytearray) -> Iterator[str]:
    """The lines of UTF-8 text with their LF, decoded one at a time (an LF is never inside a
    character's bytes): the csv module reads only as many as the first record takes."""
    pos, n = 0, len(raw)
    while pos < n:
        end = raw.find(b"\n", pos)
        end = n if end < 0 else end + 1
        yield raw[pos:end].decode("utf-8")
        pos = end


def _first_record_width(raw: bytes | bytearray, delimiter: str) -> int:
    """The field count of the first record of UTF-8 text (blank lines are none)."""
    for row in csv.reader(_lines(raw), delimiter=delimiter, quotechar=QUOTE):
        if row:
            return len(row)
    return 0


def _plain_of(raw: bytes | bytearray, delimiter: str) -> _Plain | None:
    """The records of plain CSV text given as UTF-8 (see above), parsed by pyarrow's CSV reader, or
    None when the text is not plain or its records differ in width."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if b"\x00" in raw or raw.startswith(codecs.BOM_UTF8):  # a NUL; a U+FEFF the decoding left
        return None
    if b"\r" in raw and raw.count(b"\r") != raw.count(b"\r\n"):
        return None  # a lone CR ends a record too: left to the csv module
    n = len(raw)
    if b'"' in raw:
        # every quote wraps a whole field that holds no quote: quotes pair up in order, each pair
        # opening at the start or after a delimiter or LF, closing at the end or before a
        # delimiter, CR or LF (a newline between them is the field's, as the csv module reads it)
        a = np.frombuffer(raw, dtype=np.uint8)
        q = np.flatnonzero(a == ord(QUOTE))
        if q.size & 1:
            return None
        opening, closing = q[0::2], q[1::2]
        before, after = a[np.maximum(opening - 1, 0)], a[np.minimum(closing + 1, n - 1)]
        d = ord(delimiter)
        if not bool(((before == d) | (before == _NL) | (opening == 0)).all()) \
                or not bool(((after == d) | (after == _NL) | (after == _CR) | (closing == n - 1)).all()):
            return None
    width = _first_record_width(raw, delimiter)
    if not width:
        return _Plain(0, [])
    strings = pa.string()
    try:
        table = pacsv.read_csv(
            pa.py_buffer(raw),
            # one block (the reader's int32 block size caps it: a bigger sample is parsed in blocks)
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False,
                                           block_size=min(n + 1, PARSE_BLOCK_BYTES)),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=QUOTE, double_quote=True,
                                              escape_char=False, newlines_in_values=True, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(column_types={f"f{j}": strings for j in range(width)},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                 null_values=[], check_utf8=False),
            memory_pool=pa.system_memory_pool())  # freed at once (the default pool keeps freed memory: peak RSS)
        if table.num_columns != width:
            return None
        # one block gives one chunk a column, kept as it is (combine_chunks would copy it)
        columns = [c.chunk(0) if c.num_chunks == 1 else c.combine_chunks() for c in table.columns]
    except (pa.ArrowException, OverflowError):  # a record of another width; a column past 2 GiB of text
        return None
    return _Plain(table.num_rows, columns)


def _columnar(dialect: CsvDialect) -> bool:
    """Whether a file of this dialect may be read as plain text (else read_head reads it)."""
    return dialect.quotechar == QUOTE and dialect.encoding in ("utf-8", "iso-8859-1") \
        and len(dialect.delimiter) == 1 and ord(dialect.delimiter) < 128 and dialect.delimiter not in "\r\n\""


def _next_read(read: int, newlines: int, want: int) -> int:
    """The size of read_sample's next read: what the lines still wanted take at the mean line length
    so far, and a tenth more (one request on a remote store rather than a few ever larger ones)."""
    per_line = read / max(newlines, 1)
    return max(SAMPLE_READ_BYTES, min(int((want + 1 - newlines) * per_line * 1.1), SAMPLE_MAX_READ_BYTES))


def read_sample(stream: BinaryIO, dialect: CsvDialect, max_records: int) -> CsvSample:
    """The header and up to `max_records` data records from the start of a file: the records
    read_head gives, as columns when the text is plain (see above), else as read_head's rows."""
    if not _columnar(dialect):
        h = read_head(stream, dialect, max_records)
        return CsvSample(h.header, len(h.rows), rows=h.rows)
    want = max_records + (1 if dialect.header else 0)
    buf = bytearray()
    eof = False
    newlines = 0
    size = SAMPLE_READ_BYTES
    while not eof and newlines <= want:
        chunk = stream.read(size)
        eof = not chunk
        buf += chunk
        newlines += int(np.count_nonzero(_terminator_mask(chunk, 0, len(chunk))))  # an upper bound of the records
        size = _next_read(len(buf), newlines, want)
    return _sample_of(buf, len(buf), eof, dialect, max_records,
                      lambda: cast(BinaryIO, io.BufferedReader(_Prefixed(bytes(buf), stream), SAMPLE_READ_BYTES)))


def read_sample_of(data: bytes, dialect: CsvDialect, max_records: int) -> CsvSample:
    """read_sample of a file whose bytes are all in memory (the store's cache): the same records,
    read in place (no copy of the file's bytes when its sample takes all of it)."""
    if not _columnar(dialect):
        h = read_head(io.BytesIO(data), dialect, max_records)
        return CsvSample(h.header, len(h.rows), rows=h.rows)
    want = max_records + (1 if dialect.header else 0)
    end = newlines = 0
    size = SAMPLE_READ_BYTES
    while end < len(data) and newlines <= want:  # as far as read_sample's reads would go
        nxt = min(len(data), end + size)
        newlines += int(np.count_nonzero(_terminator_mask(data, end, nxt)))
        end = nxt
        size = _next_read(end, newlines, want)
    return _sample_of(data, end, end == len(data), dialect, max_records, lambda: cast(BinaryIO, io.BytesIO(data)))


def _sample_of(buf: bytes | bytearray, end: int, eof: bool, dialect: CsvDialect, max_records: int,
               whole_stream: Callable[[], BinaryIO]) -> CsvSample:
    """read_sample's records from the file's first `end` bytes (`eof`: all of it); `whole_stream()`
    reads the file from its start (read_head's, where the text is not plain)."""
    want = max_records + (1 if dialect.header else 0)
    cut = end if eof else buf.rfind(b"\n", 0, end) + 1  # whole lines (a CR LF's CR stays before its LF)
    found: _Plain | None = None
    whole = False
    if eof or cut > 0:
        part = buf if cut == len(buf) else buf[:cut]
        if part.isascii():  # its UTF-8 text is these bytes (ASCII decodes the same from UTF-8 and Latin-1)
            raw, lossless = part, True
        else:
            text = str(part, dialect.python_encoding, "replace")
            raw = text.encode("utf-8")
            # a Latin-1 byte always decodes; UTF-8 without U+FFFD did without loss
            lossless = dialect.python_encoding == "iso-8859-1" or "\ufffd" not in text
        found = _plain_of(raw, dialect.delimiter)
        # every record of the file parsed, from text that is the file's own: the file's count
        whole = eof and lossless
    records = 0 if found is None else found.records
    if found is None or (not eof and records < want):  # not plain, or blank lines hid records: read_head
        h = read_head(whole_stream(), dialect, max_records)
        return CsvSample(h.header, len(h.rows), rows=h.rows)
    header: list[str] | None = None
    first = 0
    if dialect.header and records:
        header = found.texts(0)
        first = 1
    last = min(records, first + max_records)
    columns = found.slice(first, last)
    return CsvSample(header, last - first, columns=columns, file_records=records if whole else None)


@dataclass(frozen=True)
class CsvRecords:
    """A table's sample records from its first files, in order: as columns (Arrow string arrays)
    when every file's sample came as columns of one width, else as rows (lists of fields)."""

    n: int
    columns: list[Any] | None = None
    rows: list[list[str]] | None = None

    @classmethod
    def of(cls, samples: Sequence[CsvSample], budget: int) -> CsvRecords:
        """The first `budget` records of the samples, in order."""
        widths = {len(s.columns) for s in samples if s.columns is not None and s.n}
        if all(s.columns is not None for s in samples) and len(widths) <= 1:
            import pyarrow as pa

            width = widths.pop() if widths else 0
            parts: list[list[Any]] = [[] for _ in range(width)]
            n = 0
            for s in samples:
                take = min(s.n, budget - n)
                if take <= 0:
                    continue
                for j, c in enumerate(cast(list[Any], s.columns)):
                    parts[j].append(c.slice(0, take))
                n += take
            pool = pa.system_memory_pool()
            return cls(n, columns=[pa.concat_arrays(p, memory_pool=pool) if len(p) != 1 else p[0] for p in parts])
        rows: list[list[str]] = []
        for s in samples:
            rows.extend(s.to_rows()[: budget - len(rows)])
        return cls(len(rows), rows=rows)

    def head(self, k: int) -> CsvRecords:
        if self.columns is not None:
            return CsvRecords(min(k, self.n), columns=[c.slice(0, k) for c in self.columns])
        return CsvRecords(min(k, self.n), rows=cast(list[list[str]], self.rows)[:k])

    def to_rows(self) -> list[list[str]]:
        if self.rows is not None:
            return self.rows
        return [list(r) for r in zip(*(c.to_pylist() for c in cast(list[Any], self.columns)))]

    def by_column(self) -> Sequence[Any]:
        """Each field position's values (a row too short for a position gives None there):
        Arrow string arrays, or tuples (itertools.zip_longest of the rows)."""
        if self.columns is not None:
            return self.columns
        return list(zip_longest(*self.rows)) if self.rows else []


def iter_values(values: Any, step: int = 4096) -> Iterator[Any]:
    """A column's values as Python objects, converted a slice at a time (an Arrow array) so that a
    reader that stops early (distinct samples) converts little. A slice of an Arrow array gives
    each of its values once, in order of first appearance (pc.unique): what distinct samples keep
    of it, without a Python object per repeated value."""
    if not hasattr(values, "to_pylist"):
        yield from values
        return
    import pyarrow.compute as pc

    for lo in range(0, len(values), step):
        yield from pc.unique(values.slice(lo, step)).to_pylist()
