"""`make submit`: spark-submit with this venv's Spark, quiet by default.

    python scripts/submit.py [spark-submit arguments ...] jobs/metadata_extraction.py [job arguments ...]

Adds the package's log4j2 configuration (executor/resources/log4j2.properties: ERROR only) to the
driver's Java options and turns the console progress bar off; copies spark-submit's stdout (the
job's JSON report) and stderr without Ivy's dependency-resolution chatter
(executor.logging_setup.jvm_noise). NUVYN_LOG_LEVEL=DEBUG (or NUVYN_SPARK_LOG_LEVEL=INFO/WARN/...)
shows everything. When spark-submit fails, the dropped lines are printed after its output.
Exit code: spark-submit's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from executor.logging_setup import jvm_java_options, jvm_noise  # noqa: E402

VERBOSE_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO")


def spark_log_level(env: dict[str, str]) -> str:
    explicit = (env.get("NUVYN_SPARK_LOG_LEVEL") or "").strip().upper()
    if explicit:
        return explicit
    return "INFO" if (env.get("NUVYN_LOG_LEVEL") or "").strip().upper() == "DEBUG" else "ERROR"


def command(args: list[str], env: dict[str, str]) -> list[str]:
    spark_submit = Path(sys.executable).parent / "spark-submit"
    return [str(spark_submit),
            "--conf", f"spark.driver.extraJavaOptions={jvm_java_options(spark_log_level(env))}",
            "--conf", "spark.ui.showConsoleProgress=false", *args]


def _copy(src, dst, keep_all: bool, dropped: list[str]) -> None:
    for line in src:
        if not keep_all and jvm_noise(line):
            dropped.append(line)
        else:
            dst.write(line)
            dst.flush()


def main(args: list[str]) -> int:
    env = dict(os.environ)
    keep_all = spark_log_level(env) in VERBOSE_LEVELS
    proc = subprocess.Popen(command(args, env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", bufsize=1)
    dropped: list[str] = []
    # Ivy writes its ':: loading settings ::' line to stdout (SPARK-48540): both streams are filtered.
    out = threading.Thread(target=_copy, args=(proc.stdout, sys.stdout, keep_all, dropped), daemon=True)
    out.start()
    try:
        _copy(proc.stderr, sys.stderr, keep_all, dropped)
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached spark-submit too (same process group): wait for it
        proc.send_signal(signal.SIGINT)
        code = proc.wait()
    out.join(10)
    if code != 0 and dropped:
        sys.stderr.write("--- spark-submit failed; its dependency resolution output was:\n" + "".join(dropped))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
