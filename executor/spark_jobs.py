"""Count the Spark jobs a piece of work launches (a job group per run)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession


def _no_context_errors() -> tuple[type[BaseException], ...]:
    """What reaching the SparkContext raises where there is none: Spark Connect's PySpark errors, and
    the py4j error of a gateway that refuses the call (shared clusters)."""
    from pyspark.errors import PySparkException

    try:
        from py4j.protocol import Py4JError
    except ImportError:  # Spark Connect clients ship without py4j
        return (PySparkException,)
    return (PySparkException, Py4JError)


class JobCounter:
    def __init__(self, spark: SparkSession, group: str) -> None:
        self.spark = spark
        self.group = group

    @property
    def count(self) -> int:
        """Jobs started in the group so far; -1 (unknown, not zero) without a status tracker."""
        try:
            return len(self.spark.sparkContext.statusTracker().getJobIdsForGroup(self.group))
        except _no_context_errors():
            return -1


def _clear_local_property(sc: SparkContext, key: str) -> None:
    # the JVM's setLocalProperty removes the property when the value is null (PySpark annotates str)
    set_property = cast(Callable[[str, "str | None"], None], sc.setLocalProperty)
    set_property(key, None)


@contextmanager
def job_group(spark: SparkSession, group: str, description: str) -> Iterator[JobCounter]:
    """Tag every job started in this thread with `group`, and count them."""
    sc: SparkContext | None
    try:
        sc = spark.sparkContext
        sc.setJobGroup(group, description)
        sc.setLocalProperty("spark.jobGroup.id", group)
    except _no_context_errors():
        sc = None
    try:
        yield JobCounter(spark, group)
    finally:
        if sc is not None:
            _clear_local_property(sc, "spark.jobGroup.id")
