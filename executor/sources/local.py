"""Local and DBFS (through the /dbfs FUSE mount) files.

A store built with `confined=` (a job the API started: executor.sources.policy.SourceGuard) never
lets the kernel follow a symlink: every path is opened relative to the allowed root, one component
at a time (openat with O_NOFOLLOW; O_DIRECTORY for folders), a symlink met on the way is read and
followed by hand only while it stays below the root, and a file with more than one hard link is
refused (a hard link placed in the root to a file outside it cannot be told from the file). So a
folder or file swapped for a symlink after the API's check, or after the listing, is not read.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import posixpath
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

from executor.errors import SourceError
from executor.sources.base import CountingFileIO, FileInfo, PruneRule, ReadCounter

logger = logging.getLogger(__name__)


_GLOB_CHARS = "\\*?[]{}"


def escape_glob(path: str) -> str:
    """Spark globs the paths it is given; a file named `a[1].csv` must not be a pattern."""
    return "".join("\\" + ch if ch in _GLOB_CHARS else ch for ch in path)


class OutsideRoot(SourceError):
    """A path that leads (through a symlink, `..` or a swap) out of the allowed root."""


_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)  # Linux: search permission is enough for a folder on the way
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block the open; it is refused after fstat
MAX_LINKS = 40  # symlinks followed in one path, as the kernel's own bound


class ConfinedRoot:
    """An allowed root folder (a real path) and the openat walk below it.

    `open_fd(parts)` returns a file descriptor for `parts` (components below the root), opened with
    O_NOFOLLOW at every step from the root's own descriptor; a symlink met on the way is read
    (readlink) and followed by hand while its target stays below the root, else OutsideRoot.
    `names` of the result are the physical components (no symlink among them when it was opened)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._fd: int | None = None
        self._lock = threading.Lock()

    def _root_fd(self) -> int:
        with self._lock:  # the reader threads share it
            if self._fd is None:
                self._fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
            return self._fd

    def __getstate__(self) -> dict[str, Any]:  # a worker process opens the root again
        return {"root": self.root}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"])  # type: ignore[misc]

    def parts_of(self, path: str) -> list[str] | None:
        """Components of an absolute path below the root (lexically), or None when it is not below."""
        norm = posixpath.normpath(path)
        if norm == self.root:
            return []
        prefix = self.root.rstrip("/") + "/"
        return norm[len(prefix):].split("/") if norm.startswith(prefix) else None

    def open_fd(self, parts: Sequence[str], *, folder: bool | None = None, shown: str = "",
                path_only: bool = False) -> tuple[int, list[str]]:
        """(descriptor, physical components) of `parts`; `folder` True/False requires one, None takes
        either (a FIFO, device or socket is opened without blocking, for the caller to refuse).
        `path_only`: an O_PATH descriptor (fstat only; no read permission needed), where available."""
        pending = deque(p for p in parts if p not in ("", "."))
        stack = [os.dup(self._root_fd())]
        names: list[str] = []
        links = 0
        try:
            while pending:
                name = pending.popleft()
                if name == "..":
                    if len(stack) == 1:
                        raise OutsideRoot(f"{shown or name!r} leads out of the allowed root {self.root}")
                    os.close(stack.pop())
                    names.pop()
                    continue
                last = not pending
                flags = os.O_NOFOLLOW | _O_CLOEXEC
                if not last:
                    flags |= _O_PATH | os.O_DIRECTORY
                elif path_only:
                    flags |= _O_PATH | (os.O_DIRECTORY if folder else 0)
                else:
                    flags |= os.O_RDONLY | _O_NONBLOCK | (os.O_DIRECTORY if folder else 0)
                try:
                    fd = os.open(name, flags, dir_fd=stack[-1])
                    if stat.S_ISLNK(os.fstat(fd).st_mode):  # O_PATH | O_NOFOLLOW opens the link itself
                        os.close(fd)
                        raise OSError(errno.ELOOP, "a symlink", name)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) or not self._is_link(name, stack[-1]):
                        raise
                    links += 1
                    if links > MAX_LINKS:
                        raise OSError(errno.ELOOP, "too many levels of symbolic links", shown) from None
                    target = os.readlink(name, dir_fd=stack[-1])
                    if target.startswith("/"):
                        below = self.parts_of(target)
                        if below is None:
                            raise OutsideRoot(f"{shown or name!r} is a symlink out of the allowed root {self.root}") \
                                from None
                        for extra in stack[1:]:
                            os.close(extra)
                        del stack[1:]
                        names.clear()
                        pending.extendleft(reversed(below))
                    else:
                        pending.extendleft(reversed(target.split("/")))
                    continue
                stack.append(fd)
                names.append(name)
            fd = stack.pop()
            if folder is False and stat.S_ISDIR(os.fstat(fd).st_mode):
                os.close(fd)
                raise IsADirectoryError(errno.EISDIR, "is a folder", shown)
            return fd, names
        finally:
            for extra in stack:
                os.close(extra)

    @staticmethod
    def _is_link(name: str, dir_fd: int) -> bool:
        try:
            return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        except OSError:
            return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _file_problem(st: os.stat_result) -> str | None:
    """Why a confined store refuses an opened entry, or None for a plain file."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_nlink > 1:
        return f"more than one hard link ({st.st_nlink}; refused under NUVYN_API_SOURCE_ROOTS)"
    return None


def _folder_entries(stat_folder: Callable[[], os.stat_result], scan: Callable[[], Iterator[os.DirEntry[str]]],
                    folder: str, rel: str, seen: set[tuple[int, int]]) -> list[os.DirEntry[str]] | FileInfo:
    """A folder's entries sorted by name, or the listing row that says why it is skipped: a folder
    already walked (a symlink loop), or one that cannot be listed. `stat_folder` and `scan` look at
    the folder by descriptor or by path (the walk's two ways)."""
    try:
        st = stat_folder()
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return FileInfo(rel + "/", folder, 0, skip_reason="symlink loop")
        seen.add(key)
        return sorted(scan(), key=lambda e: e.name)
    except PermissionError:
        return FileInfo(rel + "/", folder, 0, skip_reason="permission denied")
    except OSError as exc:
        return FileInfo(rel + "/", folder, 0, skip_reason=f"unreadable folder ({exc.strerror})")


class LocalFileStore:
    """Files on a local (or FUSE-mounted) file system.

    The walk never leaves the source root: a symlink whose target (resolved) lies outside the root
    is reported with a skip_reason and not followed; so is anything that is not a regular file
    (FIFO, device such as /dev/zero, socket), which could block or never end when read.

    `spark_prefix` maps a local path back to the URI Spark should read: '' means file:// URIs;
    for DBFS the FUSE path /dbfs/x is read by Spark as dbfs:/x.
    """

    def __init__(self, root: str, kind: str = "local", fuse_root: str | None = None,
                 spark_scheme: str | None = None, *, confined: ConfinedRoot | None = None,
                 below: Sequence[str] = ()) -> None:
        self.kind = kind
        self.root = os.path.abspath(root)
        self._real_root = os.path.realpath(self.root)
        self._fuse_root = fuse_root  # '/dbfs' for DBFS
        self._spark_scheme = spark_scheme  # 'dbfs:' for DBFS
        self._confined = confined  # the allowed root this store must not leave (a job of the API)
        self._below = list(below)  # the source's components below it (resolved when the job started)
        self.counter = ReadCounter()  # bytes read from files (summary.bytes_read)

    # ------------------------------------------------------------------ confined (a job of the API)
    def _parts(self, uri: str) -> list[str]:
        """Components below the allowed root of a path of this store (a listing's uri, or a path a
        reader built from one: a Delta log's relative file)."""
        norm = posixpath.normpath(uri)
        if norm == self.root:
            return list(self._below)
        if not norm.startswith(self.root.rstrip("/") + "/"):
            raise OutsideRoot(f"{uri!r} is outside the source {self.root}: not read (NUVYN_API_SOURCE_ROOTS)")
        return self._below + norm[len(self.root.rstrip("/")) + 1:].split("/")

    def _open_confined(self, uri: str, folder: bool | None, path_only: bool = False) -> tuple[int, list[str]]:
        assert self._confined is not None
        try:
            return self._confined.open_fd(self._parts(uri), folder=folder, shown=uri, path_only=path_only)
        except OutsideRoot:
            raise
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise OutsideRoot(f"{uri!r}: too many symlinks") from None
            if isinstance(exc, (FileNotFoundError, PermissionError)) and exc.filename != uri:
                # named by the path asked for, as an unconfined open names it (the component the
                # walk stopped at may be a folder, or a name shared by files of other partitions)
                raise type(exc)(exc.errno, exc.strerror, uri) from None
            raise

    def _check_root_confined(self) -> None:
        try:
            fd, _ = self._open_confined(self.root, None, path_only=True)
        except OutsideRoot as exc:
            raise SourceError(f"Source path {self.display(self.root)} is refused: {exc}") from None
        except FileNotFoundError:
            raise SourceError(f"Source path {self.display(self.root)} does not exist; check data_source_path") \
                from None
        except PermissionError:
            raise SourceError(f"Source path {self.display(self.root)} is not readable (permission denied)") from None
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if not stat.S_ISDIR(st.st_mode) and _file_problem(st):
            raise SourceError(f"Source path {self.display(self.root)} is refused: {_file_problem(st)}"
                              if stat.S_ISREG(st.st_mode) else
                              f"Source path {self.display(self.root)} is neither a folder nor a regular file "
                              "(FIFOs, devices and sockets are refused)")

    def _list_confined(self, prune: PruneRule) -> Iterator[FileInfo]:
        self._check_root_confined()
        fd, _ = self._open_confined(self.root, None)
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode):
            os.close(fd)
            yield FileInfo("", self.root, st.st_size, st.st_mtime)
            return
        yield from self._walk_fd(fd, self.root, "", prune, set())

    def _walk_fd(self, fd: int, folder: str, rel: str, prune: PruneRule, seen: set[tuple[int, int]]) -> Iterator[FileInfo]:
        """The listing of one opened folder (`fd`, closed here), entries reached by name relative to it."""
        try:
            listed = _folder_entries(lambda: os.fstat(fd), lambda: os.scandir(fd), folder, rel, seen)
            if isinstance(listed, FileInfo):
                yield listed
                return
            for entry in listed:
                yield from self._entry(fd, entry, folder, rel, prune, seen)
        finally:
            os.close(fd)

    def _entry(self, dir_fd: int, entry: os.DirEntry[str], folder: str, rel: str, prune: PruneRule,
               seen: set[tuple[int, int]]) -> Iterator[FileInfo]:
        """One entry of an opened folder: a plain file or folder is looked at relative to the folder's
        descriptor without following links (fstatat, openat with O_NOFOLLOW); a symlink, or an entry
        that has become one since the scan, is opened again from the root and followed by hand."""
        name = entry.name
        child_rel = f"{rel}/{name}" if rel else name
        path = f"{folder}/{name}"
        try:
            if not entry.is_symlink():
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode) and not stat.S_ISLNK(st.st_mode):
                    problem = _file_problem(st)
                    yield (FileInfo(child_rel, path, 0, skip_reason=problem) if problem
                           else FileInfo(child_rel, path, st.st_size, st.st_mtime))
                    return
        except FileNotFoundError:
            yield FileInfo(child_rel, path, 0, skip_reason="disappeared while listed")
            return
        except OSError as exc:
            yield FileInfo(child_rel, path, 0, skip_reason=f"unreadable ({exc.strerror})")
            return
        try:
            child, _ = self._open_confined(path, None, path_only=True)
        except OutsideRoot:
            yield FileInfo(child_rel, path, 0, skip_reason="symlink out of the source root")
            return
        except PermissionError:
            yield FileInfo(child_rel, path, 0, skip_reason="unreadable (permission denied)")
            return
        except OSError:
            yield FileInfo(child_rel, path, 0, skip_reason="broken link")
            return
        st = os.fstat(child)
        if stat.S_ISDIR(st.st_mode):
            reason = prune(name)
            if reason:
                os.close(child)
                yield FileInfo(child_rel + "/", path, 0, skip_reason=reason)
                return
            try:  # the folder itself, readable (its O_PATH descriptor cannot be listed)
                listed = os.open(".", os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC, dir_fd=child)
            except PermissionError:
                yield FileInfo(child_rel + "/", path, 0, skip_reason="permission denied")
                return
            finally:
                os.close(child)
            yield from self._walk_fd(listed, path, child_rel, prune, seen)
            return
        os.close(child)
        problem = _file_problem(st)
        if problem:
            yield FileInfo(child_rel, path, 0, skip_reason=problem)
            return
        yield FileInfo(child_rel, path, st.st_size, st.st_mtime)

    def physical_path(self, uri: str) -> str:
        """A confined store's path of `uri` with no symlink on it (checked now: below the root, a folder
        or a plain file with one link). What Spark is given: it opens paths itself, following links."""
        assert self._confined is not None
        fd, names = self._open_confined(uri, None, path_only=True)
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if not stat.S_ISDIR(st.st_mode) and _file_problem(st):
            raise SourceError(f"{uri} is refused: {_file_problem(st)}")
        return "/".join([self._confined.root.rstrip("/"), *names]) if names else self._confined.root

    def check_root(self) -> None:
        if self._confined is not None:
            self._check_root_confined()
            return
        if not os.path.exists(self.root):
            raise SourceError(f"Source path {self.display(self.root)} does not exist; check data_source_path")
        if not (os.path.isdir(self.root) or os.path.isfile(self.root)):
            raise SourceError(f"Source path {self.display(self.root)} is neither a folder nor a regular file "
                              "(FIFOs, devices and sockets are refused)")
        if not os.access(self.root, os.R_OK):
            raise SourceError(f"Source path {self.display(self.root)} is not readable (permission denied)")

    def list_files(self, prune: PruneRule) -> Iterator[FileInfo]:
        if self._confined is not None:
            yield from self._list_confined(prune)
            return
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

    def _walk(self, folder: str, rel: str, prune: PruneRule, seen: set[tuple[int, int]]) -> Iterator[FileInfo]:
        entries = _folder_entries(lambda: os.stat(folder), lambda: os.scandir(folder), folder, rel, seen)
        if isinstance(entries, FileInfo):
            yield entries
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
        """A buffered reader whose raw reads are counted (self.counter)."""
        if self._confined is None:
            return cast(BinaryIO, io.BufferedReader(CountingFileIO(uri, self.counter)))
        fd, _ = self._open_confined(uri, False)
        try:
            problem = _file_problem(os.fstat(fd))
            if problem:
                raise SourceError(f"{uri} is refused: {problem}")
            os.set_blocking(fd, True)
            return cast(BinaryIO, io.BufferedReader(CountingFileIO(fd, self.counter)))
        except BaseException:
            os.close(fd)
            raise

    def spark_uri(self, uri: str) -> str:
        """A Hadoop path string: raw characters (Hadoop quotes them itself), glob characters escaped.
        Confined: the physical path, checked now (executor.sources.local docstring; docs/API.md says
        what remains between this check and Spark's own open)."""
        if self._confined is not None:
            uri = self.physical_path(uri)
        if self._fuse_root and self._spark_scheme and uri.startswith(self._fuse_root):
            return escape_glob(self._spark_scheme + uri[len(self._fuse_root):])
        return escape_glob("file:" + Path(uri).as_posix())

    def configure_spark(self, spark: Any) -> None:
        """Local and DBFS files need no Spark settings."""

    def release(self) -> None:
        """Nothing is held per table."""

    def display(self, uri: str) -> str:
        return self.spark_uri(uri) if self._spark_scheme else uri
