"""The fallback contract of the ported rules, and the Spark lines they are ported for.

Whenever a value, a setting or a file type is outside what is ported exactly, a rule raises
:class:`SparkFallback` (a ``ValueError``): the caller then asks Spark itself; no rule ever returns
a type it is not sure Spark would give. :class:`UnsupportedParquetType` (a subclass) means Spark
itself refuses the Parquet type ("Illegal Parquet type" / "not implemented"), so asking Spark
fails as well.

Rules are ported from Apache Spark 3.5 (checked against pyspark 3.5.7 and 4.0.1 in
tests/integration/test_spark_types_vs_spark.py); ``spark_version="4.0"`` keeps the same rules
where 4.0's defaults agree and signals a fallback where they may not.
"""

from __future__ import annotations

SUPPORTED_SPARK_VERSIONS = ("3.5", "4.0")


class SparkFallback(ValueError):
    """The exact Spark answer is not known here: ask Spark (the reason is the message)."""


class UnsupportedParquetType(SparkFallback):
    """Spark itself rejects this Parquet type (reading the file with Spark fails too)."""


def check_version(spark_version: str) -> None:
    """SparkFallback unless the rules of this Spark line (major.minor) are ported."""
    if spark_version not in SUPPORTED_SPARK_VERSIONS:
        raise SparkFallback(f"Spark {spark_version} rules are not ported (have {SUPPORTED_SPARK_VERSIONS})")
