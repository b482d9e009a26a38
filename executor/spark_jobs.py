"""Count the Spark jobs a piece of work launches (a job group per run).

Classic Spark counts through the SparkContext's status tracker. Spark Connect has neither a
SparkContext nor job ids on the client (its progress messages carry stages and tasks, not jobs), so
there the count is unknown (-1), never a guess; the run's operations are tagged with the group name
instead (`SparkSession.addTag`), which lets `interruptTag` cancel them as a job group would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from executor.spark_connect import is_connect

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

UNKNOWN = -1


def _no_context_errors() -> tuple[type[BaseException], ...]:
    """What reaching the SparkContext of a classic session raises where the runtime refuses it:
    PySpark's errors, and the py4j error of a gateway that refuses the call (shared clusters)."""
    from pyspark.errors import PySparkException

    try:
        from py4j.protocol import Py4JError
    except ImportError:  # a Connect-only client (pyspark-client) ships without py4j
        return (PySparkException,)
    return (PySparkException, Py4JError)


class JobCounter:
    def __init__(self, spark: SparkSession, group: str, countable: bool = True) -> None:
        self.spark = spark
        self.group = group
        self.countable = countable

    @property
    def count(self) -> int:
        """Jobs started in the group so far; -1 (unknown, not zero) without a status tracker
        (Spark Connect, a runtime that refuses the SparkContext)."""
        if not self.countable:
            return UNKNOWN
        try:
            return len(self.spark.sparkContext.statusTracker().getJobIdsForGroup(self.group))  # connect-safe: countable only on classic
        except _no_context_errors():
            return UNKNOWN


def _clear_local_property(sc: SparkContext, key: str) -> None:
    # the JVM's setLocalProperty removes the property when the value is null (PySpark annotates str)
    set_property = cast(Callable[[str, "str | None"], None], sc.setLocalProperty)
    set_property(key, None)


@contextmanager
def _connect_tag(spark: Any, group: str) -> Iterator[JobCounter]:
    tag = group.replace(",", "_")  # Connect refuses commas in tags
    spark.addTag(tag)  # this thread's operations on the session carry it
    try:
        yield JobCounter(spark, group, countable=False)
    finally:
        spark.removeTag(tag)


@contextmanager
def job_group(spark: SparkSession, group: str, description: str) -> Iterator[JobCounter]:
    """Tag every job started in this thread with `group`, and count them (classic sessions)."""
    if is_connect(spark):
        with _connect_tag(spark, group) as counter:
            yield counter
        return
    sc: SparkContext | None
    try:
        sc = spark.sparkContext  # connect-safe: a Connect session took the branch above
        sc.setJobGroup(group, description)
        sc.setLocalProperty("spark.jobGroup.id", group)
    except _no_context_errors():
        sc = None
    try:
        yield JobCounter(spark, group, countable=sc is not None)
    finally:
        if sc is not None:
            _clear_local_property(sc, "spark.jobGroup.id")


def in_job_group(spark: SparkSession | None, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, to run in another thread (a pool's) inside the calling thread's job group: a job group
    and Connect tags belong to the thread that set them, so the jobs of a table extracted in the
    run's table pool would escape the run's group (uncounted, not cancelled with it). Classic: the
    caller's local properties, copied when wrapped (pyspark's inheritable_thread_target, pinned
    thread mode); Connect: the caller's tags, added for the call and removed after."""
    if spark is None:
        return fn
    if is_connect(spark):
        tags = set(cast(Any, spark).getTags())

        def tagged(*args: Any, **kwargs: Any) -> Any:
            for tag in tags:
                cast(Any, spark).addTag(tag)
            try:
                return fn(*args, **kwargs)
            finally:
                for tag in tags:
                    cast(Any, spark).removeTag(tag)

        return tagged
    import pyspark
    from pyspark import SparkContext, inheritable_thread_target

    if SparkContext._active_spark_context is None:  # no classic context in this process
        return fn
    try:
        if int(pyspark.__version__.split(".")[0]) >= 4:  # Spark 4 takes the session: its tags too, no warning
            wrapped: Callable[..., Any] = cast(Any, inheritable_thread_target)(spark)(fn)
            return wrapped
        return inheritable_thread_target(fn)
    except _no_context_errors():  # a runtime that refuses the JVM's local properties
        return fn
