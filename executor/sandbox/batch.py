"""Calls of one small task from many threads, sent to the sandbox together ("group commit").

A sandbox task costs ~0.25 ms of the caller's CPU and about as much of a worker's besides its own
work: a lake of small Parquet files made a task per footer, 2,000 for 2,000 files. A `TaskBatcher`
gathers the calls that threads make at the same time into one task: a thread whose call finds
fewer batches in flight than the sandbox has workers sends every call queued by then (its own among
them, up to `max_items`) as one task, and the calls queued meanwhile go in the next. Nothing waits
for a batch to fill: alone, a call is sent alone (as `one`), at once.

A batch whose task fails (a crash, a hang, the memory bound, or one call's own exception) is sent
again call by call, so that each call gets its own result or error, naming its own file. A hostile
file then kills two workers instead of one, and a batch of footers too large together for the
worker's memory bound is read one footer a task.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)

R = TypeVar("R")


class Sandbox(Protocol):
    """What a TaskBatcher uses of executor.sandbox.pool.ReaderSandbox."""

    size: int

    @property
    def isolated(self) -> bool: ...

    def run(self, task: Callable[..., Any], *args: Any, path: str = ..., reader: str = ...) -> Any: ...


def run_each(one: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
    """The batch task: `one(*args)` for each call's arguments, in order (run in a worker)."""
    return [one(*args) for args in calls]


@dataclass
class _Call:
    args: tuple[Any, ...]
    path: str
    reader: str
    done: bool = False
    result: Any = None
    error: BaseException | None = field(default=None, repr=False)


class TaskBatcher(Generic[R]):  # noqa: UP046 - Python 3.10/3.11 run it too
    """`call(*args, path=..., reader=...)` runs `one(*args)` in the sandbox, gathered with the calls
    other threads make meanwhile into one task (`run_each`). `leaders`: batches in flight at once
    (the sandbox's workers). With the sandbox not isolated, each call runs `one` in its own thread."""

    def __init__(self, sandbox: Sandbox, one: Callable[..., R], *, leaders: int | None = None,
                 max_items: int = 64) -> None:
        self.sandbox = sandbox
        self.one = one
        self.leaders = max(1, leaders if leaders is not None else sandbox.size)
        self.max_items = max(1, max_items)
        self.batches = 0  # tasks of more than one call sent (for tests and logs)
        self._cond = threading.Condition()
        self._queue: list[_Call] = []
        self._leading = 0

    def call(self, *args: Any, path: str, reader: str) -> R:
        if not self.sandbox.isolated:
            alone: R = self.sandbox.run(self.one, *args, path=path, reader=reader)
            return alone
        mine = _Call(args, path, reader)
        with self._cond:
            self._queue.append(mine)
            while not mine.done:
                if self._leading < self.leaders and self._queue:
                    self._leading += 1
                    batch, self._queue = self._queue[: self.max_items], self._queue[self.max_items:]
                    self._cond.release()
                    try:
                        self._send(batch)
                    finally:
                        self._cond.acquire()
                        self._leading -= 1
                        self._cond.notify_all()
                else:
                    self._cond.wait()
        if mine.error is not None:
            raise mine.error
        result: R = mine.result
        return result

    def _send(self, batch: list[_Call]) -> None:
        """Every call of `batch` done: its result or its error set."""
        try:
            if len(batch) > 1:
                try:
                    results = self.sandbox.run(run_each, self.one, [c.args for c in batch],
                                               path=f"{len(batch)} files ({batch[0].path}, ...)",
                                               reader=batch[0].reader)
                except Exception as exc:  # noqa: BLE001 - each call is sent again alone: its own verdict
                    logger.info("a task of %d calls failed (%s); sending them one by one", len(batch), exc)
                else:
                    self.batches += 1
                    for c, r in zip(batch, results, strict=True):
                        c.result, c.done = r, True
                    return
            for c in batch:
                try:
                    c.result = self.sandbox.run(self.one, *c.args, path=c.path, reader=c.reader)
                except BaseException as exc:  # noqa: BLE001 - the caller's thread raises it
                    c.error = exc
                c.done = True
        finally:
            for c in batch:  # an interrupt mid-batch: no caller waits for ever
                if not c.done:
                    c.error, c.done = RuntimeError("the sandbox task was interrupted"), True
