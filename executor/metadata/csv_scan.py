"""CSV facts without Spark: dialect sniffing, exact RFC 4180 record counts, head samples.

Pure Python + numpy over a binary stream (local file, DBFS FUSE or an Azure range reader).

Exact counts: a record ends at a newline that is outside quotes, so a quoted field holding a
newline is one record (Spark's default line-based CSV reader counts it as two). The fast counter
finds newlines and quotes with numpy and keeps the ones with an even number of quotes before them;
it also checks that every quote stands where RFC 4180 allows (opening at a field start, closing
before a delimiter, a line end or a doubled quote). A file with a stray quote (`5" screen`) is
recounted with Python's csv module, which reads stray quotes literally, as Spark does. Empty
records (blank lines) are not rows, for Spark and for Python's csv module alike.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from executor.metadata.spark_types import CsvSchemaInferrer, SparkFallback

CHUNK_BYTES = 8 * 1024 * 1024
SNIFF_BYTES = 64 * 1024
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


def detect_delimiter(text: str, truncated: bool) -> str:
    """The candidate delimiter that splits the head's records into the most consistent columns."""
    best, best_score = ",", (0.0, 0)
    for cand in DELIMITERS:
        rows = _head_rows(text, cand)
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


_NUMERIC_TYPES = ("tinyint", "smallint", "int", "bigint", "float", "double")


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
    """
    if len(rows) < 2:
        return HeaderDecision(True, "fewer than two records: the first record is the header (Spark header=true)")
    first, rest = rows[0], rows[1:]
    n = len(first)
    try:
        inf = CsvSchemaInferrer(n, spark_version=spark_version).add_rows(rest)
        types = inf.type_strings()
        probe = CsvSchemaInferrer(1, spark_version=spark_version)
        evidence: list[str] = []
        for i, t in enumerate(types):
            cell = first[i] if i < len(first) else ""
            if t == "string" or cell == "":
                continue
            if probe.widen(inf.types[i], cell) != inf.types[i]:
                return HeaderDecision(True, f"first-record field {i + 1} ({cell[:40]!r}) does not parse as {t}, "
                                            "the type of the values below it: the first record is the header")
            if t in _NUMERIC_TYPES or t.startswith("decimal"):
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
    delim = delimiter or detect_delimiter(text, truncated)
    if header is None and csv_header in (HEADER_TRUE, HEADER_FALSE):
        header, reason = csv_header == HEADER_TRUE, f"csv_header={csv_header} (payload)"
    elif header is not None:
        reason = f"header={str(header).lower()} (given)"
    else:
        rows = _head_rows(text, delim, limit=200)
        if truncated and len(rows) > 2:
            rows = rows[:-1]
        decision = decide_header(rows, spark_version)
        header, reason = decision.header, decision.reason
    return CsvDialect(delimiter=delim, encoding=encoding, header=header, bom=bom, header_reason=reason)


# --------------------------------------------------------------------------- exact counting


class _StrayQuote(Exception):
    pass


def _iter_chunks(stream: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    """Chunks that never end with '\r' except at the end of the file, so that a CR LF pair is
    never cut and a lone CR is known as one from its own chunk."""
    while True:
        chunk = stream.read(chunk_bytes)
        if not chunk:
            return
        while chunk.endswith(b"\r"):
            more = stream.read(1)
            if not more:
                break
            chunk += more
        yield chunk


_EMPTY = np.zeros(0, dtype=np.intp)


def _fast_count(stream: BinaryIO, delimiter: str, chunk_bytes: int) -> tuple[int, int]:
    """(non-empty records, bytes). Raises _StrayQuote when a quote is not RFC 4180 quoting.

    A record ends at LF, CR LF or a lone CR outside quotes (as Hadoop's line reader and
    Python's csv module end lines)."""
    delim = ord(delimiter)
    quote = ord(QUOTE)
    offset = 0  # global offset of the current chunk
    parity = 0  # quotes seen so far, mod 2 (1 = inside a quoted field)
    last_end = -1  # global position of the last byte of the last record terminator
    prev_byte = _NL  # byte before the chunk; file start behaves like after a newline
    pending_close = False  # previous chunk ended with a closing quote: check the next byte
    records = 0
    for chunk in _iter_chunks(stream, chunk_bytes):
        n = len(chunk)
        end: bytes | None = None  # the one record terminator of a chunk without quotes (C speed)
        if not parity and not pending_close and chunk[0] not in (_NL, _CR) and b'"' not in chunk:
            if (b"\n\n" not in chunk and b"\n\r\n" not in chunk
                    and chunk.count(b"\r") == chunk.count(b"\r\n")):
                end = b"\n"  # the common chunk (LF or CR LF endings, no lone CR, no empty records)
            elif b"\n" not in chunk and b"\r\r" not in chunk:
                end = b"\r"  # CR-only endings (old Mac exports), no empty records
        if end is not None:
            found = chunk.count(end)
            if found:
                records += found
                last_end = offset + chunk.rfind(end)
            prev_byte = chunk[-1]
            offset += n
            continue
        a = np.frombuffer(chunk, dtype=np.uint8)
        if pending_close:
            if a[0] not in (delim, _NL, _CR, quote):
                raise _StrayQuote
            pending_close = False
        ends = np.flatnonzero(a == _NL)
        if chunk.find(b"\r") >= 0:
            cr = np.flatnonzero(a == _CR)
            lone = cr[a[np.minimum(cr + 1, n - 1)] != _NL]  # a CR that ends the chunk is lone (EOF)
            if lone.size:
                ends = np.union1d(ends, lone)
        q = np.flatnonzero(a == quote) if chunk.find(b'"') >= 0 else None
        if q is not None and q.size:
            # parity before each quote: even -> opening, odd -> closing
            opening = q[parity::2]  # quotes with an even count before them (in the whole file)
            closing = q[1 - parity::2]
            if opening.size:
                prev = np.where(opening > 0, a[np.maximum(opening - 1, 0)], prev_byte)
                ok = (prev == delim) | (prev == _NL) | (prev == _CR) | (prev == quote)
                if not ok.all():
                    raise _StrayQuote
            if closing.size:
                inner = closing[closing < n - 1]
                if inner.size:
                    nxt = a[inner + 1]
                    ok = (nxt == delim) | (nxt == _NL) | (nxt == _CR) | (nxt == quote)
                    if not ok.all():
                        raise _StrayQuote
                if closing[-1] == n - 1:
                    pending_close = True
            if ends.size:
                k = np.searchsorted(q, ends)
                ends = ends[((k + parity) & 1) == 0]
            parity = (parity + q.size) & 1
        elif parity:
            ends = _EMPTY  # the whole chunk is inside a quoted field
        if ends.size:
            # a terminator starts at its CR when it is CR LF; the record before it is empty when it
            # starts right after the previous terminator (blank lines are not records)
            before = np.where(ends > 0, a[np.maximum(ends - 1, 0)], prev_byte)
            crlf = (a[ends] == _NL) & (before == _CR)
            starts = ends - crlf + offset
            g = ends + offset
            prev_ends = np.concatenate(([last_end], g[:-1]))
            records += int(g.size - np.count_nonzero(starts == prev_ends + 1))
            last_end = int(g[-1])
        prev_byte = int(a[-1])
        offset += n
    if offset - last_end - 1 > 0:
        records += 1  # the last record has no terminator
    return records, offset


def _slow_count(stream: BinaryIO, dialect: CsvDialect) -> int:
    text = io.TextIOWrapper(stream, encoding=dialect.python_encoding, errors="replace", newline="")
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
    exact_path: str  # 'vectorized' or 'csv-module' (stray quotes)


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
    data = max(records - 1, 0) if dialect.header else records
    return CsvCount(records=records, data_rows=data, bytes_read=nbytes, exact_path=path)


# --------------------------------------------------------------------------- head samples


@dataclass(frozen=True)
class CsvHead:
    header: list[str] | None
    rows: list[list[str]]  # parsed data records (header excluded)


def read_head(stream: BinaryIO, dialect: CsvDialect, max_records: int, max_bytes: int | None = None) -> CsvHead:
    """The header and up to `max_records` data records from the start of a file."""
    text = io.TextIOWrapper(stream, encoding=dialect.python_encoding, errors="replace", newline="")
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
