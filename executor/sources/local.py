"""Local and DBFS (through the /dbfs FUSE mount) files."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from executor.errors import SourceError
from executor.sources.base import FileInfo, PruneRule

logger = logging.getLogger(__name__)


_GLOB_CHARS = "\\*?[]{}"


def escape_glob(path: str) -> str:
    """Spark globs the paths it is given; a file named `a[1].csv` must not be a pattern."""
    return "".join("\\" + ch if ch in _GLOB_CHARS else ch for ch in path)


class LocalFileStore:
    """Files on a local (or FUSE-mounted) file system.

    The walk never leaves the source root: a symlink whose target (resolved) lies outside the root
    is reported with a skip_reason and not followed; so is anything that is not a regular file
    (FIFO, device such as /dev/zero, socket), which could block or never end when read.

    `spark_prefix` maps a local path back to the URI Spark should read: '' means file:// URIs;
    for DBFS the FUSE path /dbfs/x is read by Spark as dbfs:/x.
    """

    def __init__(self, root: str, kind: str = "local", fuse_root: str | None = None,
                 spark_scheme: str | None = None) -> None:
        self.kind = kind
        self.root = os.path.abspath(root)
        self._real_root = os.path.realpath(self.root)
        self._fuse_root = fuse_root  # '/dbfs' for DBFS
        self._spark_scheme = spark_scheme  # 'dbfs:' for DBFS

    def check_root(self) -> None:
        if not os.path.exists(self.root):
            raise SourceError(f"Source path {self.display(self.root)} does not exist; check data_source_path")
        if not (os.path.isdir(self.root) or os.path.isfile(self.root)):
            raise SourceError(f"Source path {self.display(self.root)} is neither a folder nor a regular file "
                              "(FIFOs, devices and sockets are refused)")
        if not os.access(self.root, os.R_OK):
            raise SourceError(f"Source path {self.display(self.root)} is not readable (permission denied)")

    def list_files(self, prune: PruneRule) -> Iterator[FileInfo]:
        self.check_root()
        if os.path.isfile(self.root):
            st = os.stat(self.root)
            yield FileInfo("", self.root, st.st_size, st.st_mtime)
            return
        yield from self._walk(self.root, "", prune, set())

    def _outside(self, path: str) -> bool:
        """True when `path` resolves (symlinks followed) outside the source root."""
        real = os.path.realpath(path)
        root = self._real_root.rstrip("/") + "/"
        return not (real == self._real_root or real.startswith(root))

    def _walk(self, folder: str, rel: str, prune: PruneRule, seen: set) -> Iterator[FileInfo]:
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                yield FileInfo(rel + "/", folder, 0, skip_reason="symlink loop")
                return
            seen.add(key)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except PermissionError:
            yield FileInfo(rel + "/", folder, 0, skip_reason="permission denied")
            return
        except OSError as exc:
            yield FileInfo(rel + "/", folder, 0, skip_reason=f"unreadable folder ({exc.strerror})")
            return
        for entry in entries:
            child_rel = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_symlink() and self._outside(entry.path):
                    yield FileInfo(child_rel, entry.path, 0, skip_reason="symlink out of the source root")
                    continue
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                yield FileInfo(child_rel, entry.path, 0, skip_reason="broken link")
                continue
            if is_dir:
                reason = prune(entry.name)
                if reason:
                    yield FileInfo(child_rel + "/", entry.path, 0, skip_reason=reason)
                    continue
                yield from self._walk(entry.path, child_rel, prune, seen)
            else:
                try:
                    st = entry.stat(follow_symlinks=True)
                except OSError as exc:
                    yield FileInfo(child_rel, entry.path, 0, skip_reason=f"unreadable ({exc.strerror})")
                    continue
                if not stat.S_ISREG(st.st_mode):
                    yield FileInfo(child_rel, entry.path, 0, skip_reason="not a regular file")
                    continue
                yield FileInfo(child_rel, entry.path, st.st_size, st.st_mtime)

    def open(self, uri: str) -> BinaryIO:
        return open(uri, "rb")

    def spark_uri(self, uri: str) -> str:
        """A Hadoop path string: raw characters (Hadoop quotes them itself), glob characters escaped."""
        if self._fuse_root and self._spark_scheme and uri.startswith(self._fuse_root):
            return escape_glob(self._spark_scheme + uri[len(self._fuse_root):])
        return escape_glob("file:" + Path(uri).as_posix())

    def configure_spark(self, spark: Any) -> None:
        """Local and DBFS files need no Spark settings."""

    def release(self) -> None:
        """Nothing is held per table."""

    def display(self, uri: str) -> str:
        return self.spark_uri(uri) if self._spark_scheme else uri
