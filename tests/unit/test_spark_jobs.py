"""executor.spark_jobs without a JVM: the job group is set and cleared; no SparkContext means 'unknown'."""

from __future__ import annotations

from types import SimpleNamespace

from pyspark.errors import PySparkNotImplementedError

from executor.spark_jobs import job_group


class NoContext:
    """A Spark Connect session: it has no SparkContext."""

    @property
    def sparkContext(self):
        raise PySparkNotImplementedError(error_class="NOT_IMPLEMENTED", message_parameters={"feature": "sparkContext"})


class FakeContext:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def setJobGroup(self, group, description):
        self.calls.append(("group", group, description))

    def setLocalProperty(self, key, value):
        self.calls.append(("property", key, value))

    def statusTracker(self):
        return SimpleNamespace(getJobIdsForGroup=lambda group: [1, 2] if group == "g" else [])


def test_without_a_spark_context_the_count_is_unknown():
    with job_group(NoContext(), "g", "work") as jobs:
        assert jobs.count == -1


def test_the_group_is_set_counted_and_cleared():
    sc = FakeContext()
    with job_group(SimpleNamespace(sparkContext=sc), "g", "work") as jobs:
        assert jobs.count == 2
    assert sc.calls == [("group", "g", "work"), ("property", "spark.jobGroup.id", "g"),
                        ("property", "spark.jobGroup.id", None)]
