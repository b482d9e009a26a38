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
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

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


def _looks_like_data(value: str) -> bool:
    v = value.strip()
    if v == "":
        return True
    if v.lower() in ("true", "false", "null"):
        return True
    try:
        float(v)
        return True
    except ValueError:
        pass
    return len(v) >= 8 and v[:4].isdigit() and v[4] == "-" and v[5:7].isdigit()  # a date


def detect_header(rows: list[list[str]]) -> bool:
    """A first record is a header unless one of its fields looks like data (number, date, empty,
    boolean) or its names repeat while the file has more than one record."""
    if len(rows) < 2:
        return True
    first = rows[0]
    if any(_looks_like_data(v) for v in first):
        return False
    return True


def sniff_dialect(head: bytes, *, delimiter: str | None = None, header: bool | None = None) -> CsvDialect:
    """Sniff encoding, delimiter and header from the first bytes of a file."""
    encoding, bom = detect_encoding(head)
    body = head[len(codecs.BOM_UTF8):] if bom else head
    text = body.decode(encoding, errors="replace")
    truncated = len(head) >= SNIFF_BYTES
    delim = delimiter or detect_delimiter(text, truncated)
    if header is None:
        rows = _head_rows(text, delim)
        if truncated and len(rows) > 2:
            rows = rows[:-1]
        header = detect_header(rows)
    return CsvDialect(delimiter=delim, encoding=encoding, header=header, bom=bom)


# --------------------------------------------------------------------------- exact counting


class _StrayQuote(Exception):
    pass


def _iter_chunks(stream: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    while True:
        chunk = stream.read(chunk_bytes)
        if not chunk:
            return
        yield chunk


def _fast_count(stream: BinaryIO, delimiter: str, chunk_bytes: int) -> tuple[int, int]:
    """(non-empty records, bytes). Raises _StrayQuote when a quote is not RFC 4180 quoting."""
    delim = ord(delimiter)
    quote = ord(QUOTE)
    offset = 0  # global offset of the current chunk
    parity = 0  # quotes seen so far, mod 2 (1 = inside a quoted field)
    last_term = -1  # global position of the last record terminator
    prev_byte = _NL  # byte before the chunk; file start behaves like after a newline
    pending_close = False  # previous chunk ended with a closing quote: check the next byte
    terminators = 0
    empty = 0
    last_chunk_tail = b""
    for chunk in _iter_chunks(stream, chunk_bytes):
        if (not parity and not pending_close and chunk[0] not in (_NL, _CR) and b'"' not in chunk
                and b"\n\n" not in chunk and b"\n\r\n" not in chunk):
            # The common chunk: no quotes, no empty records: every newline ends a record (C speed).
            found = chunk.count(b"\n")
            if found:
                terminators += found
                last_term = offset + chunk.rfind(b"\n")
            prev_byte = chunk[-1]
            offset += len(chunk)
            last_chunk_tail = chunk[-2:]
            continue
        a = np.frombuffer(chunk, dtype=np.uint8)
        n = a.size
        if pending_close:
            if a[0] not in (delim, _NL, _CR, quote):
                raise _StrayQuote
            pending_close = False
        nl = np.flatnonzero(a == _NL)
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
            if nl.size:
                k = np.searchsorted(q, nl)
                nl = nl[((k + parity) & 1) == 0]
            parity = (parity + q.size) & 1
        elif parity:
            nl = nl[:0]  # the whole chunk is inside a quoted field
        if nl.size:
            g = nl + offset
            length = np.diff(g, prepend=last_term) - 1  # bytes of each record before its newline
            if int(length.min()) <= 1:  # empty records ("" or a lone "\r") are rare: look closer
                is_empty = length == 0
                cr_case = length == 1
                if cr_case.any():
                    before_nl = np.where(nl > 0, a[np.maximum(nl - 1, 0)], prev_byte)
                    is_empty |= cr_case & (before_nl == _CR)
                empty += int(is_empty.sum())
            terminators += int(g.size)
            last_term = int(g[-1])
        prev_byte = int(a[-1])
        offset += n
        last_chunk_tail = chunk[-2:]
    trailing = offset - last_term - 1
    records = terminators - empty
    if trailing > 0 and not (trailing == 1 and last_chunk_tail.endswith(b"\r")):
        records += 1
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
