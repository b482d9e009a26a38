"""Run independent reads in the run's thread pool, safely from inside that same pool.

`fan_out(pool, fn, items)` returns `[fn(item) for item in items]`, in order, with the items run
by the pool's idle threads and by the caller at the same time: the caller does not block while
work it waits for sits in the pool's queue. Each item is claimed once, by whichever thread
reaches it first (a pool thread or the caller walking the list), so a caller that is itself a
pool thread (a CSV count fanned out into ranges, a table extracted in the pool) never waits for a
queue that only it could drain: no deadlock whatever the pool size, and the pool's idle threads
add parallelism when there are some. The first item's error (in item order) is raised once
every claimed item has finished; items nobody started yet are dropped after an error.

`width` bounds how many items run at once (the caller included): that many walkers claim the
items in order, so the first items finish first instead of all of them sharing the link and
finishing together (a big file's ranges: each range is scanned as soon as it has arrived, while
the next ones download, with no more scans at once than the machine has room for).

Pure: threads only (no Spark, Azure or HTTP).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any


class _Item:
    __slots__ = ("arg", "claim", "done", "result", "error")

    def __init__(self, arg: Any) -> None:
        self.arg = arg
        self.claim = threading.Lock()
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


def fan_out(pool: Executor | None, fn: Callable[[Any], Any], items: Sequence[Any],
            width: int | None = None) -> list[Any]:
    """[fn(item) for item in items], run concurrently in `pool` and the calling thread; at most
    `width` at once when given, claimed in item order."""
    if pool is None or len(items) <= 1 or (width is not None and width <= 1):
        return [fn(item) for item in items]
    work = [_Item(item) for item in items]
    failed = threading.Event()

    def run(it: _Item) -> None:
        if not it.claim.acquire(blocking=False):
            return  # another thread has it
        try:
            if not failed.is_set():
                it.result = fn(it.arg)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            it.error = exc
            failed.set()
        finally:
            it.done.set()

    def walk() -> None:
        for it in work:
            run(it)

    # the caller starts on the first item at once; a pool thread runs one item, or walks the list
    # claiming items in order when the width is bounded
    tasks = [functools.partial(run, it) for it in work[1:]] if width is None else [walk] * (min(width, len(work)) - 1)
    for task in tasks:
        try:
            pool.submit(task)
        except RuntimeError:  # the pool is shut down: the caller runs the rest itself
            break
    walk()
    for it in work:
        it.done.wait()
    for it in work:
        if it.error is not None:
            raise it.error
    return [it.result for it in work]


class Task:
    """fn(arg) started in `pool` now; result() waits for it, or runs it in the caller when no pool
    thread has started it yet (so waiting from inside the pool never deadlocks); cancel() drops
    it when nobody has started it. For read-ahead: work started before it is needed."""

    def __init__(self, pool: Executor | None, fn: Callable[[Any], Any], arg: Any) -> None:
        self._fn = fn
        self._item = _Item(arg)
        if pool is not None:
            try:
                pool.submit(self._run)
            except RuntimeError:  # the pool is shut down: result() runs it
                pass

    def _run(self, skip: bool = False) -> None:
        it = self._item
        if not it.claim.acquire(blocking=False):
            return
        try:
            if not skip:
                it.result = self._fn(it.arg)
        except BaseException as exc:  # noqa: BLE001 - raised by result()
            it.error = exc
        finally:
            it.done.set()

    def result(self) -> Any:
        self._run()
        self._item.done.wait()
        if self._item.error is not None:
            raise self._item.error
        return self._item.result

    def cancel(self) -> None:
        self._run(skip=True)
