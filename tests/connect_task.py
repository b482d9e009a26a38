"""A process inside an already active Spark Connect session, as a Databricks serverless task or a
cluster in standard access mode runs the wheel: the session is made first (from argv[1]; the
environment has no SPARK_REMOTE), then

    connect_task.py URL job ARGS...       executor.main.job_main() with ARGS (the wheel's entry point)
    connect_task.py URL infer CASES OUT   Spark's CSV schema of each case in the JSON file CASES
                                          ({name: [lines, options]}) written to OUT as {name: [[col, type]]}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str]) -> None:
    from pyspark.sql import SparkSession

    url, command, rest = argv[0], argv[1], argv[2:]
    spark = SparkSession.builder.remote(url).getOrCreate()
    if command == "job":
        from executor.main import job_main

        sys.argv = ["nuvyn-executor-job", *rest]
        job_main()
    elif command == "infer":
        from executor.spark_connect import csv_from_lines, is_connect

        assert is_connect(spark), type(spark)
        cases = json.loads(Path(rest[0]).read_text(encoding="utf-8"))
        out = {name: [[f.name, f.dataType.simpleString()] for f in csv_from_lines(spark, lines, options).schema]
               for name, (lines, options) in cases.items()}
        Path(rest[1]).write_text(json.dumps(out), encoding="utf-8")
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
