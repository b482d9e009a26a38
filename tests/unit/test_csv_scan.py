"""Exact CSV record counts, compared with Python's csv module as the independent reader."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.metadata.csv_scan import CsvDialect, count_records, read_head, sniff_dialect, to_csv_lines


def reference_records(data: bytes, delimiter: str = ",") -> int:
    text = data.decode("utf-8")
    return sum(1 for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row)


def fast(data: bytes, delimiter: str = ",", chunk: int = 7) -> int:
    return count_records(io.BytesIO(data), CsvDialect(delimiter=delimiter), chunk_bytes=chunk).records


CASES = [
    b"",
    b"a,b\n",
    b"a,b\n1,2\n3,4\n",
    b"a,b\n1,2\n3,4",  # no trailing newline
    b"a,b\r\n1,2\r\n3,4\r\n",
    b'a,b\n1,"x\ny"\n2,"p\r\nq"\n',  # quoted newlines are inside one record
    b'a,b\n1,"he said ""hi"""\n2,""\n',  # doubled quotes
    b"a,b\n\n1,2\n\n\n3,4\n\r\n",  # blank lines are not records
    b'a,b\n1,"unterminated\n2,3\n',  # open quote to EOF: one record
    b'a,b\n1,5" screen\n2,3\n',  # stray quote: recounted with the csv module
    b'a,b\n1,"x"y\n2,3\n',  # junk after closing quote
    b'"a"\n"b"\n""\n',
    b"a,b\r1,2\r3,4\r",  # CR-only (old Mac exports)
    b"a,b\r1,2\r3,4",
    b"a,b\r\n1,2\r3,4\n5,6\r\n",  # mixed endings
    b'a,b\r1,"x\ry"\r2,"p\r\nq"\r',  # quoted CR / CR LF stay inside the record
    b"a,b\r\r\n1,2\n\r3,4\r\r",  # blank records made of CR, LF, CR LF
    b'a,b\r1,5" screen\r2,3\r',  # stray quote with CR endings: the csv module path
]


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
def test_counts_match_python_csv(data, chunk):
    assert fast(data, chunk=chunk) == reference_records(data)


def test_header_is_not_a_data_row():
    res = count_records(io.BytesIO(b'id,note\n1,"a\nb"\n2,c\n'), CsvDialect(header=True))
    assert (res.records, res.data_rows) == (3, 2)
    res = count_records(io.BytesIO(b"1,2\n3,4\n"), CsvDialect(header=False))
    assert res.data_rows == 2


field = st.text(alphabet=st.sampled_from(list('ab,"\n\r ;é')), max_size=8)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(field, min_size=1, max_size=4), max_size=12), st.integers(1, 16))
def test_round_trip_of_written_csv(rows, chunk):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    data = buf.getvalue().encode("utf-8")
    assert fast(data, chunk=chunk) == reference_records(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=60).map(lambda b: b.replace(b"\x00", b"")), st.integers(1, 9))
def test_arbitrary_bytes_never_disagree(data, chunk):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert fast(data, chunk=chunk) == reference_records(data)


@pytest.mark.parametrize("text,delim", [
    ("a,b,c\n1,2,3\n", ","),
    ("a;b;c\n1;2,5;3\n4;5;6\n", ";"),
    ("a\tb\n1\t2\n", "\t"),
    ("a|b|c\n1|2|3\n", "|"),
    ('name,notes\n"x; y; z",1\n"p; q",2\n', ","),
])
def test_delimiter_detection(text, delim):
    assert sniff_dialect(text.encode()).delimiter == delim


def test_encoding_and_bom_detection():
    d = sniff_dialect(b"\xef\xbb\xbfa,b\n1,2\n")
    assert (d.encoding, d.bom) == ("utf-8", True)
    assert sniff_dialect("a,b\ncafé,crème\n".encode("iso-8859-1")).encoding == "iso-8859-1"
    assert sniff_dialect("a,b\ncafé,crème\n".encode()).encoding == "utf-8"


def test_header_detection():
    assert sniff_dialect(b"id,name\n1,x\n2,y\n").header is True
    assert sniff_dialect(b"1,x\n2,y\n3,z\n").header is False
    assert sniff_dialect(b"2024-01-01,x\n2024-01-02,y\n").header is False


def test_read_head_and_lines_round_trip():
    data = b'id,note\n1,"multi\nline"\n2,"q ""x"""\n3,plain\n'
    d = sniff_dialect(data)
    head = read_head(io.BytesIO(data), d, max_records=2)
    assert head.header == ["id", "note"]
    assert head.rows == [["1", "multi\nline"], ["2", 'q "x"']]
    lines = to_csv_lines(head.header, head.rows, ",")
    assert list(csv.reader(io.StringIO("\n".join(lines) + "\n", newline=""))) == [head.header, *head.rows]


@pytest.mark.parametrize("chunk", [1, 2, 5, 1 << 20])
def test_cr_only_export_counts_every_record(chunk):
    # 921 CR-terminated records and one LF (the shape seen in old Mac exports): 921 records
    data = b"id,name\r" + b"".join(b"%d,n%d\r" % (i, i) for i in range(920)) + b"\n"
    res = count_records(io.BytesIO(data), CsvDialect(), chunk_bytes=chunk)
    assert (res.records, res.data_rows) == (921, 920)
    assert res.records == reference_records(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(field, min_size=1, max_size=4), max_size=12), st.integers(1, 16),
       st.sampled_from(["\n", "\r", "\r\n"]))
def test_round_trip_with_every_line_ending(rows, chunk, ending):
    buf = io.StringIO()
    csv.writer(buf, lineterminator=ending).writerows(rows)
    data = buf.getvalue().encode("utf-8")
    assert fast(data, chunk=chunk) == reference_records(data)


# --------------------------------------------------------------------------- parallel ranges


def ranged(data: bytes, range_bytes: int, delimiter: str = ",", pool=None):
    """count_records_ranges over an in-memory file (each range opens its own stream)."""
    from executor.metadata.csv_scan import count_records_ranges
    from executor.metadata.fanout import fan_out

    return count_records_ranges(lambda: io.BytesIO(data), len(data), CsvDialect(delimiter=delimiter),
                                lambda fn, items: fan_out(pool, fn, items), range_bytes=range_bytes)


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("range_bytes", [1, 2, 3, 7, 1 << 20])
def test_ranges_count_like_the_sequential_counter(data, range_bytes):
    res = ranged(data, range_bytes)
    assert res.records == fast(data) == reference_records(data)
    stray = b'5"' in data or b'"y' in data
    assert res.exact_path == ("csv-module" if stray else "vectorized-ranges" if data else res.exact_path)


# records as writers produce them (quoted fields with delimiters, quotes, CR, LF, CR LF inside),
# joined by any ending, with blank lines and stray quotes mixed in
_cell = st.text(alphabet=st.sampled_from(list('ab,"\n\r ;é')), max_size=8)
_raw_line = st.text(alphabet=st.sampled_from(list('ab,"; é')), max_size=10)  # may hold stray quotes


@st.composite
def csv_bytes(draw):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="")
    parts = []
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "raw"]))
        if kind == "row":
            buf.seek(0)
            buf.truncate()
            writer.writerow(draw(st.lists(_cell, min_size=1, max_size=4)))
            parts.append(buf.getvalue())
        elif kind == "raw":
            parts.append(draw(_raw_line))
        parts.append(draw(st.sampled_from(["\n", "\r", "\r\n", "", "\n\n", "\r\r\n"])) if kind != "blank" else "\n")
    return "".join(parts).encode("utf-8")


@settings(max_examples=150, deadline=None)
@given(csv_bytes(), st.integers(1, 24))
def test_ranges_match_sequential_counter_and_csv_module(data, range_bytes):
    res = ranged(data, range_bytes)
    assert res.records == fast(data, chunk=range_bytes) == reference_records(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=80).map(lambda b: b.replace(b"\x00", b"")), st.integers(1, 9))
def test_ranges_on_arbitrary_bytes(data, range_bytes):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert ranged(data, range_bytes).records == reference_records(data)


def test_ranges_in_a_real_pool_and_header_rows():
    from concurrent.futures import ThreadPoolExecutor

    rows = [[str(i), f"note {i}\nline 2" if i % 7 == 0 else f'say ""{i}""', "x,y" if i % 3 else ""]
            for i in range(3000)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([["id", "note", "pair"], *rows])
    data = buf.getvalue().encode()
    with ThreadPoolExecutor(3) as pool:
        res = ranged(data, 997, pool=pool)
    assert (res.records, res.data_rows, res.exact_path) == (3001, 3000, "vectorized-ranges")
    assert res.records == reference_records(data)


def test_scan_chunk_gives_both_quote_states():
    from executor.metadata.csv_scan import scan_chunk

    s = scan_chunk(b'x\n"a\nb"\ny', ",")
    # outside quotes at its start: runs start at '"a' and 'y' (x is the chunk's first byte);
    # inside: the first quote closes a field ('x\n' was quoted text) and is followed by 'a': stray
    assert s.records[0] == 2 and s.odd_quotes is False
    assert s.stray == (False, True)


def test_a_file_that_shrinks_while_counted_is_an_error():
    from executor.metadata.csv_scan import count_records_ranges

    data = b"a,b\n" * 100
    calls = []

    def opener():
        calls.append(1)
        return io.BytesIO(data if len(calls) == 1 else data[:50])

    with pytest.raises(OSError, match="changed while it was counted"):
        count_records_ranges(opener, len(data), CsvDialect(), lambda fn, items: [fn(i) for i in items],
                             range_bytes=64)


def test_big_csv_files_are_counted_from_ranges_through_the_store(tmp_path, monkeypatch):
    """The reader's count step: a file above the threshold is read as ranges through store.open."""
    from concurrent.futures import ThreadPoolExecutor

    from executor.metadata import csv_scan
    from executor.metadata.grouping import PlannedFile
    from executor.metadata.readers.csv import _count
    from executor.sources.base import FileInfo
    from executor.sources.local import LocalFileStore

    rows = "".join(f'{i},"text {i}\nmore"\r\n' if i % 5 == 0 else f"{i},plain {i}\n" for i in range(5000))
    path = tmp_path / "big.csv"
    path.write_bytes(("id,note\n" + rows).encode())
    from executor.metadata.readers import csv as csv_reader

    monkeypatch.setattr(csv_reader, "COUNT_WITH_FACTS_BYTES", 4096)  # above it: counted from ranges
    monkeypatch.setattr(csv_scan, "RANGE_BYTES", 1000)
    store = LocalFileStore(str(tmp_path))
    opened = []
    real_open = store.open
    monkeypatch.setattr(store, "open", lambda uri: opened.append(uri) or real_open(uri))
    info = FileInfo("big.csv", str(path), path.stat().st_size)
    with ThreadPoolExecutor(2) as pool:
        res = _count(store, PlannedFile(info), CsvDialect(header=True), pool)
    assert res.exact_path == "vectorized-ranges"
    assert res.data_rows == 5000 == reference_records(path.read_bytes()) - 1
    assert len(opened) == len(csv_scan.byte_ranges(info.size, 1000)) > 4


@settings(max_examples=100, deadline=None)
@given(csv_bytes(), st.lists(st.integers(0, 200), max_size=6))
def test_scans_combine_exactly_whatever_the_split(data, cuts):
    """combine(scan(a), scan(b)) == scan(a + b) for both start states: a range scanned in pieces
    gives the facts of the range scanned whole."""
    from functools import reduce

    from executor.metadata.csv_scan import combine, scan_chunk

    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    pieces = [scan_chunk(data[a:b], ",") for a, b in zip(bounds, bounds[1:])] or [scan_chunk(b"", ",")]
    assert reduce(lambda x, y: combine(x, y, ","), pieces) == scan_chunk(data, ",")


@settings(max_examples=150, deadline=None)
@given(csv_bytes(), st.integers(0, 200), st.integers(0, 200), st.sampled_from([None, 0, 1]))
def test_a_span_scanned_in_place_is_the_span_copied_out(data, a, b, parity):
    """scan_chunk(data, lo=a, hi=b) reads data[a:b] where it lies (a big range's 1 MiB pieces
    are not copied): the same facts as scanning the copy, at any bounds and either start state."""
    from executor.metadata.csv_scan import scan_chunk

    lo, hi = sorted((min(a, len(data)), min(b, len(data))))
    for chunk in (data, data + b'\r\n"x"'):  # the span's neighbours never count
        assert scan_chunk(chunk, ",", parity, lo=lo, hi=hi) == scan_chunk(data[lo:hi], ",", parity)


@pytest.mark.parametrize("codec", [None, "gzip"])
def test_a_small_files_facts_read_it_from_storage_once(tmp_path, codec):
    """The facts step sniffs, parses the head of and counts a small file: three passes, one read of
    its bytes from storage (summary.bytes_read counts each byte once)."""
    import gzip

    from executor.metadata.grouping import PlannedFile
    from executor.metadata.readers.base import FileContext
    from executor.metadata.readers.csv import CsvReader
    from executor.settings import Settings
    from executor.sources.base import FileInfo
    from executor.sources.local import LocalFileStore

    text = "id,name,note\n" + "".join(f'{i},name {i},"a note, with a comma {i}"\n' for i in range(12000))
    data = text.encode() if codec is None else gzip.compress(text.encode())
    path = tmp_path / ("t.csv" if codec is None else "t.csv.gz")
    path.write_bytes(data)
    assert len(text) > 4 * 64 * 1024  # bigger than the sniff and than a read buffer
    store = LocalFileStore(str(tmp_path))
    info = FileInfo(path.name, str(path), len(data), path.stat().st_mtime)
    facts = CsvReader().file_facts(FileContext(store, Settings()), PlannedFile(info, compression=codec), "csv", 0)
    assert facts.count is not None and facts.count.result().data_rows == 12000
    assert store.counter.bytes == len(data)


def test_small_files_are_parsed_in_cpu_slots_and_read_outside_them(tmp_path, monkeypatch):
    """The facts step parses a small file (sniff, head, count) holding one of readers.base.CPU_SLOTS,
    taken only once the file is read: many I/O threads never parse more files at once than there
    are slots, and no thread waits on storage while it holds one."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from executor.metadata import csv_scan as scan
    from executor.metadata.grouping import PlannedFile
    from executor.metadata.readers import base
    from executor.metadata.readers.base import FileContext
    from executor.metadata.readers.csv import CsvReader
    from executor.settings import Settings
    from executor.sources.base import FileInfo
    from executor.sources.local import LocalFileStore

    class Slots:
        def __init__(self, n: int) -> None:
            self.sem, self.lock, self.inside, self.most = threading.BoundedSemaphore(n), threading.Lock(), 0, 0
            self.holders: set[int] = set()

        def __enter__(self) -> None:
            self.sem.acquire()
            with self.lock:
                self.inside += 1
                self.most = max(self.most, self.inside)
                self.holders.add(threading.get_ident())

        def __exit__(self, *exc: object) -> None:
            with self.lock:
                self.inside -= 1
                self.holders.discard(threading.get_ident())
            self.sem.release()

    slots = Slots(2)
    monkeypatch.setattr(base, "CPU_SLOTS", slots)
    counted = scan.count_records

    def slow_count(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.02)  # a parse long enough for the threads to overlap
        return counted(*args, **kwargs)

    monkeypatch.setattr(scan, "count_records", slow_count)
    store = LocalFileStore(str(tmp_path))
    opened_in_slot: list[bool] = []
    open_file = store.open

    def watched_open(uri: str):  # type: ignore[no-untyped-def]
        opened_in_slot.append(threading.get_ident() in slots.holders)
        return open_file(uri)

    monkeypatch.setattr(store, "open", watched_open)
    infos = []
    for i in range(12):
        path = tmp_path / f"part-{i}.csv"
        path.write_text("id,name\n" + "".join(f"{j},n{j}\n" for j in range(100)))
        infos.append(FileInfo(path.name, str(path), path.stat().st_size, path.stat().st_mtime))
    ctx = FileContext(store, Settings())
    with ThreadPoolExecutor(8) as pool:
        facts = list(pool.map(lambda info: CsvReader().file_facts(ctx, PlannedFile(info), "csv", 0), infos))
    assert [f.count.result().data_rows for f in facts] == [100] * 12  # type: ignore[union-attr]
    assert slots.most == 2  # eight threads, two parsing at once
    assert opened_in_slot == [False] * 12


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b",", b"\n", b"\r", b"\r\n", b"xy"]), max_size=40),
       st.integers(0, 60), st.integers(0, 60))
def test_unquoted_runs_from_a_mask_equal_runs_from_positions(parts, a, b):
    """The unquoted count (a mask of terminators) gives what the positions of the terminators give,
    over any span of the text, whatever its line endings and blank lines."""
    import numpy as np

    from executor.metadata.csv_scan import _runs, _runs_unquoted

    data = b"".join(parts)
    lo, hi = sorted((min(a, len(data)), min(b, len(data))))
    if hi == lo:
        return
    span = np.frombuffer(data[lo:hi], dtype=np.uint8)
    assert _runs_unquoted(data, lo, hi) == _runs(np.flatnonzero((span == 10) | (span == 13)), hi - lo)
