"""GroupedCalls' bookkeeping (executor/sandbox/grouped.py) on an in-process runner: the paths real
workers cannot show on demand (an interrupt while a group is out, a group whose answer has the wrong
length, isolation off). Grouping and a crashing item on real workers: tests/system/test_sandbox.py."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from executor.sandbox.grouped import GroupedCalls, _Entry
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
        self.senders: list[tuple[list[str], str]] = []  # each call's items and the caller that sent it

    def run(self, task: Callable[..., Any], *args: Any, path: str = "", reader: str = "") -> Any:
        sender = threading.current_thread().name
        if task is many:
            self.calls.append(("group", len(args[0])))
            self.senders.append(([v for v, in args[0]], sender))
            return self.on_group(args[0])
        self.calls.append(("one", 1))
        self.senders.append(([args[0]], sender))
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

    thread = threading.Thread(target=call, name=value, daemon=True)
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
    for v in values:
        time.sleep(0.1)  # queued in this order
        threads.append(_call_in_a_thread(calls, v, outcomes))
    first, *rest = _joined(threads, outcomes, ["slow", *values])
    return first, rest


def test_a_group_whose_answer_has_the_wrong_length_is_sent_again_item_by_item():
    runner = Runner(lambda batch: ["X"])
    first, outcomes = _queued_behind_a_slow_first(runner, ["a", "b", "c"])
    assert (first, outcomes) == ("SLOW", ["A", "B", "C"])
    assert runner.calls == [("one", 1), ("group", 3), ("one", 1), ("one", 1), ("one", 1)]


def test_a_leader_stops_once_its_own_item_is_done_and_hands_the_queue_to_the_oldest_waiting_caller():
    """Items keep arriving behind a leader: it sends them only up to its own, then the caller of the
    oldest item still pending leads (its own result is never held back by the files behind it)."""
    runner = Runner(many)
    calls = GroupedCalls(runner, many, one, "test reader", max_items=2, leaders=1)
    outcomes: dict[str, object] = {}
    threads = [_call_in_a_thread(calls, "slow", outcomes)]
    for v in ["a", "b", "c", "d"]:
        time.sleep(0.1)  # queued in this order behind the slow call
        threads.append(_call_in_a_thread(calls, v, outcomes))
    assert _joined(threads, outcomes, ["slow", "a", "b", "c", "d"]) == ["SLOW", "A", "B", "C", "D"]
    assert runner.senders == [(["slow"], "slow"), (["a", "b"], "a"), (["c", "d"], "c")]


def test_an_interrupt_while_a_group_is_out_reaches_every_caller_of_it_and_none_waits_for_ever():
    def interrupted(batch: list[tuple[str]]) -> Any:
        raise KeyboardInterrupt

    runner = Runner(interrupted)
    first, outcomes = _queued_behind_a_slow_first(runner, ["a", "b"])
    assert first == "SLOW"  # its leader sent it alone, then handed a and b to a's caller
    assert all(isinstance(o, KeyboardInterrupt) for o in outcomes)  # the group's leader and the other caller
    assert runner.senders == [(["slow"], "slow"), (["a", "b"], "a")]


def test_items_queued_behind_an_interrupted_leader_are_sent_by_their_own_callers():
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
    threads += [_call_in_a_thread(calls, "a", outcomes)]
    time.sleep(0.1)
    threads += [_call_in_a_thread(calls, "b", outcomes)]
    time.sleep(SLOW)  # a's caller has sent a and b as a group; c queues behind it
    threads.append(_call_in_a_thread(calls, "c", outcomes))
    time.sleep(0.1)
    arrived.set()
    slow, a, b, c = _joined(threads, outcomes, ["slow", "a", "b", "c"])
    assert slow == "SLOW" and c == "C"
    assert isinstance(a, KeyboardInterrupt) and isinstance(b, KeyboardInterrupt)
    assert runner.senders == [(["slow"], "slow"), (["a", "b"], "a"), (["c"], "c")]


def test_a_caller_interrupted_while_it_waits_takes_its_item_away_and_the_others_go_on():
    """The main thread's caller waits behind a slow call and gets a SIGINT: its item is not sent (no
    one waits for it), the item queued after it is sent by its own caller."""
    runner = Runner(many)
    calls = GroupedCalls(runner, many, one, "test reader", leaders=1)
    outcomes: dict[str, object] = {}
    threads = [_call_in_a_thread(calls, "slow", outcomes)]
    time.sleep(0.1)
    interrupt = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    threads.append(threading.Thread(target=lambda: (time.sleep(0.1), _call_in_a_thread(calls, "x", outcomes).join(5)),
                                    daemon=True))
    threads[-1].start()
    interrupt.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            calls(("main",), "main.bin")  # waits: the slow call holds the only slot
    finally:  # a machine so slow that the call returned first: no SIGINT for the rest of the run
        interrupt.cancel()
    assert _joined(threads, outcomes, ["slow", "x"]) == ["SLOW", "X"]
    assert runner.senders == [(["slow"], "slow"), (["x"], "x")]


class _InterruptedWhenHandedTheSlot(_Entry):
    """A caller interrupted just as a leader hands it the slot."""

    def __init__(self, args: tuple, path: str) -> None:
        super().__init__(args, path)
        wake, entry = self.wake, self

        class Wake:
            def wait(self) -> bool:
                wake.wait()
                if entry.promoted and entry.args == ("m",):
                    raise KeyboardInterrupt
                return True

            def __getattr__(self, name: str) -> Any:
                return getattr(wake, name)

        self.wake = Wake()  # type: ignore[assignment]


def test_a_caller_interrupted_as_it_is_handed_the_slot_hands_it_on_to_the_next_waiting_caller():
    class Calls(GroupedCalls[str]):
        entry = _InterruptedWhenHandedTheSlot

    runner = Runner(many)
    calls = Calls(runner, many, one, "test reader", leaders=1)
    outcomes: dict[str, object] = {}
    threads = [_call_in_a_thread(calls, "slow", outcomes)]
    for v in ["m", "x"]:
        time.sleep(0.1)
        threads.append(_call_in_a_thread(calls, v, outcomes))
    slow, m, x = _joined(threads, outcomes, ["slow", "m", "x"])
    assert (slow, x) == ("SLOW", "X") and isinstance(m, KeyboardInterrupt)
    assert runner.senders == [(["slow"], "slow"), (["x"], "x")]  # m's item left with its caller


def test_a_leader_interrupted_before_its_own_item_went_out_takes_it_away():
    """A leader whose own item waits behind an earlier one (another leader's) is interrupted while it
    sends that one: both callers get the interrupt and nothing is left pending."""
    def interrupted(batch: list[tuple[str]]) -> Any:
        raise KeyboardInterrupt

    runner = Runner(interrupted)
    runner.run = lambda task, *args, **kw: interrupted([])  # type: ignore[method-assign]
    calls = GroupedCalls(runner, many, one, "test reader", max_items=1, leaders=2)
    ahead = _Entry(("ahead",), "ahead.bin")
    ahead.leading = True  # its caller leads too (and sends it next, here)
    calls._pending.append(ahead)
    with pytest.raises(KeyboardInterrupt):
        calls(("mine",), "mine.bin")
    assert isinstance(ahead.future.exception(0), KeyboardInterrupt)
    assert calls._pending == []  # its own item was taken away, not left for a caller gone


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
