"""GroupedCalls' bookkeeping (executor/sandbox/grouped.py) on an in-process runner: the paths real
workers cannot show on demand (an interrupt while a group is out, a group whose answer has the wrong
length, isolation off). Grouping and a crashing item on real workers: tests/system/test_sandbox.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from executor.sandbox.grouped import GroupedCalls
from executor.sandbox.pool import ReaderSandbox
from executor.settings import SandboxSettings


def one(value: str) -> str:
    return value.upper()


def many(batch: list[tuple[str]]) -> list[str]:
    return [one(*item) for item in batch]


SLOW = 1.0  # the first item's call: the others start (a thread each) well within it, even on a loaded machine


class Runner:
    """Runs tasks here, as an isolated sandbox would in a worker; `on_group` decides a group's fate."""

    size = 2
    isolated = True

    def __init__(self, on_group: Callable[[list[tuple[str]]], Any]) -> None:
        self.on_group = on_group
        self.calls: list[tuple[str, int]] = []

    def run(self, task: Callable[..., Any], *args: Any, path: str = "", reader: str = "") -> Any:
        if task is many:
            self.calls.append(("group", len(args[0])))
            return self.on_group(args[0])
        self.calls.append(("one", 1))
        if args[0] == "slow":
            time.sleep(SLOW)
        return task(*args)


def _call_in_a_thread(calls: GroupedCalls[str], value: str, outcomes: dict[str, object]) -> threading.Thread:
    """`calls((value,))` in a daemon thread, its result or exception put in `outcomes` (a caller left
    waiting for ever fails the test instead of hanging the run)."""

    def call() -> None:
        try:
            outcomes[value] = calls((value,), f"{value}.bin")
        except BaseException as exc:  # noqa: BLE001 - the outcome is the test's
            outcomes[value] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def _joined(threads: list[threading.Thread], outcomes: dict[str, object], values: list[str]) -> list[object]:
    for t in threads:
        t.join(5)
    assert sorted(outcomes) == sorted(values), "a caller is still waiting"
    return [outcomes[v] for v in values]


def _queued_behind_a_slow_first(runner: Runner, values: list[str]) -> tuple[Any, list[Any]]:
    calls = GroupedCalls(runner, many, one, "test reader", leaders=1)
    outcomes: dict[str, object] = {}
    threads = [_call_in_a_thread(calls, "slow", outcomes)]
    time.sleep(0.1)
    threads += [_call_in_a_thread(calls, v, outcomes) for v in values]
    first, *rest = _joined(threads, outcomes, ["slow", *values])
    return first, rest


def test_a_group_whose_answer_has_the_wrong_length_is_sent_again_item_by_item():
    runner = Runner(lambda batch: ["X"])
    first, outcomes = _queued_behind_a_slow_first(runner, ["a", "b", "c"])
    assert (first, outcomes) == ("SLOW", ["A", "B", "C"])
    assert runner.calls == [("one", 1), ("group", 3), ("one", 1), ("one", 1), ("one", 1)]


def test_an_interrupt_while_a_group_is_out_reaches_every_caller_of_it_and_none_waits_for_ever():
    def interrupted(batch: list[tuple[str]]) -> Any:
        raise KeyboardInterrupt

    runner = Runner(interrupted)
    first, outcomes = _queued_behind_a_slow_first(runner, ["a", "b"])
    assert isinstance(first, KeyboardInterrupt)  # the leader that sent the group is interrupted
    assert all(isinstance(o, KeyboardInterrupt) for o in outcomes)


def test_items_queued_behind_the_last_leader_when_it_is_interrupted_get_its_exception():
    arrived = threading.Event()

    def interrupted_after_more_arrive(batch: list[tuple[str]]) -> Any:
        arrived.wait(5)
        time.sleep(0.1)
        raise KeyboardInterrupt

    runner = Runner(interrupted_after_more_arrive)
    calls = GroupedCalls(runner, many, one, "test reader", leaders=1)
    outcomes: dict[str, object] = {}
    threads = [_call_in_a_thread(calls, "slow", outcomes)]
    time.sleep(0.1)
    threads += [_call_in_a_thread(calls, "a", outcomes), _call_in_a_thread(calls, "b", outcomes)]
    time.sleep(SLOW)  # the leader has sent a and b as a group; c queues behind it
    threads.append(_call_in_a_thread(calls, "c", outcomes))
    time.sleep(0.1)
    arrived.set()
    assert all(isinstance(o, KeyboardInterrupt) for o in _joined(threads, outcomes, ["slow", "a", "b", "c"]))


def test_with_isolation_off_each_item_is_its_own_call_in_the_callers_thread():
    sandbox = ReaderSandbox(SandboxSettings(isolation=False))
    calls = sandbox.grouped(many, one, "test reader")
    assert calls(("a",), "a.bin") == "A"
    assert sandbox.grouped(many, one, "test reader") is calls  # one per (sandbox, task)
    assert sandbox.stats().calls == 0


@pytest.mark.parametrize("values", [["x"], ["x", "y", "z"]])
def test_an_item_that_finds_the_sandbox_idle_goes_at_once_in_its_own_call(values):
    runner = Runner(many)
    calls = GroupedCalls(runner, many, one, "test reader", leaders=1)
    assert [calls((v,), f"{v}.bin") for v in values] == [v.upper() for v in values]
    assert runner.calls == [("one", 1)] * len(values)
