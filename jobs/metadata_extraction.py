"""The metadata extraction job as a plain script, for spark-submit (and any runner that takes a
Python file rather than a wheel). It runs the same code path as the wheel's entry point
(`nuvyn-executor-job` = executor.main:job_main) and `python -m executor.main`: executor.main.main,
whose exit code becomes the script's.

    spark-submit \\
      --packages io.delta:delta-spark_2.12:3.3.2 \\
      --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \\
      --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \\
      --conf spark.sql.session.timeZone=UTC \\
      jobs/metadata_extraction.py metadata_extraction samples/lake csv default --write-to-db

(Spark 4.0 / lane B: io.delta:delta-spark_2.13:4.0.0.) workflow_id and source_id come from
NUVYN_JOB_PAYLOAD or --payload, exactly as for `python -m executor.main`.

The executor package does not have to be installed: the repository this file sits in is put on
sys.path first. The session spark-submit configured (--master, --packages, --conf) is reused as it
is: executor.spark_session.build_spark_session adds nothing to it under spark-submit.
"""

from __future__ import annotations

import pathlib
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
if (REPO_ROOT / "executor" / "__init__.py").is_file() and str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def main() -> int:
    from executor.main import main as executor_main

    return executor_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
