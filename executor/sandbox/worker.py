"""A sandbox worker process: runs one task at a time for the parent (executor.sandbox.pool), reading
the caller's file through `RemoteFile`, whose every read is served by the parent.

Started by the pool as `python -c BOOT '<json config>'` with the parent's sys.path, so it imports
the same `executor` as the parent. It dies with the parent (PR_SET_PDEATHSIG), ignores SIGINT (the
parent decides when it ends), preloads the native readers once, says HELLO, then serves TASK frames
until EXIT or the socket closes. Its stdout and stderr go to a file the parent reads when it dies.
"""

from __future__ import annotations

import ctypes
import importlib
import io
import mmap
import os
import pickle
import signal
import socket
import sys
import threading
import time
from typing import Any

from executor.positions import seek_target
from executor.redaction import redact_text
from executor.sandbox.protocol import (
    ACK,
    ERROR,
    EXIT,
    FD,
    HEADER,
    HELLO,
    OK,
    READ,
    READ_ERROR,
    READ_REQUEST,
    TASK,
    WINDOW,
    WINDOW_PART,
    ProtocolError,
    recv_exact_blocking,
    recv_frame_blocking,
    result_parts,
    rss_bytes,
    send_frame,
)

_PR_SET_PDEATHSIG = 1


class _SeekableReader(io.RawIOBase):
    """A read-only file of known size with its own position (the two below)."""

    def __init__(self, size: int, name: str) -> None:
        super().__init__()
        self._size = size
        self._pos = 0
        self.name = name
        self.reads = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = seek_target(self._pos, self._size, offset, whence)
        return self._pos


class RemoteFile(_SeekableReader):
    """A read-only, seekable file whose bytes live in the parent: each read asks the parent for
    (offset, length) and copies them out of the shared window. pyarrow (ParquetFile,
    orc.ORCFile) and fastavro take it like any Python file object."""

    def __init__(self, sock: socket.socket, window: mmap.mmap, size: int, name: str) -> None:
        super().__init__(size, name)
        self._sock = sock
        self._window = window
        self._lock = threading.Lock()

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = self._fetch(self._pos, len(view), view)
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = max(self._size - self._pos, 0)
        chunks: list[bytes] = []
        n = self._fetch(self._pos, size, chunks)
        self._pos += n
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def readall(self) -> bytes:
        return self.read(-1)

    def _fetch(self, offset: int, length: int, into: memoryview | list[bytes]) -> int:
        """Ask the parent for `length` bytes at `offset`, copied into the memoryview `into` or
        appended to the list `into` part by part (memory grows with what arrives, not with what a
        corrupt length asks for); the count received (fewer at the end of the file)."""
        if self.closed:
            raise ValueError("I/O operation on a closed file")
        length = min(length, max(self._size - offset, 0))
        if length == 0:
            return 0
        with self._lock:
            self.reads += 1
            send_frame(self._sock, READ, READ_REQUEST.pack(offset, length))
            got = 0
            while True:
                kind, body = recv_frame_blocking(self._sock)
                if kind == WINDOW:
                    n, last = WINDOW_PART.unpack(body)
                    if got + n > length or n > len(self._window):
                        raise ProtocolError(f"the parent sent {got + n} bytes for a read of {length}")
                    if isinstance(into, list):
                        into.append(self._window[:n])
                    else:
                        into[got:got + n] = memoryview(self._window)[:n]
                    got += n
                    if last:
                        return int(got)
                    send_frame(self._sock, ACK)
                elif kind == READ_ERROR:
                    raise OSError(body.decode("utf-8", "replace"))
                else:
                    raise ProtocolError(f"unexpected frame {kind!r} while reading")


class LocalFile(_SeekableReader):
    """A local file the parent opened, read here with pread on a duplicate of its descriptor
    (the parent's file position is shared with the duplicate, so it is never moved)."""

    def __init__(self, fd: int, size: int, name: str) -> None:
        super().__init__(size, name)
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def readinto(self, buffer: Any) -> int:
        n = os.preadv(self._fd, [buffer], self._pos)
        self.reads += 1
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = max(self._size - self._pos, 0)
        data = os.pread(self._fd, size, self._pos)
        self.reads += 1
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def _recv_fd(sock: socket.socket) -> int:
    """The descriptor the parent sends right after a TASK whose source is a local file."""
    data, fds, _flags, _addr = socket.recv_fds(sock, HEADER.size, 1)
    if len(data) < HEADER.size:
        rest = bytearray(HEADER.size - len(data))
        recv_exact_blocking(sock, memoryview(rest))
        data += bytes(rest)
    if HEADER.unpack(data)[0] != FD or len(fds) != 1:
        raise ProtocolError("expected a file descriptor from the parent")
    return fds[0]


def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this process when the parent's spawning thread (the pool's spawner, which
    lives as long as the pool) or the parent itself ends; and end now if the parent is already gone."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return redact_text(text.splitlines()[0][:500])


def _run_task(sock: socket.socket, window: mmap.mmap, body: bytearray) -> None:
    func, args, kwargs, source = pickle.loads(body)
    handle: Any = None
    remote: RemoteFile | LocalFile | None = None
    if source is not None:
        kind = source[0]
        if kind in ("remote", "fd"):
            _kind, size, name, read_ahead = source
            remote = (RemoteFile(sock, window, size, name) if kind == "remote"
                      else LocalFile(_recv_fd(sock), size, name))
            handle = io.BufferedReader(remote, read_ahead) if read_ahead > 0 else remote
        else:
            handle = io.BytesIO(source[1])
    try:
        result = func(handle, *args, **kwargs) if source is not None else func(*args, **kwargs)
        parts = result_parts(result)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller as data
        kind_ = type(exc)
        send_frame(sock, ERROR, pickle.dumps((kind_.__module__, kind_.__qualname__, _first_line(exc)), protocol=5))
        return  # after a MemoryError the parent retires this worker
    finally:
        if remote is not None:
            remote.close()
    send_frame(sock, OK, pickle.dumps([p.nbytes for p in parts], protocol=5))
    _send_parts(sock, window, parts)


def _send_parts(sock: socket.socket, window: mmap.mmap, parts: list[memoryview]) -> None:
    """The result's bytes through the shared window, a window at a time (the parent ACKs each part
    but the last)."""
    view = memoryview(window)
    total = sum(p.nbytes for p in parts)
    sent = filled = 0
    try:
        for part in parts:
            at = 0
            while at < part.nbytes:
                n = min(len(view) - filled, part.nbytes - at)
                view[filled:filled + n] = part[at:at + n]
                filled += n
                at += n
                if filled == len(view) and sent + filled < total:
                    send_frame(sock, WINDOW, WINDOW_PART.pack(filled, 0))
                    sent += filled
                    filled = 0
                    kind, _body = recv_frame_blocking(sock)
                    if kind != ACK:
                        raise ProtocolError(f"unexpected frame {kind!r} while sending a result")
        send_frame(sock, WINDOW, WINDOW_PART.pack(filled, 1))
    finally:
        view.release()


def main(config: dict[str, Any]) -> None:
    _die_with_parent(int(config["ppid"]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=int(config["fd"]))
    window = mmap.mmap(int(config["window_fd"]), int(config["window_bytes"]))
    os.close(int(config["window_fd"]))
    times: dict[str, float] = {}
    for module in config.get("preload", []):
        t0 = time.perf_counter()
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        times[module] = time.perf_counter() - t0
    send_frame(sock, HELLO, pickle.dumps({"pid": os.getpid(), "rss": rss_bytes(os.getpid()), "preload": times}, protocol=5))
    while True:
        try:
            kind, body = recv_frame_blocking(sock)
        except EOFError:
            return
        if kind == EXIT:
            return
        if kind != TASK:
            raise ProtocolError(f"unexpected frame {kind!r} while idle")
        _run_task(sock, window, body)
