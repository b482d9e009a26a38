"""Spark Connect beside classic Spark. A Connect session (SPARK_REMOTE, a Databricks serverless task,
standard access mode) has no SparkContext, no RDDs and no py4j gateway; the few things classic
PySpark reaches through the JVM are done here the way Connect can:

- `csv_from_lines`: Spark's CSV inference over lines held in Python. Classic PySpark's only entry to
  `DataFrameReader.csv(Dataset[String])` is an RDD of lines; on Connect the same Scala method is
  reached through the protocol's `Parse` relation (format CSV) over a local relation of the lines in
  one partition, which the Connect server plans as `session.read.options(..).csv(Dataset[String])`:
  the same inference, options and column names (tests/integration/test_connect.py compares both).
- `is_delta_table`: Delta's Python API (`delta.tables`) drives the JVM through py4j; over Connect
  it needs the server-side Delta Connect plugin, which OSS Delta 3.x does not have. Resolving the
  table's schema through `spark.read.format("delta")` works on both.
- `active_session`: a Connect session is found by pyspark.sql.connect, which pyspark's classic
  `getActiveSession` consults only when the process runs in Connect mode.

Nothing here reads the environment or imports pyspark at module level."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def is_connect(spark: Any) -> bool:
    """True for a Spark Connect session (pyspark.sql.connect), however it was made."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def active_session() -> SparkSession | None:
    """The session already running in this process, classic or Connect; None when there is none.
    A Connect session is this thread's active one, else the process's default (a serverless task's
    session was made by the runtime, maybe on another thread)."""
    from pyspark.sql import SparkSession

    remote = sys.modules.get("pyspark.sql.connect.session")  # imported by whoever made a Connect session
    if remote is not None:
        from pyspark.errors import PySparkException

        try:
            found: SparkSession = remote.SparkSession.active()
            return found
        except PySparkException:  # NO_ACTIVE_OR_DEFAULT_SESSION
            pass
    return SparkSession.getActiveSession()


def csv_from_lines(spark: SparkSession, lines: Sequence[str], options: Mapping[str, str]) -> DataFrame:
    """The DataFrame Spark's CSV reader makes of `lines` (one CSV line each) with `options`: on a
    classic session `read.csv` over an RDD of the lines, on Connect a `Parse` relation over a local
    relation of the lines; both end in Scala's DataFrameReader.csv(Dataset[String])."""
    if not is_connect(spark):
        rdd: Any = spark.sparkContext.parallelize(list(lines), 1)  # connect-safe: classic branch; Connect takes the Parse relation
        return spark.read.options(**options).csv(rdd)
    return _connect_parse(spark, lines, options)


def _connect_parse(spark: Any, lines: Sequence[str], options: Mapping[str, str]) -> DataFrame:
    import pyspark.sql.connect.proto as proto
    from pyspark.sql.connect import dataframe as connect_dataframe
    from pyspark.sql.connect.plan import LogicalPlan

    class ParseCsv(LogicalPlan):
        """proto.Parse (PARSE_FORMAT_CSV) over the child relation's single string column."""

        def __init__(self, child: Any) -> None:
            super().__init__(child)
            self.input: Any = child

        def plan(self, session: Any) -> Any:
            rel = self._create_proto_relation()
            rel.parse.input.CopyFrom(self.input.plan(session))
            rel.parse.format = proto.Parse.ParseFormat.PARSE_FORMAT_CSV
            for key, value in options.items():
                rel.parse.options[key] = value
            return rel

    # One partition, the lines in order, as classic's parallelize(lines, 1): Spark's CSV inference folds
    # each partition and merges the folds, and a merge is no fold (an incompatible pair becomes NullType,
    # so the next partition's type wins); a local relation would be split in up to defaultParallelism.
    source = spark.createDataFrame([(line,) for line in lines], "value string").coalesce(1)
    plan = ParseCsv(source._plan)
    frame_type: Any = connect_dataframe.DataFrame
    with_plan = getattr(frame_type, "withPlan", None)  # pyspark 3.5; 4.0 takes (plan, session)
    frame: DataFrame = with_plan(plan, spark) if with_plan is not None else frame_type(plan, spark)
    return frame


def is_delta_table(spark: SparkSession, location: str) -> bool:
    """True when `location` holds a Delta table (a committed version), as DeltaTable.isDeltaTable
    tells, without Delta's Python API: the schema of the Delta table there resolves."""
    from pyspark.errors import AnalysisException

    try:
        _resolved = spark.read.format("delta").load(location).schema  # resolving it is the test
    except AnalysisException:  # PATH_NOT_FOUND, DELTA_TABLE_NOT_FOUND, DELTA_MISSING_DELTA_TABLE, ...
        return False
    return True
