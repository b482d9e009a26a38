"""What every file store offers: a streamed listing, a seekable reader, and the path Spark reads."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

PruneRule = Callable[[str], "str | None"]
"""Given a folder name, the reason to skip it (and everything below), or None to descend."""


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
    """A place files live. Implementations: LocalFileStore, AzureBlobFileStore."""

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
