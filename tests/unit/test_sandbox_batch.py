"""executor.sandbox.batch.TaskBatcher: calls threads make at the same time go as one task; a batch
whose task fails is sent again call by call, each caller getting its own result or error."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from executor.sandbox.batch import TaskBatcher, run_each


def square(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * x


class FakeSandbox:
    """Runs tasks in this thread, as ReaderSandbox.run would in a worker; records each task's calls.
    `gate`: the first task waits for it (so that calls queue meanwhile)."""

    def __init__(self, isolated: bool = True, size: int = 1) -> None:
        self.size = size
        self._isolated = isolated
        self.tasks: list[list[int]] = []
        self.gate: threading.Event | None = None
        self.lock = threading.Lock()

    @property
    def isolated(self) -> bool:
        return self._isolated

    def run(self, task: Any, *args: Any, path: str = "", reader: str = "") -> Any:
        with self.lock:
            calls = [a[0] for a in args[1]] if task is run_each else [args[0]]
            first = not self.tasks
            self.tasks.append(calls)
        if first and self.gate is not None:
            assert self.gate.wait(10)
        if task is run_each and any(x < 0 for x in calls):
            raise RuntimeError("the worker crashed")  # the whole task fails, as a crash does
        return task(*args)


def queued(batcher: TaskBatcher[Any], n: int) -> bool:
    with batcher._cond:  # noqa: SLF001 - the test waits for the calls to queue
        return len(batcher._queue) >= n  # noqa: SLF001


def run_together(box: FakeSandbox, values: list[int]) -> tuple[TaskBatcher[int], list[Any]]:
    """The first value's call is sent alone and held; the others queue meanwhile, then go."""
    batcher = TaskBatcher(box, square)
    box.gate = threading.Event()
    with ThreadPoolExecutor(len(values)) as pool:
        first = pool.submit(batcher.call, values[0], path=f"f{values[0]}", reader="r")
        while not box.tasks:
            pass
        rest = [pool.submit(batcher.call, v, path=f"f{v}", reader="r") for v in values[1:]]
        while not queued(batcher, len(values) - 1):
            pass
        box.gate.set()
        out: list[Any] = []
        for fut in [first, *rest]:
            try:
                out.append(fut.result(10))
            except Exception as exc:  # noqa: BLE001
                out.append(exc)
    return batcher, out


def test_calls_made_meanwhile_go_as_one_task():
    box = FakeSandbox()
    batcher, out = run_together(box, [1, 2, 3, 4, 5])
    assert out == [1, 4, 9, 16, 25]
    assert box.tasks[0] == [1] and sorted(box.tasks[1]) == [2, 3, 4, 5] and len(box.tasks) == 2
    assert batcher.batches == 1


def test_a_failed_batch_is_sent_again_call_by_call():
    box = FakeSandbox()
    batcher, out = run_together(box, [1, 2, -3, 4])
    assert out[:2] == [1, 4] and out[3] == 16
    assert isinstance(out[2], ValueError) and str(out[2]) == "negative: -3"  # its own error, to its caller only
    assert sorted(box.tasks[1]) == [-3, 2, 4] and sorted(sum(box.tasks[2:], [])) == [-3, 2, 4]
    assert batcher.batches == 0


def test_a_call_alone_is_sent_alone_at_once():
    box = FakeSandbox()
    batcher = TaskBatcher(box, square)
    assert batcher.call(7, path="f7", reader="r") == 49 and box.tasks == [[7]] and batcher.batches == 0
    with pytest.raises(ValueError, match="negative"):
        batcher.call(-1, path="f", reader="r")


def test_in_process_calls_are_not_gathered():
    box = FakeSandbox(isolated=False)
    batcher = TaskBatcher(box, square)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda v: batcher.call(v, path="f", reader="r"), range(8))) == [v * v for v in range(8)]
    assert all(len(t) == 1 for t in box.tasks) and len(box.tasks) == 8
