"""The ranged reader, the request limiter and the small-file cache (executor/sources/ranges.py),
with a counting fetch function in place of a store: how many requests each read pattern costs."""

from __future__ import annotations

import io
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from executor.metadata import csv_scan
from executor.metadata.readers.parquet_footer import read_footer_bytes
from executor.sources.ranges import (
    BLOCK_BYTES,
    TAIL_BYTES,
    RangeReader,
    ReadAhead,
    RequestLimiter,
    WholeFileCache,
)


class Remote:
    """A file behind a fetch function that records every request (and how many ran at once)."""

    def __init__(self, data: bytes, delay: float = 0.0) -> None:
        self.data, self.delay = data, delay
        self.requests: list[tuple[int, int]] = []
        self.running = self.peak = 0
        self._lock = threading.Lock()

    def fetch(self, start: int, length: int) -> bytes:
        with self._lock:
            self.requests.append((start, length))
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self.data[start:start + length]
        finally:
            with self._lock:
                self.running -= 1

    def open(self, **kw) -> io.BufferedReader:
        return io.BufferedReader(RangeReader(len(self.data), self.fetch, label="test file", **kw),
                                 buffer_size=64 * 1024)


def _parquet(columns: int, rows: int = 50, metadata_bytes: int = 0) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({f"c{i}": list(range(rows)) for i in range(columns)})
    if metadata_bytes:
        table = table.replace_schema_metadata({"pad": "x" * metadata_bytes})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_a_small_file_is_one_request_whatever_is_read():
    f = Remote(b"id,name\n" + b"1,x\n" * 1000)
    with f.open() as fh:
        assert fh.read(8) == b"id,name\n"
        fh.seek(-4, io.SEEK_END)
        assert fh.read() == b"1,x\n"
        fh.seek(0)
        assert fh.read() == f.data
    assert f.requests == [(0, len(f.data))]


def test_parquet_footer_and_pyarrow_reread_are_one_tail_request():
    import pyarrow.parquet as pq

    data = _parquet(columns=3, rows=200_000)  # larger than the tail: only its end is read
    assert len(data) > 4 * TAIL_BYTES
    f = Remote(data)
    with f.open() as fh:
        footer = read_footer_bytes(fh)
        fh.seek(0)
        meta = pq.ParquetFile(fh).metadata  # pyarrow reads the last 64 KiB again: served from memory
    assert meta.num_rows == 200_000 and footer
    assert f.requests == [(len(data) - TAIL_BYTES, TAIL_BYTES)]


def test_a_footer_larger_than_the_tail_costs_one_more_request():
    data = _parquet(columns=3, rows=10_000, metadata_bytes=3 * TAIL_BYTES)
    n = struct.unpack("<i", data[-8:-4])[0]
    assert n > TAIL_BYTES
    f = Remote(data)
    with f.open() as fh:
        assert read_footer_bytes(fh) == data[-8 - n:-8]
    assert len(f.requests) == 2


def test_csv_sampling_through_a_text_wrapper_is_not_one_request_per_8_kib():
    """io.TextIOWrapper reads with read1(8192), which bypasses a BufferedReader's buffer: the raw
    reader's own ranges make it one request for a 3 MB file, not ~400."""
    body = b"".join(b"%d,name %d,\"quoted, %d\"\n" % (i, i, i) for i in range(120_000))
    data = b"id,name,note\n" + body
    assert 2_000_000 < len(data) < BLOCK_BYTES
    f = Remote(data)
    dialect = csv_scan.CsvDialect()
    with f.open() as fh:
        head = csv_scan.read_head(fh, dialect, max_records=100_000)
    assert len(head.rows) == 100_000
    assert len(f.requests) == 1


def test_a_sequential_reader_fetches_ranges_ahead_in_parallel():
    data = bytes(range(256)) * (40 * 1024 * 1024 // 256 + 17)  # ~40 MB
    f = Remote(data, delay=0.01)
    limiter = RequestLimiter(8, 256 * 1024 * 1024)
    with ThreadPoolExecutor(8) as pool:
        with f.open(read_ahead=ReadAhead(pool, limiter, chunk_bytes=4 * 1024 * 1024, max_ahead=4)) as fh:
            out = bytearray()
            while chunk := fh.read(1024 * 1024):
                out += chunk
    assert bytes(out) == data
    starts = sorted(s for s, _ in f.requests)
    assert len(starts) == len(set(starts)) == -(-len(data) // (4 * 1024 * 1024))  # each range once
    assert f.peak > 1  # ranges were in flight together
    assert limiter.reserved == 0


def test_a_sequential_reader_skipping_forward_and_closing_early_frees_its_bytes():
    data = b"x" * (30 * 1024 * 1024)
    f = Remote(data, delay=0.005)
    limiter = RequestLimiter(4, 64 * 1024 * 1024)
    with ThreadPoolExecutor(4) as pool:
        fh = f.open(read_ahead=ReadAhead(pool, limiter, chunk_bytes=2 * 1024 * 1024, max_ahead=3))
        fh.read(10)
        fh.seek(20 * 1024 * 1024)  # an Avro block skipped: the ranges jumped over are dropped
        assert fh.read(10) == b"x" * 10
        fh.close()
    assert limiter.reserved == 0


def test_read_ahead_stays_within_the_byte_bound_and_always_progresses():
    data = b"y" * (20 * 1024 * 1024)
    f = Remote(data)
    limiter = RequestLimiter(8, 1024 * 1024)  # smaller than one range: one range at a time
    with ThreadPoolExecutor(4) as pool, \
            f.open(read_ahead=ReadAhead(pool, limiter, chunk_bytes=2 * 1024 * 1024, max_ahead=8)) as fh:
        assert len(fh.read()) == len(data)
    assert limiter.reserved == 0


def test_data_in_memory_costs_no_request():
    f = Remote(b"abc" * 1000)
    with io.BufferedReader(RangeReader(len(f.data), f.fetch, data=f.data)) as fh:
        fh.seek(5)
        assert fh.read(3) == f.data[5:8]
    assert f.requests == []


def test_a_file_shorter_than_listed_is_an_error():
    with pytest.raises(OSError, match="shorter than listed"):
        RangeReader(100, lambda start, length: b"abc").read(10)


def test_a_file_read_whole_is_handed_to_the_cache_within_its_budget():
    cache = WholeFileCache(max_bytes=10)
    for key, data in (("a", b"12345"), ("b", b"6789"), ("c", b"xyz")):
        RangeReader(len(data), lambda s, n, d=data: d[s:s + n], on_whole=lambda d, k=key: cache.put(k, d)).read(1)
    assert "a" in cache and "b" in cache and "c" not in cache and cache.bytes == 9  # c did not fit
    cache.discard(["a"])
    assert cache.bytes == 4 and cache.get("b") == b"6789" and cache.hits == 1
    cache.accepting = False
    assert not cache.put("d", b"1")


def test_limiter_bounds_requests_in_flight_and_adapts_to_throttling():
    limiter = RequestLimiter(4, 1024)
    seen = []

    def work() -> None:
        with limiter.request():
            seen.append(limiter.in_flight)
            time.sleep(0.01)

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda _: work(), range(24)))
    assert max(seen) <= 4 and limiter.peak_in_flight <= 4

    limiter.throttled()
    limiter.throttled()
    assert limiter.limit == 1 and limiter.throttles == 2
    for _ in range(1 + 2 + 3):  # one more allowed after `limit` successes in a row
        limiter.succeeded()
    assert limiter.limit == 4
    limiter.succeeded()
    assert limiter.limit == 4  # never above the configured maximum


def test_limiter_byte_reservations():
    limiter = RequestLimiter(2, 100)
    assert limiter.try_reserve(60) and not limiter.try_reserve(60)
    assert limiter.try_reserve(60, force=True) and limiter.reserved == 120
    limiter.release(120)
    assert limiter.reserved == 0


@pytest.mark.parametrize("size,start", [(100, 0), (100, 37), (3 * BLOCK_BYTES + 5, 0), (3 * BLOCK_BYTES + 5, BLOCK_BYTES - 3)])
def test_readall_gives_the_rest_in_one_piece(size, start):
    # what reading to the end gives (BufferedReader.read() calls readall), without 8 KiB readintos
    data = bytes(range(256)) * (size // 256 + 1)
    f = Remote(data[:size])
    with f.open() as fh:
        fh.seek(start)
        assert fh.read() == f.data[start:]
        assert fh.read() == b""
    g = Remote(f.data)  # the same requests as reading 8 KiB at a time
    with g.open() as fh:
        fh.seek(start)
        assert b"".join(iter(lambda: fh.read(8192), b"")) == f.data[start:]
    assert f.requests == g.requests
    with Remote(f.data).open(read_ahead=ReadAhead(ThreadPoolExecutor(2), RequestLimiter(2, 1 << 30), max_ahead=2)) as fh:
        fh.seek(start)
        assert fh.read() == f.data[start:]


def test_readall_of_a_file_in_memory_is_that_data():
    data = b"a,b\n" * 1000
    raw = RangeReader(len(data), lambda s, n: pytest.fail("no request"), data=data)
    assert raw.readall() is data
    with pytest.raises(OSError, match="shorter than listed"):  # the store has no more bytes than it gave
        RangeReader(len(data) + 5, lambda s, n: b"", data=data).readall()
