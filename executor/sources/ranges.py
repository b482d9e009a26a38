"""Ranged reads of remote files: few requests, in parallel, within bounds. No SDK import: a store
hands in its `fetch(start, length) -> bytes` (one request) and gets a seekable file object.

- `RangeReader`: a seekable raw reader over `fetch` that asks for large ranges and keeps the last
  few in memory, so that small reads (a TextIOWrapper's 8 KiB `read1`, varints, pyarrow's seeks)
  cost no request of their own:
    * a file no larger than `tail_bytes` is fetched whole by its first read (one request);
    * a read in the last `tail_bytes` fetches that whole tail (a Parquet/ORC footer and pyarrow's
      re-read of it: one request; a second only when the footer is larger);
    * any other read fetches at least `block_bytes` from where it starts;
    * a reader opened for a sequential scan (`read_ahead` given: CSV counts, JSON and Avro scans,
      staging copies) fetches `chunk_bytes` ranges and keeps the next `max_ahead` of them in
      flight in the store's pool (within the limiter's byte bound), so a big file is read at the
      link's bandwidth; a forward skip (Avro blocks) drops the ranges it jumps over. Readers
      opened otherwise (headers, samples) never fetch ahead: they read only the first ranges.
- `RequestLimiter`: requests in flight at most `limit` (adaptive: halved when the store throttles,
  429/503, grown back by one after `limit` requests without throttling), and read-ahead bytes
  fetched but not yet consumed at most `max_bytes`.
- `WholeFileCache`: small files fetched whole, kept (within a byte budget) from the file facts to
  the table's samples, so a file the samples read again costs no second request.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import Any

from executor.positions import seek_target

Fetch = Callable[[int, int], bytes]  # (start, length) -> exactly those bytes (one request)

TAIL_BYTES = 64 * 1024  # pyarrow reads a Parquet footer with a 64 KiB read from the end
BLOCK_BYTES = 4 * 1024 * 1024  # the smallest ranged read that is not a tail
CHUNK_BYTES = 8 * 1024 * 1024  # one range of a sequential reader
MAX_FETCH_BYTES = 32 * 1024 * 1024  # one request at most (a larger read is several)


class RequestLimiter:
    """Bounds on a store's requests: in flight (adaptive) and read-ahead bytes. Thread-safe.

    `request()` is held around one HTTP request (and the reading of its body); `throttled()` is
    called by the retry policy on a 429/503, `succeeded()` after each request that went through."""

    def __init__(self, max_requests: int, max_bytes: int) -> None:
        self.max_requests = max(1, max_requests)
        self.limit = self.max_requests
        self.max_bytes = max(1, max_bytes)
        self.in_flight = 0
        self.reserved = 0
        self.throttles = 0
        self.peak_in_flight = 0
        self._ok = 0
        self._cond = threading.Condition()

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._cond:
            while self.in_flight >= self.limit:
                self._cond.wait()
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify()

    def throttled(self) -> None:
        """The store answered 429 or 503: halve the requests allowed in flight."""
        with self._cond:
            self.throttles += 1
            self.limit = max(1, self.limit // 2)
            self._ok = 0

    def succeeded(self) -> None:
        """A request went through: after `limit` of them in a row, allow one more in flight."""
        with self._cond:
            if self.limit >= self.max_requests:
                return
            self._ok += 1
            if self._ok >= self.limit:
                self.limit += 1
                self._ok = 0
                self._cond.notify()

    def try_reserve(self, n: int, force: bool = False) -> bool:
        """Reserve `n` read-ahead bytes; False when that would pass max_bytes (unless `force`: a
        reader with nothing in flight always gets one range, so every reader makes progress)."""
        with self._cond:
            if not force and self.reserved + n > self.max_bytes:
                return False
            self.reserved += n
            return True

    def release(self, n: int) -> None:
        with self._cond:
            self.reserved = max(0, self.reserved - n)


class ReadAhead:
    """Where a store's readers fetch ahead: its pool, its limiter (for the bytes), the range size
    and the most ranges one reader keeps in flight."""

    def __init__(self, pool: Executor, limiter: RequestLimiter, chunk_bytes: int = CHUNK_BYTES,
                 max_ahead: int = 8) -> None:
        self.pool = pool
        self.limiter = limiter
        self.chunk_bytes = chunk_bytes
        self.max_ahead = max(1, max_ahead)


class RangeReader(io.RawIOBase):
    """A seekable raw reader of one remote file of known `size` (see the module docstring).

    `data`: the whole file, already in memory (a WholeFileCache hit): no request at all.
    `on_whole(data)`: called when one request fetched the whole file."""

    def __init__(self, size: int, fetch: Fetch, *, label: str = "", tail_bytes: int = TAIL_BYTES,
                 block_bytes: int = BLOCK_BYTES, read_ahead: ReadAhead | None = None, data: bytes | None = None,
                 on_whole: Callable[[bytes], object] | None = None) -> None:
        super().__init__()
        self._size = size
        self._fetch = fetch
        self._label = label
        self._tail_bytes = max(8, tail_bytes)
        self._block_bytes = max(1, block_bytes)
        self._read_ahead = read_ahead
        self._on_whole = on_whole
        self._pos = 0
        self._segments: list[tuple[int, bytes]] = []  # most recent last
        self._tail: tuple[int, bytes] | None = None
        self._last_end = -1  # where the previous fetch ended
        self._ahead: list[tuple[int, int, Future[bytes]]] = []  # (start, length, fetch), contiguous
        self.requests = 0  # fetches made by this reader (read-ahead included)
        if data is not None:
            self._segments.append((0, data))

    # -- io.RawIOBase

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    @property
    def size(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = seek_target(self._pos, self._size, offset, whence, f" in {self._label}")
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError(f"I/O operation on closed reader ({self._label})")
        want = len(buffer)
        if want == 0 or self._pos >= self._size:
            return 0
        start, data = self._segment_at(self._pos) or self._load(self._pos, want)
        off = self._pos - start
        n = min(want, len(data) - off)
        if n <= 0:  # the store gave fewer bytes than the listing's size
            raise OSError(f"{self._label}: the file is shorter than listed ({self._size} bytes)")
        memoryview(buffer)[:n] = memoryview(data)[off:off + n]
        self._pos += n
        return n

    def readall(self) -> bytes:
        """The rest of the file (io.RawIOBase.readall would call readinto 8 KiB at a time): ranges
        fetched as reads of that size would be, a range holding all of the rest returned as it is."""
        if self.closed:
            raise ValueError(f"I/O operation on closed reader ({self._label})")
        parts: list[bytes] = []
        while self._pos < self._size:
            start, data = self._segment_at(self._pos) or self._load(self._pos, 1)  # ranges as small reads get them
            off = self._pos - start
            end = min(len(data), self._size - start)
            if end <= off:  # the store gave fewer bytes than the listing's size
                raise OSError(f"{self._label}: the file is shorter than listed ({self._size} bytes)")
            parts.append(data if off == 0 and end == len(data) else bytes(memoryview(data)[off:end]))
            self._pos = start + end
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            self._cancel_ahead()
            self._segments = []
            self._tail = None
        super().close()

    # -- ranges

    def _segment_at(self, pos: int) -> tuple[int, bytes] | None:
        for seg in reversed(self._segments):
            if seg[0] <= pos < seg[0] + len(seg[1]):
                return seg
        if self._tail is not None and self._tail[0] <= pos < self._tail[0] + len(self._tail[1]):
            return self._tail
        return None

    def _keep(self, seg: tuple[int, bytes], tail: bool = False) -> tuple[int, bytes]:
        if tail:
            self._tail = seg
        else:
            self._segments.append(seg)
            del self._segments[:-2]  # the current range and the one before it (short backward seeks)
        return seg

    def _load(self, pos: int, want: int) -> tuple[int, bytes]:
        ahead = self._take_ahead(pos)
        if ahead is not None:
            self._top_up()
            return ahead
        self._cancel_ahead()  # a jump backwards: what was fetched ahead is not needed
        size = self._size
        tail = False
        block = self._read_ahead.chunk_bytes if self._read_ahead is not None else self._block_bytes
        if size <= self._tail_bytes:
            start, end = 0, size
        elif pos >= size - self._tail_bytes and self._read_ahead is None:
            start, end, tail = size - self._tail_bytes, size, True
        else:
            start, end = pos, min(size, pos + max(min(want, MAX_FETCH_BYTES), block))
        data = self._get(start, end - start)
        self._last_end = end
        if start == 0 and end == size and self._on_whole is not None:
            self._on_whole(data)
        seg = self._keep((start, data), tail)
        self._top_up()
        return seg

    def _get(self, start: int, length: int) -> bytes:
        self.requests += 1
        data = self._fetch(start, length)
        if len(data) != length:
            raise OSError(f"{self._label}: asked for {length} bytes at {start}, got {len(data)} (the file changed "
                          "or is shorter than listed)")
        return data

    # -- read-ahead

    def _take_ahead(self, pos: int) -> tuple[int, bytes] | None:
        """The fetched-ahead range holding `pos`; ranges wholly before it are dropped (skipped)."""
        ra = self._read_ahead
        while self._ahead and ra is not None:
            start, length, fut = self._ahead[0]
            if pos >= start + length:  # skipped over
                self._ahead.pop(0)
                fut.cancel()
                ra.limiter.release(length)
                continue
            if pos < start:
                return None
            self._ahead.pop(0)
            try:
                data = fut.result()
            finally:
                ra.limiter.release(length)
            self._last_end = start + length
            return self._keep((start, data))
        return None

    def _top_up(self) -> None:
        """Keep up to max_ahead ranges in flight after the last one fetched (sequential readers)."""
        ra = self._read_ahead
        if ra is None:
            return
        nxt = self._ahead[-1][0] + self._ahead[-1][1] if self._ahead else self._last_end
        while len(self._ahead) < ra.max_ahead and 0 <= nxt < self._size:
            length = min(ra.chunk_bytes, self._size - nxt)
            if not ra.limiter.try_reserve(length, force=not self._ahead):
                return
            self.requests += 1
            self._ahead.append((nxt, length, ra.pool.submit(self._fetch_exact, nxt, length)))
            nxt += length

    def _fetch_exact(self, start: int, length: int) -> bytes:
        data = self._fetch(start, length)
        if len(data) != length:
            raise OSError(f"{self._label}: asked for {length} bytes at {start}, got {len(data)} (the file changed "
                          "or is shorter than listed)")
        return data

    def _cancel_ahead(self) -> None:
        for _start, length, fut in self._ahead:
            fut.cancel()
            assert self._read_ahead is not None
            self._read_ahead.limiter.release(length)
        self._ahead = []


class WholeFileCache:
    """Whole small files by key, within `max_bytes` (a put that does not fit is dropped). Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, max_bytes)
        self.bytes = 0
        self.hits = 0
        self.accepting = True  # the planner stops new puts once the file facts are read
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> bool:
        with self._lock:
            if key in self._data:
                return True
            if not self.accepting or self.bytes + len(data) > self.max_bytes:
                return False
            self._data[key] = data
            self.bytes += len(data)
            return True

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._data.get(key)
            if data is not None:
                self.hits += 1
            return data

    def discard(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                data = self._data.pop(key, None)
                if data is not None:
                    self.bytes -= len(data)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
