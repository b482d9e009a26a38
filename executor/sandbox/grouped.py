"""Many small sandbox tasks sent as a few calls (group commit), each item's outcome its own.

A Parquet footer decodes in about 0.5 ms; one sandbox call around it costs the caller a worker, a
round trip to the process and the GIL on the way back, and with 32 I/O threads the calls queued for
a worker took longer than the decodes. Here a thread that brings an item finds either a free leader
slot (at most one per sandbox worker) and sends the pending items (up to `max_items`, oldest first)
as one call, again until its own item is done, or no free slot, and waits: for its item's result,
which a leader's call brings, or for the slot a leader hands it (the caller of the oldest item
still pending) when its own item is done. A leader works for its own item and the ones ahead of
it, never for the items that keep arriving behind it: its own result (its file's facts, its
table's readiness) is not held back while the others' files stream in. Each caller is woken by
its own result or its own turn, never all of them at every call. Nothing waits for a batch to
fill: an item that arrives while the sandbox is idle goes alone at once.

An item's outcome never depends on its neighbours: when a grouped call fails in any way (a task
error, a worker that crashed, ran out of time or of memory on a hostile file), each of its items
runs again alone, so the file that killed the worker fails its own table with the sandbox's verdict
and the others get their own results.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, Protocol, TypeVar

R = TypeVar("R")

MAX_ITEMS = 32  # items in one call: about 50 KB of footers, 15-20 ms of decoding


class Runner(Protocol):
    """What a GroupedCalls needs of the sandbox (pool.ReaderSandbox)."""

    size: int

    @property
    def isolated(self) -> bool: ...

    def run(self, task: Callable[..., Any], *args: Any, path: str = ..., reader: str = ...) -> Any: ...


class _Entry(Generic[R]):  # noqa: UP046 - Python 3.10/3.11 run it too
    """An item, its caller's future, and how its caller is woken (its result came, or the leader
    slot was handed to it)."""

    __slots__ = ("args", "future", "leading", "path", "promoted", "wake")

    def __init__(self, args: tuple[Any, ...], path: str) -> None:
        self.args = args
        self.path = path
        self.future: Future[R] = Future()
        self.wake = threading.Event()
        self.future.add_done_callback(lambda _: self.wake.set())
        self.leading = False  # its caller holds a leader slot
        self.promoted = False  # a leader handed its slot to this item's caller


class GroupedCalls(Generic[R]):  # noqa: UP046 - Python 3.10/3.11 run it too
    """`one(*item)` for each item, run in the sandbox as `many([item, ...])` calls (which must return
    one result per item, in order). Thread-safe; one per (sandbox, task)."""

    entry = _Entry  # what a caller's item is kept in (a test wakes a caller in its own way)

    def __init__(self, sandbox: Runner, many: Callable[[Sequence[tuple[Any, ...]]], list[R]],
                 one: Callable[..., R], reader: str, max_items: int = MAX_ITEMS,
                 leaders: int | None = None) -> None:
        self._sandbox = sandbox
        self._many = many
        self._one = one
        self._reader = reader
        self._max = max(1, max_items)
        self._limit = max(1, leaders if leaders is not None else sandbox.size)
        self._lock = threading.Lock()
        self._pending: list[_Entry[R]] = []
        self._leaders = 0

    def __call__(self, item: tuple[Any, ...], path: str) -> R:
        """`one(*item)`'s result (or its exception, or the sandbox's verdict on this item alone);
        `path` names the file in error messages."""
        if not self._sandbox.isolated:
            return self._one(*item)
        mine: _Entry[R] = self.entry(item, path)
        with self._lock:
            self._pending.append(mine)
            mine.leading = self._leaders < self._limit
            if mine.leading:
                self._leaders += 1
        while True:
            if mine.leading:
                self._lead(mine)
            if mine.future.done():
                return mine.future.result()
            try:
                mine.wake.wait()
            except BaseException:  # an interrupt while waiting: the item is nobody's now
                with self._lock:
                    if mine in self._pending:
                        self._pending.remove(mine)
                    if mine.promoted:
                        self._hand_over()
                raise
            with self._lock:  # woken by its result (returned above) or by the slot handed to it
                mine.wake.clear()
                if mine.promoted:
                    mine.promoted, mine.leading = False, True

    def _lead(self, mine: _Entry[R]) -> None:
        """Send the pending items, oldest first, until `mine` is done (sent by this leader or by
        another one) or none is pending; then hand the slot over."""
        batch: list[_Entry[R]] = []
        try:
            while True:
                with self._lock:
                    if mine.future.done() or not self._pending:
                        return
                    batch = self._pending[:self._max]
                    del self._pending[:self._max]
                self._send(batch)
        except BaseException as exc:  # an interrupt: the group's callers (and this one) get it; the
            with self._lock:          # items still pending are sent by their own callers
                if mine in self._pending:
                    self._pending.remove(mine)
                    batch.append(mine)
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(exc)
            raise
        finally:
            with self._lock:
                mine.leading = False
                self._hand_over()

    def _hand_over(self) -> None:
        """A leader slot is given up (the lock held): to the caller of the oldest pending item that
        waits, else back to the pool of free slots."""
        heir = next((e for e in self._pending if not e.leading and not e.promoted), None)
        if heir is None:
            self._leaders -= 1
            return
        heir.promoted = True
        heir.wake.set()

    def _send(self, batch: list[_Entry[R]]) -> None:
        if len(batch) > 1:
            try:
                results = self._sandbox.run(self._many, [e.args for e in batch],
                                            path=f"{batch[0].path} and {len(batch) - 1} other file(s)",
                                            reader=self._reader)
            except Exception:  # noqa: BLE001 - each item runs alone below and meets its own outcome
                results = None
            if isinstance(results, list) and len(results) == len(batch):
                for entry, result in zip(batch, results):
                    entry.future.set_result(result)
                return
        for entry in batch:
            try:
                entry.future.set_result(self._sandbox.run(self._one, *entry.args, path=entry.path,
                                                          reader=self._reader))
            except Exception as exc:  # noqa: BLE001 - the item's own outcome, raised in its caller
                entry.future.set_exception(exc)
