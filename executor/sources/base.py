"""What every file store offers: a streamed listing, a seekable reader, and the path Spark reads;
and the I/O rules shared by every store (threads, what a remote store keeps between steps)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from executor.settings import Settings

PruneRule = Callable[[str], "str | None"]
"""Given a folder name, the reason to skip it (and everything below), or None to descend."""

LOCAL_IO_THREADS = 8  # local disk: reads cost microseconds, threads only overlap decoding
REMOTE_IO_THREADS = 32  # a remote store: each request waits a round trip (10-50 ms)
REMOTE_KINDS = frozenset({"azure_blob", "adls_gen2", "dbfs"})


class FileChangedError(OSError):
    """A listed file was replaced after the listing (its version changed)."""


# A listed file's read refused for the file's state, not its content: gone since the listing, not
# readable, replaced. Such a read fails the file's table; a reader that works around its content's
# problems (reading column by column, samples as best effort) lets these through.
FILE_STATE_ERRORS: tuple[type[OSError], ...] = (FileNotFoundError, PermissionError, FileChangedError)


@dataclass(frozen=True)
class FileInfo:
    relative: str  # path relative to the source root, '/'-separated; '' when the root is a file
    uri: str  # what this store's open() and spark_uri() take
    size: int
    modified: float | None = None  # POSIX seconds
    etag: str | None = None
    skip_reason: str | None = None  # set for entries the listing did not descend into

    @property
    def name(self) -> str:
        return self.relative.rsplit("/", 1)[-1] if self.relative else self.uri.rsplit("/", 1)[-1]


class ReadCounter:
    """Bytes a store fetched from storage (summary.bytes_read): counted where the bytes arrive (a local
    file's raw reads, an Azure ranged download), so read-ahead counts and bytes served from a buffer
    do not. Shared by the run's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = 0

    def __getstate__(self) -> dict[str, int]:  # a store pickled for a worker process counts on its own
        return {"bytes": self._bytes}

    def __setstate__(self, state: dict[str, int]) -> None:
        self._lock = threading.Lock()
        self._bytes = state["bytes"]

    def add(self, n: int) -> None:
        if n > 0:
            with self._lock:
                self._bytes += n

    @property
    def bytes(self) -> int:
        return self._bytes


class CountingFileIO(io.FileIO):
    """A local file's raw reader that adds every byte it reads to a ReadCounter."""

    def __init__(self, file: str | int, counter: ReadCounter, closefd: bool = True) -> None:
        super().__init__(file, "rb", closefd=closefd)
        self._counter = counter

    def readinto(self, buffer: Any) -> int | None:
        n = super().readinto(buffer)
        self._counter.add(n or 0)
        return n

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size) or b""  # None only for a non-blocking file, which this never is
        self._counter.add(len(data))
        return data

    def readall(self) -> bytes:
        data = super().readall()
        self._counter.add(len(data))
        return data


def bytes_read(store: object) -> int | None:
    """What `store` fetched so far (its ReadCounter), or None for a store that does not count."""
    counter = getattr(store, "counter", None)
    return counter.bytes if isinstance(counter, ReadCounter) else None


class FileStore(Protocol):
    """A place files live. Implementations: LocalFileStore, AzureBlobFileStore.

    A store may also offer (see the functions below, which fall back when it does not):
      open_sequential(uri)     open() for a read of the whole file: ranges fetched ahead in parallel
      cache                    a sources.ranges.WholeFileCache of small files read whole
      release_files(uris)      free what is held for these files only (tables run in parallel)
    """

    kind: str  # local | dbfs | azure_blob | adls_gen2

    def list_files(self, prune: PruneRule) -> Iterator[FileInfo]:
        """Every file under the root, streamed; pruned folders come back once with skip_reason."""
        ...

    def open(self, uri: str) -> BinaryIO:
        """A seekable binary reader of one file."""
        ...

    def spark_uri(self, uri: str) -> str:
        """The URI Spark reads this file (or folder) through."""
        ...

    def display(self, uri: str) -> str:
        """The path to record and show (no secrets)."""
        ...

    def configure_spark(self, spark: Any) -> None:
        """Give Spark what it needs to read this store's files (Azure: the account's credential)."""
        ...

    def release(self) -> None:
        """Free per-table resources after a table is extracted (Azure staging: its local copies)."""
        ...


def is_remote(store: Any) -> bool:
    """True for stores where each request costs a network round trip (Azure, DBFS through FUSE)."""
    return getattr(store, "kind", "local") in REMOTE_KINDS


def io_threads(settings: Settings, store: Any) -> int:
    """NUVYN_IO_THREADS, else the default of the store's kind."""
    if settings.io_threads:
        return settings.io_threads
    return REMOTE_IO_THREADS if is_remote(store) else LOCAL_IO_THREADS


def open_sequential(store: Any, uri: str) -> BinaryIO:
    """The file opened for a read from start to end (counts, scans, copies)."""
    opener = getattr(store, "open_sequential", None)
    got: BinaryIO = opener(uri) if opener is not None else store.open(uri)
    return got


def read_range(store: Any, uri: str, start: int, length: int) -> bytes:
    """`length` bytes of the file from `start` (fewer at its end): the store's own ranged read when
    it has one (Azure: the GET's body, not copied through a reader), else open, seek and read."""
    reader = getattr(store, "read_range", None)
    if reader is not None:
        got: bytes = reader(uri, start, length)
        return got
    with store.open(uri) as fh:
        fh.seek(start)
        data: bytes = fh.read(length)
        return data


def cached_bytes(store: Any, uri: str) -> bytes | None:
    """The whole file when the store's cache holds it (a decoder can then read memory: pyarrow
    over a Python file object takes the GIL for every read, which many threads queue for)."""
    cache = getattr(store, "cache", None)
    return cache.get(uri) if cache is not None else None


def forget_cached(store: Any, uris: Iterable[str]) -> None:
    """Drop these files from the store's cache of small files (no longer needed)."""
    cache = getattr(store, "cache", None)
    if cache is not None:
        cache.discard(uris)


def stop_caching(store: Any) -> None:
    """The file facts are read: later reads (samples, Delta logs) are not kept in the cache."""
    cache = getattr(store, "cache", None)
    if cache is not None:
        cache.accepting = False


def release_files(store: Any, uris: Iterable[str]) -> None:
    """Free what the store holds for these files (cached bytes, staged copies) after their table."""
    release = getattr(store, "release_files", None)
    if release is not None:
        release(list(uris))
    else:
        store.release()
