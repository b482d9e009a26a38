"""`nuvyn-executor extract`, `runs`, `tables` and `query` on a real local run (Spark + Delta).

Commands are called in-process (executor.cli.main) on the shared session: the test's own
ExecutorContext is passed in (cli.main's `context`), so no extra JVM is started."""

from __future__ import annotations

import json

import pytest

import executor.cli as cli
from executor.ops.commands import latest_tables, list_runs
from executor.payload import build_request
from executor.run import EXIT_FAILED, EXIT_OK, run_job


@pytest.fixture()
def cli_main(context):
    """executor.cli.main on the test's ExecutorContext, with an empty environment."""
    return lambda argv: cli.main(argv, env={}, context=context)


def test_extract_runs_tables_query(context, cli_main, sample_lake, tmp_path, capsys):
    # 1. a successful run through the console script's extract command, with a pattern and progress
    rc = cli_main(["extract", str(sample_lake), "--workflow-id", "wf_ops", "--source-id", "src_ops",
                   "--exclude", "legacy/*", "--write-to-db", "--progress", "log", "--progress-interval", "0"])
    out = capsys.readouterr()
    assert rc == EXIT_OK, out.err
    assert "Run run_" in out.out and "SUCCEEDED" in out.out and "6 extracted, 6 ok, 0 failed" in out.out
    assert "progress: 6/6 tables, 13/13 files" in out.err  # interval 0: a line after every table
    s = context.settings  # the write ends with one line: catalog, schema and where the four tables are
    assert out.out.rstrip().splitlines()[-1] == (
        f"metadata tables: {s.catalog}.{s.schema}.{{sources,tables,columns,executor_runs}} "
        f"at {s.resolved_tables_location(False)}")

    # 2. a failed run (missing path) and a partial one (an empty file fails its table)
    missing = build_request({"workflow_id": "wf_ops", "source_id": "src_ops"},
                            data_source_path=str(tmp_path / "missing"))
    assert run_job(missing, context)[0] == EXIT_FAILED
    partial_lake = tmp_path / "partial"
    partial_lake.mkdir()
    (partial_lake / "ok.csv").write_text("a,b\n1,2\n3,4\n")
    (partial_lake / "empty.csv").write_text("")
    calls = []
    code, report = run_job(build_request({"workflow_id": "wf_ops", "source_id": "src_ops"},
                                         data_source_path=str(partial_lake)),
                           context, progress=lambda t, tot: calls.append(tot["tables_done"]))
    assert code == EXIT_OK and report["status"] == "partial" and calls == [0, 1, 2]

    # 3. runs: all three, newest first, with the current status and the parsed summary
    runs = list_runs(context.writer, "wf_ops", None)
    assert [r["status"] for r in runs] == ["partial", "failed", "succeeded"]
    assert runs[0]["summary"]["tables_failed"] == 1 and runs[0]["summary"]["failed"][0]["table"] == "empty"
    assert runs[2]["summary"]["tables"] == 6 and runs[2]["summary"]["rows"] > 0
    assert "does not exist" in runs[1]["error_message"]
    assert cli_main(["runs", "--workflow-id", "wf_ops"]) == EXIT_OK
    text = capsys.readouterr().out
    assert [line.split()[1] for line in text.splitlines()[2:5]] == ["partial", "failed", "succeeded"]
    assert "Latest run:" in text and "failed empty:" in text
    assert cli_main(["runs", "--workflow-id", "wf_ops", "--source-id", "src_ops", "--format", "json",
                     "--limit", "1"]) == EXIT_OK
    (only,) = json.loads(capsys.readouterr().out)
    assert only["status"] == "partial" and isinstance(only["summary"], dict)

    # 4. tables: the latest completed run's tables (the partial one), with row counts
    latest = latest_tables(context.writer, "wf_ops", "src_ops")
    assert {t["table_name"]: t["row_count"] for t in latest["tables"]} == {"empty": None, "ok": 2}
    assert cli_main(["tables", "--workflow-id", "wf_ops"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "ok" in text and "failed" in text and "2 tables, 2 rows" in text

    # 5. query shows the summary too (table and JSON)
    assert cli_main(["query", "--workflow-id", "wf_ops", "--format", "table"]) == EXIT_OK
    assert "Run summary:" in capsys.readouterr().out
    assert cli_main(["query", "--workflow-id", "wf_ops"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["runs"][0]["summary"]["tables"] == 2


def test_runs_needs_an_id(capsys):
    assert cli.main(["runs"]) == 2
    assert "--workflow-id" in capsys.readouterr().err


def test_migrate_ends_with_the_tables_line(context, cli_main, capsys):
    s = context.settings
    line = (f"metadata tables: {s.catalog}.{s.schema}.{{sources,tables,columns,executor_runs}} "
            f"at {s.resolved_tables_location(False)}")
    assert cli_main(["migrate"]) == EXIT_OK
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == line
    assert cli_main(["migrate", "--dry-run"]) == EXIT_OK
    out = capsys.readouterr().out.rstrip().splitlines()
    assert out[-1] == "-- " + line and "-- nothing to do: the tables are up to date" in out
