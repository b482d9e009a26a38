"""Compression of data files, independent of their format: the gzip/bzip2 suffix of a name, the
magic bytes of a compressed stream, and a streaming decompressor over an open file. Pure."""

from __future__ import annotations

import bz2
import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO, cast

from executor.sources.base import open_sequential

if TYPE_CHECKING:
    from executor.sources.base import FileStore

COMPRESSIONS: dict[str, str] = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bzip2"}

_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"


def split_compression(name: str) -> tuple[str, str | None]:
    """(name without a compression suffix, 'gzip' | 'bzip2' | None)."""
    lower = name.lower()
    for ext, codec in COMPRESSIONS.items():
        if lower.endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)], codec
    return name, None


def has_extension(name: str) -> bool:
    """True when the name (compression suffix removed) has a '.ext' part."""
    base = split_compression(name)[0]
    dot = base.rfind(".")
    return 0 < dot < len(base) - 1


def sniff_compression(head: bytes) -> str | None:
    """'gzip', 'bzip2' or None, from a file's first bytes."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_BZIP2_MAGIC) and len(head) > 3 and head[3:4].isdigit():
        return "bzip2"
    return None


def open_decompressed(raw: BinaryIO, codec: str | None) -> BinaryIO:
    """A streaming, decompressing binary reader over `raw` (returned as is when codec is None).
    Bounded memory on any size; seek(0) rewinds (the decompressor restarts). GzipFile and BZ2File
    are binary streams with every method BinaryIO names."""
    if codec == "gzip":
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))
    if codec == "bzip2":
        return cast(BinaryIO, bz2.BZ2File(raw, mode="rb"))
    return raw


@contextmanager
def open_data(store: FileStore, uri: str, codec: str | None, sequential: bool = False,
              whole: bool = False) -> Iterator[BinaryIO]:
    """A stored file as a binary stream, decompressed when it is gzip/bzip2 compressed.
    `sequential`: the whole file will be read (a remote store fetches ranges ahead, in parallel).
    `whole`: a small file read several times over (sniffed, its head parsed, counted) is fetched once
    into memory, so every pass after the first costs no read from storage (bytes_read counts it once)."""
    with (open_sequential(store, uri) if sequential else store.open(uri)) as stored:
        raw = cast(BinaryIO, io.BytesIO(stored.read())) if whole else stored
        stream = open_decompressed(raw, codec)
        try:
            yield stream
        finally:
            if stream is not raw:
                stream.close()
