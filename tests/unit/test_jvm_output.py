"""The JVM's output filter: Ivy's resolution chatter is noise, everything else (log4j lines, Java
stack traces, our JSON report and log lines) is kept; scripts/submit.py applies it to spark-submit."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from executor.logging_setup import jvm_java_options, jvm_noise, log4j2_properties

REPO = Path(__file__).resolve().parents[2]

IVY = """:: loading settings :: url = jar:file:/x/pyspark/jars/ivy-2.5.1.jar!/org/apache/ivy/core/settings/ivysettings.xml
Ivy Default Cache set to: /root/.ivy2/cache
The jars for the packages stored in: /root/.ivy2/jars
io.delta#delta-spark_2.12 added as a dependency
:: resolving dependencies :: org.apache.spark#spark-submit-parent-9c949b43;1.0
\tconfs: [default]
\tfound io.delta#delta-spark_2.12;3.3.2 in central
:: resolution report :: resolve 412ms :: artifacts dl 20ms
\t:: modules in use:
\tio.delta#delta-spark_2.12;3.3.2 from central in [default]
\t---------------------------------------------------------------------
\t|                  |            modules            ||   artifacts   |
\t|      default     |   3   |   0   |   0   |   0   ||   3   |   0   |
:: retrieving :: org.apache.spark#spark-submit-parent-9c949b43
\t0 artifacts copied, 3 already retrieved (0kB/16ms)
downloading https://repo1.maven.org/maven2/io/delta/delta-spark_2.12/3.3.2/delta-spark_2.12-3.3.2.jar ...
\t[SUCCESSFUL ] io.delta#delta-spark_2.12;3.3.2!delta-spark_2.12.jar (1200ms)
:: problems summary ::
\t:::: WARNINGS
\t\thost repo1.maven.org not reachable: proxy server that is not well configured
Setting default log level to "WARN".
To adjust logging level use sc.setLogLevel(newLevel). For SparkR, use setLogLevel(newLevel).
"""

KEPT = """26/11/27 22:17:11 ERROR SparkContext: Error initializing SparkContext.
java.lang.RuntimeException: [unresolved dependency: io.delta#delta-spark_2.12;9.9.9: not found]
\tat org.apache.spark.deploy.SparkSubmitUtils$.resolveMavenCoordinates(SparkSubmit.scala:1608)
\t... 12 more
2026-11-27 22:21:54,171 INFO executor.main: run run_1: workflow_id=w source_id=s path=samples/lake type=auto
{
  "run_id": "run_1",
  "summary": {"tables": 7}
}
metadata tables: spark_catalog._executor_metadata.{sources,tables,columns,executor_runs} at /tmp/wh/_executor_metadata.db
"""


def test_ivy_lines_are_noise_and_the_rest_is_kept():
    assert [line for line in IVY.splitlines(keepends=True) if not jvm_noise(line)] == []
    assert [line for line in KEPT.splitlines(keepends=True) if jvm_noise(line)] == []


def test_the_log4j_config_ships_in_the_package_and_defaults_to_error():
    text = Path(log4j2_properties()).read_text()
    assert "rootLogger.level = ${sys:nuvyn.spark.log.level:-error}" in text
    assert jvm_java_options("ERROR").endswith("-Dnuvyn.spark.log.level=error")
    assert f"-Dlog4j2.configurationFile=file:{log4j2_properties()}" in jvm_java_options("INFO")


def _submit_module():
    spec = importlib.util.spec_from_file_location("nuvyn_submit", REPO / "scripts" / "submit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_spark_submit(tmp_path: Path, code: int) -> list[str]:
    script = tmp_path / "fake_spark_submit.py"
    script.write_text(
        "import sys\n"
        f"sys.stdout.write({IVY.splitlines(keepends=True)[0]!r})\n"
        f"sys.stderr.write({IVY!r})\n"
        f"sys.stdout.write({KEPT!r})\n"
        f"sys.exit({code})\n")
    return [sys.executable, str(script)]


def test_submit_drops_ivy_from_both_streams(tmp_path, monkeypatch, capsys):
    submit = _submit_module()
    monkeypatch.delenv("NUVYN_SPARK_LOG_LEVEL", raising=False)
    monkeypatch.delenv("NUVYN_LOG_LEVEL", raising=False)
    monkeypatch.setattr(submit, "command", lambda args, env: _fake_spark_submit(tmp_path, 0))
    assert submit.main([]) == 0
    out = capsys.readouterr()
    assert out.out == KEPT and out.err == ""
    report, _ = json.JSONDecoder().raw_decode(out.out, out.out.index("{\n"))
    assert report["run_id"] == "run_1"


def test_submit_shows_everything_at_debug_and_the_dropped_lines_on_failure(tmp_path, monkeypatch, capsys):
    submit = _submit_module()
    monkeypatch.setenv("NUVYN_LOG_LEVEL", "DEBUG")
    monkeypatch.setattr(submit, "command", lambda args, env: _fake_spark_submit(tmp_path, 0))
    assert submit.main([]) == 0
    out = capsys.readouterr()
    assert ":: resolution report ::" in out.err and out.out.startswith(":: loading settings ::")
    monkeypatch.delenv("NUVYN_LOG_LEVEL")
    monkeypatch.setattr(submit, "command", lambda args, env: _fake_spark_submit(tmp_path, 3))
    assert submit.main([]) == 3
    err = capsys.readouterr().err
    assert "spark-submit failed; its dependency resolution output was:" in err and ":: resolution report ::" in err


def test_submit_passes_the_log4j_config_to_the_driver():
    submit = _submit_module()
    cmd = submit.command(["--packages", "x", "job.py"], {})
    assert cmd[0].endswith("spark-submit") and cmd[-3:] == ["--packages", "x", "job.py"]
    assert f"spark.driver.extraJavaOptions={jvm_java_options('ERROR')}" in cmd
    assert submit.spark_log_level({"NUVYN_LOG_LEVEL": "debug"}) == "INFO"
    assert submit.spark_log_level({"NUVYN_SPARK_LOG_LEVEL": "warn"}) == "WARN"
