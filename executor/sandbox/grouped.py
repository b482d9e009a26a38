"""Many small sandbox tasks sent as a few calls (group commit), each item's outcome its own.

A Parquet footer decodes in about 0.5 ms; one sandbox call around it costs the caller a worker, a
round trip to the process and the GIL on the way back, and with 32 I/O threads the calls queued for
a worker took longer than the decodes. Here a thread that brings an item finds either a free leader
slot (at most one per sandbox worker) and sends every pending item (up to `max_items`) as one call,
again until none is pending, or a leader already running, which takes its item in its next call.
Nothing waits for a batch to fill: an item that arrives while the sandbox is idle goes alone at
once.

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


class GroupedCalls(Generic[R]):  # noqa: UP046 - Python 3.10/3.11 run it too
    """`one(*item)` for each item, run in the sandbox as `many([item, ...])` calls (which must return
    one result per item, in order). Thread-safe; one per (sandbox, task)."""

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
        self._pending: list[tuple[tuple[Any, ...], str, Future[R]]] = []
        self._leaders = 0

    def __call__(self, item: tuple[Any, ...], path: str) -> R:
        """`one(*item)`'s result (or its exception, or the sandbox's verdict on this item alone);
        `path` names the file in error messages."""
        if not self._sandbox.isolated:
            return self._one(*item)
        future: Future[R] = Future()
        with self._lock:
            self._pending.append((item, path, future))
            lead = self._leaders < self._limit
            if lead:
                self._leaders += 1
        while lead:
            with self._lock:
                batch = self._pending[:self._max]
                del self._pending[:self._max]
                if not batch:
                    self._leaders -= 1
                    break
            try:
                self._send(batch)
            except BaseException as exc:  # an interrupt: no caller of the group, nor (the last leader
                with self._lock:          # gone) of the items queued behind it, is left waiting for ever
                    self._leaders -= 1
                    orphans = self._pending if self._leaders == 0 else []
                    if orphans:
                        self._pending = []
                for _, _, waiting in [*batch, *orphans]:
                    if not waiting.done():
                        waiting.set_exception(exc)
                raise
        return future.result()

    def _send(self, batch: list[tuple[tuple[Any, ...], str, Future[R]]]) -> None:
        if len(batch) > 1:
            try:
                results = self._sandbox.run(self._many, [item for item, _, _ in batch],
                                            path=f"{batch[0][1]} and {len(batch) - 1} other file(s)",
                                            reader=self._reader)
            except Exception:  # noqa: BLE001 - each item runs alone below and meets its own outcome
                results = None
            if isinstance(results, list) and len(results) == len(batch):
                for (_, _, future), result in zip(batch, results):
                    future.set_result(result)
                return
        for item, path, future in batch:
            try:
                future.set_result(self._sandbox.run(self._one, *item, path=path, reader=self._reader))
            except Exception as exc:  # noqa: BLE001 - the item's own outcome, raised in its caller
                future.set_exception(exc)
