"""executor.storage.retry: which errors are retried, how often, and how long it waits (no real sleeps)."""

from __future__ import annotations

import pytest
from delta import exceptions as dx
from pyspark.errors import AnalysisException

from executor.storage.retry import Backoff, DeltaRaces, error_class


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def backoff(clock: FakeClock, **kw) -> Backoff:
    return Backoff(sleep=clock.sleep, monotonic=clock.monotonic, jitter=lambda: 0.5, **kw)


def failing(errors: list[BaseException]):
    """An action that raises the given errors in turn, then returns 'done'; counts its calls."""
    calls = []

    def action():
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "done"

    return action, calls


def delta_error(kind: type[BaseException]) -> BaseException:
    """A delta.exceptions error as PySpark converts it from the JVM's (made without a JVM)."""
    return kind.__new__(kind)


class SparkAnalysisError(AnalysisException):
    """An AnalysisException as PySpark raises it for a JVM error of the given error class."""

    def __init__(self, error_class_name: str | None, message: str) -> None:
        super().__init__(message=message)
        self.error_class_name = error_class_name

    def getErrorClass(self) -> str | None:
        return self.error_class_name


def analysis(error_class_name: str | None, message: str = "boom") -> AnalysisException:
    return SparkAnalysisError(error_class_name, message)


CONFLICTS = [dx.ConcurrentAppendException, dx.ConcurrentDeleteReadException, dx.ConcurrentDeleteDeleteException,
             dx.ConcurrentTransactionException, dx.ConcurrentWriteException, dx.MetadataChangedException,
             dx.ProtocolChangedException, dx.DeltaConcurrentModificationException]


@pytest.mark.parametrize("kind", CONFLICTS, ids=lambda k: k.__name__)
def test_delta_commit_conflicts_are_retried_with_exponential_waits(kind):
    clock = FakeClock()
    action, calls = failing([delta_error(kind) for _ in range(3)])
    assert backoff(clock).run(action, "append", DeltaRaces()) == "done"
    assert len(calls) == 4
    assert clock.waits == pytest.approx([0.2, 0.4, 0.8])  # base 0.2 s doubling; jitter 0.5 -> factor 1


@pytest.mark.parametrize("cls", ["TABLE_OR_VIEW_ALREADY_EXISTS", "SCHEMA_ALREADY_EXISTS",
                                 "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION", "DELTA_CONCURRENT_APPEND",
                                 "DELTA_PROTOCOL_CHANGED", "DELTA_METADATA_CHANGED"])
def test_create_races_and_conflicts_are_recognised_by_error_class(cls):
    clock = FakeClock()
    action, calls = failing([analysis(cls)])
    assert backoff(clock).run(action, "create table", DeltaRaces()) == "done"
    assert (len(calls), clock.waits) == (2, [pytest.approx(0.2)])


@pytest.mark.parametrize("exc", [
    ValueError("bad value"),
    RuntimeError("ConcurrentAppendException: already exists"),  # the text alone is no reason to retry
    analysis(None, "table already exists"),
    analysis("TABLE_OR_VIEW_NOT_FOUND"),
    analysis("DELTA_DUPLICATE_COLUMNS_FOUND"),
], ids=["value", "text", "no-class", "not-found", "duplicate-columns"])
def test_other_errors_are_raised_at_once(exc):
    clock = FakeClock()
    action, calls = failing([exc])
    with pytest.raises(type(exc)) as raised:
        backoff(clock).run(action, "append", DeltaRaces())
    assert raised.value is exc
    assert (len(calls), clock.waits) == (1, [])


def test_tries_are_bounded_and_the_last_error_is_raised():
    clock = FakeClock()
    errors = [delta_error(dx.ConcurrentAppendException) for _ in range(10)]
    action, calls = failing(list(errors))
    with pytest.raises(dx.ConcurrentAppendException) as raised:
        backoff(clock, attempts=4).run(action, "append", DeltaRaces())
    assert raised.value is errors[3]
    assert len(calls) == 4
    assert clock.waits == pytest.approx([0.2, 0.4, 0.8])


def test_waits_are_capped_and_jittered():
    b = Backoff(base_s=1.0, cap_s=5.0, jitter=lambda: 0.0)
    assert [b.wait(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert Backoff(base_s=1.0, jitter=lambda: 0.999).wait(1) == pytest.approx(1.499)


def test_no_wait_ends_past_the_time_budget():
    clock = FakeClock()
    action, calls = failing([delta_error(dx.ConcurrentAppendException) for _ in range(10)])
    with pytest.raises(dx.ConcurrentAppendException):
        backoff(clock, budget_s=1.0).run(action, "append", DeltaRaces())
    assert clock.waits == pytest.approx([0.2, 0.4])  # 0.6 s spent; the next wait (0.8 s) would end at 1.4 s
    assert len(calls) == 3


def test_error_class_of_other_errors_is_none():
    assert error_class(ValueError("x")) is None
    assert error_class(analysis("SCHEMA_ALREADY_EXISTS")) == "SCHEMA_ALREADY_EXISTS"


def test_without_delta_exceptions_the_error_class_decides(monkeypatch):
    """delta-spark 4.0.0's wheel has no importable delta.exceptions: conflicts are recognised by
    their Spark error class alone, and nothing fails to import."""
    import sys

    import delta

    from executor.storage import retry

    monkeypatch.setitem(sys.modules, "delta.exceptions", None)  # `from delta import exceptions` fails
    monkeypatch.delattr(delta, "exceptions", raising=False)
    assert retry.delta_conflict_types() == ()
    races = DeltaRaces()
    assert races(analysis("DELTA_CONCURRENT_APPEND"))
    assert not races(analysis("TABLE_OR_VIEW_NOT_FOUND"))
    clock = FakeClock()
    action, calls = failing([analysis("DELTA_CONCURRENT_APPEND"), analysis("DELTA_METADATA_CHANGED")])
    assert backoff(clock).run(action, "append", races) == "done"
    assert len(calls) == 3


class JavaThrowable:
    """What py4j hands over for a JVM exception: a proxy whose methods call into the JVM."""

    def __init__(self, error_class_name: str | None) -> None:
        self.error_class_name = error_class_name

    def getErrorClass(self) -> str | None:
        if self.error_class_name == "not-spark-throwable":
            from py4j.protocol import Py4JError

            raise Py4JError("An error occurred while calling o51.getErrorClass")  # no such method
        return self.error_class_name


class Py4JJavaErrorLike(Exception):
    def __init__(self, java_exception: JavaThrowable) -> None:
        super().__init__("An error occurred while calling o50.sql.")
        self.java_exception = java_exception


def test_unconverted_jvm_errors_are_told_by_their_error_class():
    """Spark 4 + delta-spark 4.0.0: io.delta.exceptions.ProtocolChangedException reaches Python as
    a Py4JJavaError; its JVM error class decides, never its message."""
    assert error_class(Py4JJavaErrorLike(JavaThrowable("DELTA_PROTOCOL_CHANGED"))) == "DELTA_PROTOCOL_CHANGED"
    assert DeltaRaces()(Py4JJavaErrorLike(JavaThrowable("DELTA_PROTOCOL_CHANGED")))
    assert not DeltaRaces()(Py4JJavaErrorLike(JavaThrowable("DIVIDE_BY_ZERO")))
    assert error_class(Py4JJavaErrorLike(JavaThrowable(None))) is None
    assert error_class(Py4JJavaErrorLike(JavaThrowable("not-spark-throwable"))) is None
    assert error_class(ValueError("DELTA_PROTOCOL_CHANGED")) is None
