"""Retrying Delta operations that lost a race: commit conflicts between concurrent writers and the
"already exists" of concurrent CREATE SCHEMA/TABLE. Errors are recognised by type (delta.exceptions)
or by Spark error class, on classic and Spark Connect sessions alike (where pyspark 3.5's Connect
client drops the class, by the "[CLASS]" prefix Spark gives the message), never by other message
text; waits grow exponentially with jitter, tries are bounded in number and in time, and the clock
is injectable so that tests neither sleep nor guess.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Spark error classes of Delta's commit conflicts (the same errors as the delta.exceptions types,
# as Spark Connect or a wrapped JVM error reports them).
CONFLICT_ERROR_CLASSES = frozenset({
    "DELTA_CONCURRENT_APPEND", "DELTA_CONCURRENT_DELETE_DELETE", "DELTA_CONCURRENT_DELETE_READ",
    "DELTA_CONCURRENT_TRANSACTION", "DELTA_CONCURRENT_WRITE", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED",
})
# Another process created the schema or table between our IF NOT EXISTS check and our commit; or it
# is creating the same external table (its _delta_log exists, its first commit not yet). The retry
# finds the committed table and registers it.
CREATE_RACE_ERROR_CLASSES = frozenset({
    "TABLE_OR_VIEW_ALREADY_EXISTS", "SCHEMA_ALREADY_EXISTS", "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION",
})
RETRY_ERROR_CLASSES = CONFLICT_ERROR_CLASSES | CREATE_RACE_ERROR_CLASSES


# Spark writes a SparkThrowable's message as "[ERROR_CLASS] text" (SparkThrowableHelper.getMessage);
# pyspark 3.5's Connect client passes only that message on, prefixed with "(java.class.Name) " for
# errors it has no Python type for (Delta's conflicts), and drops the error class it carries.
_CONNECT_MESSAGE_CLASS = re.compile(r"^(?:\([\w.$]+\) )?\[([A-Z][A-Z0-9_]*(?:\.[A-Z][A-Z0-9_]*)*)\] ")


def error_class(exc: BaseException) -> str | None:
    """Spark's error class (condition) of an error; None for other errors. In this order:
    1. a PySpark error (classic or Spark Connect): its getCondition (PySpark 4) / getErrorClass;
    2. a Spark Connect error whose client dropped the class (pyspark 3.5's Connect client never
       sets it): the class the server's SparkThrowable message starts with, "[DELTA_CONCURRENT_APPEND] ...";
    3. a py4j Py4JJavaError (classic sessions only) that PySpark did not convert (Delta's conflicts
       on a delta-spark without Python exception types): the error class of the JVM error it carries."""
    from pyspark.errors import PySparkException

    if isinstance(exc, PySparkException):
        get = getattr(exc, "getCondition", None) or exc.getErrorClass  # getCondition: PySpark 4
        name = get()
        if name is None and type(exc).__module__ == "pyspark.errors.exceptions.connect":
            found = _CONNECT_MESSAGE_CLASS.match(str(getattr(exc, "message", None) or exc))
            name = found.group(1) if found else None
        return name
    java = getattr(exc, "java_exception", None)  # py4j.protocol.Py4JJavaError: classic sessions only
    if java is None:
        return None
    try:
        from py4j.protocol import Py4JError
    except ImportError:  # a Connect-only client has no py4j, and so no py4j errors
        return None
    try:
        name = java.getErrorClass()
    except (Py4JError, AttributeError):  # not a SparkThrowable: no such method
        return None
    return None if name is None else str(name)


def is_retryable_class(name: str | None) -> bool:
    """An error class (or a sub-condition of one: DELTA_CONCURRENT_APPEND.WITH_PARTITION_HINT) of RETRY_ERROR_CLASSES."""
    return name is not None and (name in RETRY_ERROR_CLASSES or name.split(".", 1)[0] in RETRY_ERROR_CLASSES)


def delta_conflict_types() -> tuple[type[BaseException], ...]:
    """Delta's typed commit-conflict exceptions, or () where the delta package does not ship them."""
    try:
        from delta import exceptions as dx
    except ImportError:
        return ()
    return (dx.DeltaConcurrentModificationException, dx.ConcurrentWriteException, dx.ConcurrentAppendException,
            dx.ConcurrentDeleteReadException, dx.ConcurrentDeleteDeleteException,
            dx.ConcurrentTransactionException, dx.MetadataChangedException, dx.ProtocolChangedException)


class DeltaRaces:
    """Tells the errors worth a retry: delta.exceptions' commit conflicts (importing that module
    also makes PySpark raise them as those types) and the error classes of RETRY_ERROR_CLASSES.
    delta-spark 4.0.0's wheel ships no importable `delta.exceptions` (its `delta/exceptions/`
    package is missing); there the same conflicts arrive as PySpark errors carrying the
    DELTA_CONCURRENT_* error classes, which the second test recognises."""

    def __init__(self) -> None:
        self.types: tuple[type[BaseException], ...] = delta_conflict_types()

    def __call__(self, exc: BaseException) -> bool:
        return isinstance(exc, self.types) or is_retryable_class(error_class(exc))


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: the wait before try n+1 is base_s * 2**(n-1) * (0.5 + jitter()),
    at most cap_s; at most `attempts` tries, and no wait that would end more than budget_s after
    the first try began."""

    attempts: int = 8
    base_s: float = 0.2
    cap_s: float = 10.0
    budget_s: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random

    def wait(self, attempt: int) -> float:
        """Seconds to wait after the failed try number `attempt` (1-based)."""
        return float(min(self.cap_s, self.base_s * 2 ** (attempt - 1) * (0.5 + self.jitter())))

    def run(self, action: Callable[[], T], what: str, retryable: Callable[[BaseException], bool]) -> T:
        """action(), tried again while it raises an error `retryable` accepts; the last error is raised."""
        start = self.monotonic()
        attempt = 1
        while True:
            try:
                return action()
            except Exception as exc:
                delay = self.wait(attempt)
                out_of_time = self.monotonic() + delay - start > self.budget_s
                if attempt >= self.attempts or out_of_time or not retryable(exc):
                    raise
                logger.info("%s: lost a race with a concurrent writer (%s); retry %d in %.2fs",
                            what, type(exc).__name__, attempt, delay)
                self.sleep(delay)
                attempt += 1
