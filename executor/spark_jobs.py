"""Count the Spark jobs a piece of work launches (a job group per run)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class JobCounter:
    def __init__(self, spark: SparkSession, group: str) -> None:
        self.spark = spark
        self.group = group

    @property
    def count(self) -> int:
        try:
            return len(self.spark.sparkContext.statusTracker().getJobIdsForGroup(self.group))
        except Exception:  # noqa: BLE001 - Spark Connect has no status tracker: unknown, not zero
            return -1


@contextmanager
def job_group(spark: SparkSession, group: str, description: str) -> Iterator[JobCounter]:
    """Tag every job started in this thread with `group`, and count them."""
    try:
        sc = spark.sparkContext
        sc.setJobGroup(group, description)
        sc.setLocalProperty("spark.jobGroup.id", group)
    except Exception:  # noqa: BLE001 - no SparkContext on Spark Connect
        sc = None
    try:
        yield JobCounter(spark, group)
    finally:
        if sc is not None:
            sc.setLocalProperty("spark.jobGroup.id", None)
