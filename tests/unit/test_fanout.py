"""fanout.fan_out: results in order, errors raised, real concurrency, and no deadlock when the
caller is itself a thread of the pool it fans out into."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from executor.metadata.fanout import fan_out
from tests.servers import wait_budget


def test_results_in_item_order_with_and_without_a_pool():
    with ThreadPoolExecutor(3) as pool:
        assert fan_out(pool, lambda x: x * x, list(range(50))) == [x * x for x in range(50)]
    assert fan_out(None, str, [1, 2]) == ["1", "2"]
    assert fan_out(None, str, []) == []


def test_items_run_concurrently_in_the_pool_and_the_caller():
    barrier = threading.Barrier(3, timeout=wait_budget(30))  # the caller and two pool threads at once
    with ThreadPoolExecutor(2) as pool:
        assert fan_out(pool, lambda x: (barrier.wait(), x)[1], [1, 2, 3]) == [1, 2, 3]


def test_the_first_error_in_item_order_is_raised_after_started_items_finish():
    started = []

    def fn(x):
        started.append(x)
        if x in (3, 5):
            raise ValueError(f"bad {x}")
        return x

    with ThreadPoolExecutor(1) as pool, pytest.raises(ValueError, match="bad 3"):
        fan_out(pool, fn, list(range(8)))
    assert 3 in started


def test_nested_fan_out_from_inside_a_full_pool_never_deadlocks():
    """Every pool thread fans out again into the same pool: the callers run their own items."""
    with ThreadPoolExecutor(2) as pool:
        def outer(i):
            return sum(fan_out(pool, lambda j: i * j, list(range(10))))

        done = []
        t = threading.Thread(target=lambda: done.append(fan_out(pool, outer, list(range(6)))), daemon=True)
        t.start()
        t.join(wait_budget(60))
        assert done == [[i * 45 for i in range(6)]]


def test_a_shut_down_pool_still_runs_every_item_in_the_caller():
    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    assert fan_out(pool, lambda x: x + 1, [1, 2, 3]) == [2, 3, 4]


def test_a_task_runs_ahead_in_the_pool_or_in_the_caller_and_can_be_dropped():
    from executor.metadata.fanout import Task

    started = threading.Event()
    release = threading.Event()

    def slow(x):
        started.set()
        release.wait(wait_budget(30))
        return x * 2

    with ThreadPoolExecutor(1) as pool:
        busy = Task(pool, slow, 1)  # the only pool thread takes it
        assert started.wait(wait_budget(30))
        queued = Task(pool, lambda x: x + 1, 5)  # behind it in the queue: the caller runs it
        assert queued.result() == 6
        dropped = Task(pool, lambda x: 1 / 0, 0)
        dropped.cancel()  # never run: no error
        assert dropped.result() is None
        release.set()
        assert busy.result() == 2
        failing = Task(None, lambda x: 1 / x, 0)
        with pytest.raises(ZeroDivisionError):
            failing.result()


def test_a_bounded_width_runs_that_many_items_at_once_claimed_in_order():
    """width=2 over a pool of 6: two items run at a time (the barrier needs both), never three,
    and an item starts only once every item two places before it has been claimed."""
    barrier = threading.Barrier(2, timeout=wait_budget(30))
    lock = threading.Lock()
    running, peak, started = [0], [0], []

    def fn(x):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            started.append(x)
        barrier.wait()
        with lock:
            running[0] -= 1
        return -x

    with ThreadPoolExecutor(6) as pool:
        assert fan_out(pool, fn, list(range(10)), width=2) == [-x for x in range(10)]
    assert peak[0] == 2
    assert all(abs(x - i) <= 1 for i, x in enumerate(started))  # claimed in order (two walkers race by one)
    with ThreadPoolExecutor(2) as pool:  # width 1: the caller alone, one item after another
        assert fan_out(pool, lambda x: threading.get_ident(), [1, 2, 3], width=1) == [threading.get_ident()] * 3
