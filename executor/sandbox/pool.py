"""Native readers run isolated: a small pool of persistent worker processes that decode file contents
with pyarrow / fastavro, so that a file that crashes (SIGABRT, SIGSEGV), hangs or eats memory in
native code fails that file's table and not the run.

Storage I/O stays in this process: a task reads the caller's file through a proxy whose reads are
served here (the caller's own file object, in the calling thread); a plain local file (open(path,
"rb"), DBFS FUSE included) is handed to the worker as a duplicate descriptor that it preads, with
no round trip per read. Only decoding runs in a worker. See docs/ARCHITECTURE.md, "Native readers
run isolated", for the measured costs.

    sandbox = ReaderSandbox(SandboxSettings.from_env(env))
    facts = sandbox.run(read_facts, columns, file=fh, path="sales/part-0001.parquet",
                        reader="Parquet reader")
    sandbox.close()

`read_facts(f, columns)` is an importable (module-level) function; `f` is a seekable binary file
(the proxy, the local file, or the caller's object itself when isolation is off). Its result comes back pickled
and is rebuilt by protocol.ResultUnpickler (plain values, Arrow data, the executor's dataclasses).
"""

from __future__ import annotations

import atexit
import io
import json
import logging
import mmap
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TypeVar

from executor.errors import ExecutorError
from executor.redaction import SECRETS, Redactor
from executor.sandbox import protocol as wire
from executor.sandbox.grouped import GroupedCalls
from executor.settings import MIB, SandboxSettings

__all__ = ["SandboxSettings"]  # re-exported: the settings class lives in executor.settings

logger = logging.getLogger(__name__)

R = TypeVar("R")

DEFAULT_PRELOAD = ("pyarrow", "pyarrow.parquet", "pyarrow.orc", "fastavro")
# a run's workers also import the readers their tasks live in (about 0.2 s, paid at start, not by a read)
READER_PRELOAD = (*DEFAULT_PRELOAD, "executor.metadata.readers.registry")
_POLL_SECONDS = 0.05  # how often a busy worker's memory is looked at
_START_FAILURES = 3  # consecutive workers that fail to start before the pool gives up
_SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CONNECTION_STRING", "SAS", "CREDENTIAL")

# The worker's first code: take the parent's sys.path, then run executor.sandbox.worker.
_BOOT = ("import sys,json;c=json.loads(sys.argv[1]);p=c['path'];"
         "sys.path[:]=p+[x for x in sys.path if x not in p];"
         "from executor.sandbox.worker import main;main(c)")


# ------------------------------------------------------------------------------------ settings


def scrub_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for worker processes: `env` without the variables that hold credentials
    (names containing KEY, SECRET, TOKEN, PASSWORD, CONNECTION_STRING, SAS, CREDENTIAL). Workers
    decode file contents and never talk to storage, so they need none. The entry point passes
    os.environ through this (only entry points read the environment)."""
    return {k: v for k, v in env.items() if not any(w in k.upper() for w in _SECRET_WORDS)}


# -------------------------------------------------------------------------------------- errors


class SandboxError(ExecutorError):
    """A read in the sandbox did not finish: the worker crashed, ran too long or used too much
    memory (the file's table fails; the run goes on), or no worker could run at all."""

    def __init__(self, message: str, path: str | None = None, reader: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.reader = reader


class ReaderCrashed(SandboxError):
    """The worker died while reading a file (a signal such as SIGABRT or SIGSEGV, or an exit)."""

    def __init__(self, message: str, path: str | None = None, reader: str | None = None,
                 signal_name: str | None = None, exit_code: int | None = None) -> None:
        super().__init__(message, path, reader)
        self.signal_name = signal_name
        self.exit_code = exit_code


class ReaderTimedOut(SandboxError):
    """The worker ran past the time limit on one file and was killed."""


class ReaderOutOfMemory(SandboxError):
    """The worker went past the memory bound on one file and was killed (or a read asked for more
    bytes than the bound)."""


class SandboxUnavailable(SandboxError):
    """No worker can run: it cannot start, the pool is closed, or this is a forked child."""


class RemoteError(Exception):
    """An exception raised by a task whose type cannot be rebuilt here: `type_name: message`."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


class _Died(Exception):
    pass


class _Overtime(Exception):
    pass


class _OverMemory(Exception):
    def __init__(self, rss: int) -> None:
        super().__init__(rss)
        self.rss = rss


# -------------------------------------------------------------------------------------- worker


class _Watch:
    """Waits for a worker's socket, raising _Overtime past the deadline and _OverMemory when the
    worker's resident memory goes past the bound (looked at every _POLL_SECONDS)."""

    def __init__(self, pid: int, seconds: float, memory_limit: int | None) -> None:
        self.pid = pid
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.memory_limit = memory_limit
        self._next_look = time.monotonic() + _POLL_SECONDS

    def extend(self, seconds: float) -> None:
        self.deadline += seconds

    def wait(self, poller: select.poll) -> None:
        while True:
            now = time.monotonic()
            if self.memory_limit is not None and now >= self._next_look:
                rss = wire.rss_bytes(self.pid)
                if rss is not None and rss > self.memory_limit:
                    raise _OverMemory(rss)
                self._next_look = now + _POLL_SECONDS
            if now >= self.deadline:
                raise _Overtime()
            if poller.poll(max(1, int(min(self.deadline - now, _POLL_SECONDS) * 1000))):
                return


class _Worker:
    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, errfile: Any, window: mmap.mmap) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.sock = sock
        self.errfile = errfile
        self.window = window
        self.ready = False
        self.reusable = False  # set when a call ends with the worker in a known state
        self.tasks = 0
        self.poller = select.poll()
        self.poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)

    def send(self, kind: bytes, body: bytes | bytearray | memoryview = b"") -> None:
        try:
            wire.send_frame(self.sock, kind, body)
        except OSError as exc:
            raise _Died() from exc

    def send_fd(self, fd: int) -> None:
        try:
            socket.send_fds(self.sock, [wire.HEADER.pack(wire.FD, 0)], [fd])
        except OSError as exc:
            raise _Died() from exc

    def _recv_into(self, view: memoryview, watch: _Watch) -> None:
        got = 0
        while got < len(view):
            watch.wait(self.poller)
            try:
                n = self.sock.recv_into(view[got:])
            except OSError as exc:
                raise _Died() from exc
            if n == 0:
                raise _Died()
            got += n

    def recv(self, watch: _Watch, limit: int) -> tuple[bytes, bytearray]:
        """One frame; a body announced larger than `limit` bytes is never allocated (_OverMemory)."""
        head = bytearray(wire.HEADER.size)
        self._recv_into(memoryview(head), watch)
        kind, size = wire.HEADER.unpack(head)
        if size > limit:
            raise _OverMemory(size)
        body = bytearray(size)
        self._recv_into(memoryview(body), watch)
        return kind, body

    def clear_stderr(self) -> None:
        try:
            os.ftruncate(self.errfile.fileno(), 0)
        except OSError:
            pass

    def stderr_tail(self, limit: int = 4096) -> str:
        try:
            fd = self.errfile.fileno()
            size = os.fstat(fd).st_size
            return os.pread(fd, limit, max(0, size - limit)).decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def exit_status(self) -> int:
        """The worker's return code once it has died (killed if it lingers)."""
        try:
            return self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_files()

    def stop(self) -> None:
        """Ask the worker to end; kill it if it does not within a second."""
        if self.proc.poll() is None:
            try:
                wire.send_frame(self.sock, wire.EXIT)
                self.proc.wait(1)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def _close_files(self) -> None:
        for f in (self.sock, self.errfile, self.window):
            try:
                f.close()
            except (OSError, BufferError):  # BufferError: a call in flight still views the window
                pass


def _native_detail(tail: str) -> str:
    """The native library's last words on stderr: C++'s `what():` line, else the last line."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if "what():" in line:
            return line.split("what():", 1)[1].strip()[:300]
    return lines[-1][:300] if lines else ""


def _describe_exit(code: int) -> tuple[str, str | None]:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return name, name
    return f"exit code {code}", None


def _rebuild(module: str, qualname: str, message: str) -> Exception:
    """The task's exception as this process knows its type: `cls(message)` when the type is an
    already imported Exception that takes one message, else RemoteError."""
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if isinstance(obj, type) and issubclass(obj, Exception):
        try:
            exc = obj(message)
        except Exception:  # noqa: BLE001 - a type whose constructor wants more: RemoteError below
            exc = None
        if isinstance(exc, obj):
            return exc
    return RemoteError(qualname, message)


def _local_fd(fh: Any) -> int | None:
    """The descriptor of a plain local file opened for reading only (open(path, "rb") or a FileIO),
    which a worker can pread itself; None for anything else (remote readers, decompressors, BytesIO)
    whose reads this process serves. The local store's CountingFileIO (a subclass: it counts the
    run's bytes_read) is served here too, so that every byte a worker reads is counted."""
    raw = fh.raw if type(fh) is io.BufferedReader else fh
    if type(raw) is not io.FileIO or raw.closed or raw.mode != "rb":
        return None
    return raw.fileno()


def _tell(fh: Any) -> int | None:
    try:
        return int(fh.tell())
    except (AttributeError, OSError, ValueError):
        return None


def _restore(fh: Any, position: int) -> None:
    """Put the caller's file back where it was (the reads served for the worker moved it)."""
    try:
        fh.seek(position)
    except (OSError, ValueError):
        pass


def _file_size(fh: Any) -> int | None:
    """Size of a seekable file object (None when it cannot seek)."""
    try:
        if not fh.seekable():
            return None
        return int(fh.seek(0, os.SEEK_END))
    except (AttributeError, OSError, ValueError):
        return None


@dataclass
class SandboxStats:
    """Counters of one pool, for logs, benchmarks and tests."""

    calls: int = 0
    reads: int = 0
    read_bytes: int = 0
    workers_started: int = 0
    crashes: int = 0
    timeouts: int = 0
    memory_kills: int = 0
    task_errors: int = 0
    start_seconds: list[float] = field(default_factory=list)


# --------------------------------------------------------------------------------------- pool

_POOLS: weakref.WeakSet[ReaderSandbox] = weakref.WeakSet()


class _Spawner:
    """One long-lived thread that starts every worker. Linux's PR_SET_PDEATHSIG fires when the
    *thread* that created a child ends, so workers must not be created by the caller's threads
    (a ThreadPoolExecutor's threads end when it shuts down): this thread lives as long as the pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[Callable[[], Any], Future[Any]] | None] = []
        self._ready = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        fut: Future[Any] = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="nuvyn-sandbox-spawner", daemon=True)
                self._thread.start()
            self._items.append((fn, fut))
            self._ready.notify()
        return fut

    def stop(self) -> None:
        with self._lock:
            if self._thread is None:
                return
            self._items.append(None)
            self._ready.notify()
            thread = self._thread
        if thread is not threading.current_thread():
            thread.join(10)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._items:
                    self._ready.wait()
                item = self._items.pop(0)
            if item is None:
                return
            fn, fut = item
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
                fut.set_exception(exc)


class ReaderSandbox:
    """A pool of worker processes that run reader tasks; safe to use from many threads at once (a
    call waits for a free worker). With `settings.isolation` false, tasks run in this process.

    `env`: the workers' environment (None = this process's; pass scrub_environment(os.environ)).
    `preload`: modules each worker imports once when it starts (missing ones are skipped).
    `result_globals`: (module, name) pairs results may refer to beyond protocol's safe set.
    """

    def __init__(self, settings: SandboxSettings | None = None, *, env: Mapping[str, str] | None = None,
                 preload: Iterable[str] = DEFAULT_PRELOAD, result_globals: Iterable[tuple[str, str]] = (),
                 secrets: Redactor = SECRETS, start_timeout: float = 60.0) -> None:
        self.settings = settings or SandboxSettings()
        self.size = self.settings.worker_count()
        self.memory_limit = self.settings.memory_bytes()
        self._env = dict(env) if env is not None else None
        self._preload = list(preload)
        self._result_globals = frozenset(result_globals)
        self._secrets = secrets
        self._start_timeout = start_timeout
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._live = 0
        self._closed = False
        self._broken: str | None = None
        self._start_failures = 0
        self._spawner = _Spawner()
        self._stats = SandboxStats()
        self._grouped: dict[Callable[..., Any], GroupedCalls[Any]] = {}
        self._pid = os.getpid()
        _install_hooks()
        _POOLS.add(self)

    # ---------------------------------------------------------------- public

    @property
    def isolated(self) -> bool:
        """True when tasks run in worker processes (False: in this process)."""
        return self.settings.isolation

    def run(self, task: Callable[..., R], *args: Any, file: BinaryIO | bytes | bytearray | None = None,
            path: str = "a file", reader: str = "reader", timeout: float | None = None, read_ahead: int = 0,
            **kwargs: Any) -> R:
        """`task(f, *args, **kwargs)` in a worker, where `f` reads `file`; `task(*args, **kwargs)`
        when `file` is None. `file` is a seekable binary file object: a plain local file
        (open(path, "rb")) is read by the worker itself through a duplicate of its descriptor, any
        other object (the Azure blob reader) has its reads served by this process, in this thread;
        or bytes the caller already holds. The caller's file position is left where it was.

        `path` and `reader` ("Parquet reader") name the file and the reader in error messages;
        `timeout` overrides settings.timeout_seconds; `read_ahead` > 0 wraps the proxy in an
        io.BufferedReader of that size (for readers that make many small reads, like fastavro).
        Raises ReaderCrashed, ReaderTimedOut, ReaderOutOfMemory (the worker is replaced), the
        task's own exception rebuilt with its type and first line (RemoteError when the type
        cannot be rebuilt), the caller's file's own exception when a read of it failed, or
        SandboxUnavailable."""
        if not self.settings.isolation:
            return self._run_here(task, args, kwargs, file, read_ahead)
        if os.getpid() != self._pid:  # checked before taking a lock a parent thread may have held at fork
            raise SandboxUnavailable("the reader sandbox cannot be used in a forked process; create one "
                                     "in this process", path, reader)
        source: tuple[Any, ...] | None = None
        position: int | None = None  # where the caller's file was (restored after a proxied read)
        if isinstance(file, (bytes, bytearray, memoryview)):
            source = ("bytes", bytes(file))
        elif file is not None:
            fd = _local_fd(file)
            position = None if fd is not None else _tell(file)
            size = os.fstat(fd).st_size if fd is not None else _file_size(file)
            if size is None:
                data = file.read(self.memory_limit + 1)
                if len(data) > self.memory_limit:
                    raise ReaderOutOfMemory(f"{path} cannot be seeked and is larger than the {reader}'s memory "
                                            f"bound ({self.memory_limit // MIB} MiB, NUVYN_READER_MEMORY_MB)",
                                            path, reader)
                source, file = ("bytes", data), None
            else:
                source = ("fd" if fd is not None else "remote", size, path, read_ahead)
        payload = pickle.dumps((task, args, kwargs, source), protocol=5)
        worker = self._acquire(path, reader)
        worker.reusable = False
        try:
            result: R = self._call(worker, payload, file, path, reader,
                                   self.settings.timeout_seconds if timeout is None else timeout)
            return result
        finally:
            self._release(worker, worker.reusable)
            if position is not None and source is not None and source[0] == "remote":
                _restore(file, position)

    def grouped(self, many: Callable[[Sequence[tuple[Any, ...]]], list[R]], one: Callable[..., R],
                reader: str) -> GroupedCalls[R]:
        """This sandbox's GroupedCalls of `many` (made at first use): `grouped(item, path)` is
        `one(*item)`, sent with the other threads' pending items as one `many(items)` call
        (executor/sandbox/grouped.py)."""
        with self._cond:
            calls = self._grouped.get(many)
            if calls is None:
                calls = self._grouped[many] = GroupedCalls(self, many, one, reader)
            return calls

    def start(self, count: int | None = None) -> None:
        """Start up to `count` workers now (all by default) and wait until they are ready, so the
        first reads do not pay for it."""
        if not self.settings.isolation:
            return
        want = self.size if count is None else min(count, self.size)
        started: list[_Worker] = []
        with self._cond:
            new = max(0, min(want - len(self._idle), self.size - self._live))
            self._live += new
        try:
            for _ in range(new):
                started.append(self._spawn())
            for w in started:
                self._handshake(w, "a worker start", "reader")
        except BaseException:
            with self._cond:
                self._live -= new - len(started)
                self._cond.notify_all()
            for w in started:
                self._release(w, False)
            raise
        for w in started:
            self._release(w, True)

    def stats(self) -> SandboxStats:
        with self._cond:
            s = self._stats
            return SandboxStats(s.calls, s.reads, s.read_bytes, s.workers_started, s.crashes, s.timeouts,
                                s.memory_kills, s.task_errors, list(s.start_seconds))

    def worker_pids(self) -> list[int]:
        with self._cond:
            return sorted(w.pid for w in self._all)

    def close(self) -> None:
        """Stop the idle workers now and the busy ones when their call returns; later calls raise
        SandboxUnavailable. Idempotent; also run at interpreter exit."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for w in idle:
            self._forget(w)
            w.stop()
        self._spawner.stop()

    def _kill_all(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._idle = []
        for w in workers:
            w.kill()

    def __enter__(self) -> ReaderSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- in process

    @staticmethod
    def _run_here(task: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any],
                  file: BinaryIO | bytes | bytearray | None, read_ahead: int) -> R:
        if file is None:
            return task(*args, **kwargs)
        handle: Any = io.BytesIO(bytes(file)) if isinstance(file, (bytes, bytearray, memoryview)) else file
        handle.seek(0)
        return task(handle, *args, **kwargs)

    # ---------------------------------------------------------------- workers

    def _acquire(self, path: str, reader: str) -> _Worker:
        with self._cond:
            while True:
                self._check_usable(path, reader)
                if self._idle:
                    return self._idle.pop()
                if self._live < self.size:
                    self._live += 1
                    break
                self._cond.wait()
        try:
            return self._spawn()
        except BaseException:
            with self._cond:
                self._live -= 1
                self._cond.notify()
            raise

    def _check_usable(self, path: str, reader: str) -> None:
        if self._closed:
            raise SandboxUnavailable(f"the reader sandbox is closed; {path} was not read", path, reader)
        if self._broken:
            raise SandboxUnavailable(self._broken, path, reader)

    def _spawn(self) -> _Worker:
        worker: _Worker = self._spawner.submit(self._popen).result()
        with self._cond:
            self._all.add(worker)
            self._stats.workers_started += 1
        return worker

    def _popen(self) -> _Worker:
        """Runs in the spawner thread: a new worker process (not yet ready)."""
        if not sys.executable:
            raise SandboxUnavailable("the reader sandbox needs sys.executable (a Python interpreter) to start "
                                     "workers; set NUVYN_READER_ISOLATION=false")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        errfile = tempfile.TemporaryFile(mode="a+b")  # O_APPEND: truncating it between tasks is safe
        window_fd = wire.shared_window()
        config = {"fd": child.fileno(), "window_fd": window_fd, "window_bytes": wire.WINDOW_BYTES,
                  "ppid": os.getpid(), "preload": self._preload, "path": [p for p in sys.path if isinstance(p, str)]}
        try:
            window = mmap.mmap(window_fd, wire.WINDOW_BYTES)
            proc = subprocess.Popen([sys.executable, "-c", _BOOT, json.dumps(config)], stdin=subprocess.DEVNULL,
                                    stdout=errfile, stderr=errfile, pass_fds=(child.fileno(), window_fd),
                                    env=self._env, close_fds=True)
        except OSError as exc:
            parent.close()
            errfile.close()
            raise SandboxUnavailable(f"the reader sandbox cannot start a worker ({exc}); set "
                                     "NUVYN_READER_ISOLATION=false to read in process") from None
        finally:
            child.close()
            os.close(window_fd)
        try:
            return _Worker(proc, parent, errfile, window)
        except BaseException:
            proc.kill()
            proc.wait()
            raise

    def _handshake(self, w: _Worker, path: str, reader: str) -> None:
        """Wait for a new worker's HELLO (its imports done)."""
        t0 = time.monotonic()
        try:
            kind, body = w.recv(_Watch(w.pid, self._start_timeout, None), 1 << 20)
            if kind != wire.HELLO:
                raise _Died()
        except (_Died, _Overtime, _OverMemory) as exc:
            if not isinstance(exc, _Died):
                w.kill()
            code = w.exit_status()
            tail = self._secrets.redact(w.stderr_tail())
            what = (f"did not start within {self._start_timeout:g} s" if isinstance(exc, _Overtime)
                    else f"ended at start ({_describe_exit(code)[0]})")
            message = (f"the reader sandbox cannot start a worker: it {what}"
                       f"{': ' + _native_detail(tail) if tail.strip() else ''}; set NUVYN_READER_ISOLATION=false "
                       "to read in process")
            logger.error("%s\n%s", message, tail)
            with self._cond:
                self._start_failures += 1
                if self._start_failures >= _START_FAILURES:
                    self._broken = message
            raise SandboxUnavailable(message, path, reader) from None
        hello = wire.load_result(body)
        w.ready = True
        seconds = time.monotonic() - t0
        with self._cond:
            self._start_failures = 0
            self._stats.start_seconds.append(seconds)
        logger.debug("sandbox worker %d ready in %.3f s (rss %s, preload %s)", w.pid, seconds, hello.get("rss"),
                     hello.get("preload"))

    def _release(self, w: _Worker, healthy: bool) -> None:
        with self._cond:
            keep = healthy and not self._closed and os.getpid() == self._pid
            if keep:
                self._idle.append(w)
            else:
                self._all.discard(w)
                self._live -= 1
            self._cond.notify()
        if keep:
            return
        if healthy:
            w.stop()
        else:
            w.kill()

    def _forget(self, w: _Worker) -> None:
        with self._cond:
            self._all.discard(w)
            self._live -= 1

    # ---------------------------------------------------------------- one call

    def _call(self, w: _Worker, payload: bytes, file: Any, path: str, reader: str,
              timeout: float) -> Any:
        if not w.ready:
            self._handshake(w, path, reader)
        with self._cond:
            self._stats.calls += 1
        w.clear_stderr()
        watch = _Watch(w.pid, timeout, self.memory_limit)
        storage_error: BaseException | None = None
        try:
            w.send(wire.TASK, payload)
            fd = _local_fd(file)
            if fd is not None:
                w.send_fd(fd)
            while True:
                kind, body = w.recv(watch, self.memory_limit)
                if kind == wire.READ:
                    t0 = time.monotonic()
                    offset, length = wire.READ_REQUEST.unpack(body)
                    error = self._serve_read(w, watch, file, offset, length, path, reader)
                    storage_error = storage_error or error
                    watch.extend(time.monotonic() - t0)
                elif kind == wire.OK:
                    result = self._receive_result(w, watch, body)
                    w.tasks += 1
                    rss = wire.rss_bytes(w.pid)  # a worker holding more than half the bound is replaced
                    w.reusable = rss is None or rss <= self.memory_limit // 2
                    return result
                elif kind == wire.ERROR:
                    module, qualname, message = wire.load_result(body)
                    with self._cond:
                        self._stats.task_errors += 1
                    w.tasks += 1
                    w.reusable = qualname != "MemoryError"  # after a MemoryError its heap may be in any state
                    if storage_error is not None:
                        raise storage_error
                    if qualname == "MemoryError":
                        raise ReaderOutOfMemory(
                            f"the {reader} ran out of memory reading {path} ({self._secrets.redact(message)}); "
                            "the file may be corrupt or hostile", path, reader)
                    raise _rebuild(module, qualname, self._secrets.redact(message))
                else:
                    raise _Died()
        except _Died:
            raise self._died(w, path, reader) from None
        except _Overtime:
            w.kill()
            with self._cond:
                self._stats.timeouts += 1
            message = (f"the {reader} did not finish reading {path} within {watch.seconds:g} s and was stopped "
                       "(NUVYN_READER_TIMEOUT_SECONDS); the file may be corrupt or hostile")
            logger.warning("%s", message)
            raise ReaderTimedOut(message, path, reader) from None
        except _OverMemory as exc:
            w.kill()
            with self._cond:
                self._stats.memory_kills += 1
            message = (f"the {reader} used more than {self.memory_limit // MIB} MiB of memory reading {path} "
                       f"({exc.rss // MIB} MiB) and was stopped (NUVYN_READER_MEMORY_MB); the file may be corrupt "
                       "or hostile")
            logger.warning("%s", message)
            raise ReaderOutOfMemory(message, path, reader) from None

    def _receive_result(self, w: _Worker, watch: _Watch, body: bytearray) -> Any:
        """The parts the worker puts in the window after OK (their sizes are OK's body), rebuilt:
        part 0 is the pickle, the others its out-of-band buffers."""
        sizes = wire.load_result(body)
        if (not isinstance(sizes, list) or not sizes or not all(type(n) is int and n >= 0 for n in sizes)):
            raise _Died()
        if sum(sizes) > self.memory_limit:
            raise _OverMemory(sum(sizes))
        parts = [bytearray(n) for n in sizes]
        view = memoryview(w.window)
        index = at = received = 0
        try:
            while True:
                kind, frame = w.recv(watch, wire.WINDOW_PART.size)
                if kind != wire.WINDOW:
                    raise _Died()
                n, last = wire.WINDOW_PART.unpack(frame)
                if n > len(view):
                    raise _Died()
                taken = 0
                while taken < n:
                    while index < len(parts) and at == len(parts[index]):
                        index, at = index + 1, 0
                    if index == len(parts):
                        raise _Died()  # more bytes than announced
                    k = min(n - taken, len(parts[index]) - at)
                    parts[index][at:at + k] = view[taken:taken + k]
                    taken += k
                    at += k
                received += n
                if last:
                    break
                w.send(wire.ACK)
        finally:
            view.release()
        if received != sum(sizes):
            raise _Died()  # fewer bytes than announced
        return wire.load_result(parts[0], self._result_globals, parts[1:])

    def _died(self, w: _Worker, path: str, reader: str) -> SandboxError:
        code = w.exit_status()
        tail = self._secrets.redact(w.stderr_tail())
        with self._cond:
            closed = self._closed
            if not closed:
                self._stats.crashes += 1
        if closed:
            return SandboxUnavailable(f"the reader sandbox was closed while reading {path}", path, reader)
        what, sig = _describe_exit(code)
        detail = _native_detail(tail)
        message = (f"the {reader} crashed ({what}) reading {path}; the file is corrupt or hostile"
                   + (f" ({detail})" if detail else ""))
        if tail.strip():
            logger.warning("%s; worker %d's last output:\n%s", message, w.pid, tail.rstrip())
        else:
            logger.warning("%s", message)
        return ReaderCrashed(message, path, reader, signal_name=sig, exit_code=code)

    def _serve_read(self, w: _Worker, watch: _Watch, file: Any, offset: int, length: int, path: str,
                    reader: str) -> BaseException | None:
        """Put `length` bytes of `file` at `offset` in the worker's window, a window at a time
        (waiting for its ACK between parts); a failure of the caller's file goes to the worker as
        READ_ERROR and is returned (raised if the task then fails)."""
        if length > self.memory_limit:
            w.send(wire.READ_ERROR, f"a read of {length} bytes is larger than the memory bound".encode())
            return ReaderOutOfMemory(f"the {reader} asked for {length} bytes at once reading {path}, more than its "
                                     f"memory bound ({self.memory_limit // MIB} MiB, NUVYN_READER_MEMORY_MB); "
                                     "the file may be corrupt or hostile", path, reader)
        sent = 0
        view = memoryview(w.window)
        try:
            try:
                file.seek(offset)
            except Exception as exc:  # noqa: BLE001 - the caller's storage failed: the task sees an OSError
                return self._read_failed(w, exc)
            while True:
                want = min(len(view), length - sent)
                try:
                    n = _fill(file, view[:want])
                except Exception as exc:  # noqa: BLE001 - as above
                    return self._read_failed(w, exc)
                sent += n
                last = n < want or sent >= length
                w.send(wire.WINDOW, wire.WINDOW_PART.pack(n, last))
                if last:
                    break
                kind, _body = w.recv(watch, 0)
                if kind != wire.ACK:
                    raise _Died()
        finally:
            view.release()
        with self._cond:
            self._stats.reads += 1
            self._stats.read_bytes += sent
        return None

    def _read_failed(self, w: _Worker, exc: BaseException) -> BaseException:
        text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        w.send(wire.READ_ERROR, self._secrets.redact(text).encode("utf-8", "replace"))
        return exc


def _fill(file: Any, view: memoryview) -> int:
    """Read from `file` into `view` until it is full or the file ends; the count read."""
    got = 0
    readinto = getattr(file, "readinto", None)
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            data = file.read(len(view) - got)
            n = len(data) if data else 0
            view[got:got + n] = data[:n] if n else b""
        if not n:
            break
        got += n
    return got


_SHARED: list[ReaderSandbox] = []
_SHARED_LOCK = threading.Lock()


def use_shared_sandbox(sandbox: ReaderSandbox) -> None:
    """Make `sandbox` the process's shared one (the unit tests decode in process with it)."""
    with _SHARED_LOCK:
        _SHARED[:] = [sandbox]


def shared_sandbox() -> ReaderSandbox:
    """The process's own sandbox (default settings, this process's environment), made at first use
    and closed at interpreter exit: for callers that build a MetadataExtractor or plan a source
    without a run context (tests, benchmarks, notebooks). A run's ExecutorContext makes its own
    (its settings, workers without credentials in their environment) and closes it."""
    with _SHARED_LOCK:
        if not _SHARED or (_SHARED[0].isolated and (_SHARED[0]._closed or _SHARED[0]._pid != os.getpid())):
            _SHARED[:] = [ReaderSandbox(SandboxSettings(), preload=READER_PRELOAD)]
        return _SHARED[0]


def in_process() -> ReaderSandbox:
    """A sandbox that runs tasks in this process (no isolation, no worker): the default of a
    FileContext/TableContext built without a run."""
    return ReaderSandbox(SandboxSettings(isolation=False))


def _close_all_at_exit() -> None:
    for pool in list(_POOLS):
        pool._kill_all()


def _after_fork_in_child() -> None:
    # The child's copies of the pools refer to the parent's workers: never use or kill them here.
    for pool in list(_POOLS):
        pool._idle = []
        pool._all = set()


_HOOKS: list[bool] = []


def _install_hooks() -> None:
    """Once, when the first pool is made (nothing runs at import): kill workers at interpreter exit,
    and make a forked child's pools forget the parent's workers."""
    if _HOOKS:
        return
    _HOOKS.append(True)
    atexit.register(_close_all_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
