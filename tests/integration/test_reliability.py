"""Nothing lost, nothing doubled: retries, concurrent runs, crashes, bad files, v1 tables."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from executor.context import ExecutorContext
from executor.main import EXIT_FAILED, EXIT_OK, run_job
from executor.payload import build_request
from executor.storage import schema as S
from tests.servers import die_with_parent, stop_process, wait_budget

REPO = Path(__file__).resolve().parents[2]


def run(context, lake, workflow_id, run_id=None, source_id=None):
    req = build_request({"workflow_id": workflow_id, "source_id": source_id}, data_source_path=str(lake),
                        run_id=run_id)
    return run_job(req, context)


def rows_of(context, table, **filters):
    from pyspark.sql import functions as F

    df = context.spark.table(context.settings.table_name(table))
    for k, v in filters.items():
        df = df.filter(F.col(k) == v)
    return df.collect()


def small_lake(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"t{i}.csv").write_text(f"a,b{i}\n" + "".join(f"{j},{j * i}\n" for j in range(10 + i)))
    return root


def test_same_run_id_twice_never_duplicates(context, sample_lake):
    code1, r1 = run(context, sample_lake, "wf_retry", run_id="run-retry-1")
    code2, r2 = run(context, sample_lake, "wf_retry", run_id="run-retry-1")
    assert (code1, code2) == (EXIT_OK, EXIT_OK)
    assert len(rows_of(context, "sources", run_id="run-retry-1")) == 1
    assert len(rows_of(context, "tables", run_id="run-retry-1")) == 7
    cols = rows_of(context, "columns", run_id="run-retry-1")
    assert len(cols) == len({c.id for c in cols}) == 31
    events = rows_of(context, "executor_runs", run_id="run-retry-1")
    assert sorted(e.status for e in events) == ["running", "succeeded"]


def test_retry_after_a_failure_between_table_writes_completes_the_run(context, sample_lake, monkeypatch):
    writer = context.writer
    original = type(writer.tables).append
    calls = []

    def flaky(self, name, rows, app_id):
        calls.append(name)
        if name == S.COLUMNS and calls.count(S.COLUMNS) == 1:
            raise RuntimeError("injected failure after the sources and tables writes")
        return original(self, name, rows, app_id)

    monkeypatch.setattr(type(writer.tables), "append", flaky)
    code, report = run(context, sample_lake, "wf_flaky", run_id="run-flaky")
    assert code == EXIT_FAILED and "injected failure" in report["error_message"]
    assert context.writer.query_metadata(workflow_id="wf_flaky")["runs"] == []  # not completed: not returned

    code, report = run(context, sample_lake, "wf_flaky", run_id="run-flaky")  # the task retry
    assert code == EXIT_OK and report["status"] == "succeeded"
    meta = context.writer.query_metadata(workflow_id="wf_flaky")
    assert [r["status"] for r in meta["runs"]] == ["succeeded"]
    assert len(meta["sources"]) == 1 and len(meta["tables"]) == 7
    assert len(meta["columns"]) == sum(t["column_count"] for t in meta["tables"]) == 31
    all_ids = [r.id for t in S.DATA_TABLES for r in rows_of(context, t, workflow_id="wf_flaky")]
    assert len(all_ids) == len(set(all_ids))


def _job_env(warehouse: Path, payload: dict) -> dict:
    return {**os.environ, "NUVYN_WAREHOUSE_DIR": str(warehouse), "NUVYN_SPARK_MASTER": "local[1]",
            "NUVYN_JOB_PAYLOAD": json.dumps(payload), "PYTHONPATH": str(REPO)}


def _context_on(spark, settings, warehouse: Path) -> ExecutorContext:
    # a schema name of its own (the session catalog outlives the test), the tables where the jobs wrote them
    s = replace(settings, schema=f"m_{uuid.uuid4().hex[:10]}", tables_location=str(warehouse / "_executor_metadata.db"))
    return ExecutorContext(settings=s, env={}, spark=spark)


def test_four_concurrent_runs_on_an_empty_schema(tmp_path, spark, settings):
    lake = small_lake(tmp_path / "lake")
    warehouse = tmp_path / "wh"
    procs = [subprocess.Popen([sys.executable, "-m", "executor.main", "metadata_extraction", str(lake), "auto",
                               "default", "--write-to-db"], env=_job_env(warehouse, {"workflow_id": f"wf_c{i}"}),
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=die_with_parent)
             for i in range(4)]
    limit = wait_budget(2400)  # four JVMs at once on a busy 2-core machine
    try:
        outs = [p.communicate(timeout=limit) for p in procs]
    except subprocess.TimeoutExpired:
        pytest.fail(f"waited {limit:.0f}s for the four concurrent runs to finish")
    finally:
        for p in procs:
            stop_process(p)
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    ctx = _context_on(spark, settings, warehouse)
    for i in range(4):
        meta = ctx.writer.query_metadata(workflow_id=f"wf_c{i}")
        assert meta["runs"][0]["status"] == "succeeded"
        assert sorted(t["row_count"] for t in meta["tables"]) == [10, 11, 12]
    for t in S.ALL_TABLES:
        ids = [r.id for r in ctx.spark.table(ctx.settings.table_name(t)).collect()]
        assert len(ids) == len(set(ids)), t
    assert len(ctx.spark.table(ctx.settings.table_name("executor_runs")).collect()) == 8


def test_sigkill_mid_write_is_abandoned_marked_once_and_the_retry_completes(tmp_path, spark, settings, monkeypatch):
    """A job process SIGKILLed mid-write: while it runs, neither `runs` nor the next run touch it; once
    it is dead, `runs` (delta-rs and Spark alike) reports it abandoned with the reason without writing,
    the next run and a concurrent marker write its `abandoned` row once, it is never returned as
    complete, and the next attempt of the same run completes it."""
    import socket

    from executor.ops.commands import list_runs
    from executor.ops.render import to_json
    from executor.storage.databricks_writer import DatabricksWriter
    from executor.storage.writer import TablesWriter

    lake = small_lake(tmp_path / "lake")
    warehouse = tmp_path / "wh"
    marker = tmp_path / "paused"
    env = {**_job_env(warehouse, {"workflow_id": "wf_kill"}), "NUVYN_TEST_PAUSE_AFTER": "tables",
           "NUVYN_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, str(REPO / "tests/integration/fault_job.py"), "metadata_extraction",
                             str(lake), "auto", "default", "--write-to-db", "--run-id", "run-kill-1"],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=die_with_parent)
    limit = wait_budget(1200)
    deadline = time.monotonic() + limit
    ctx = _context_on(spark, settings, warehouse)
    try:
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, f"waited {limit:.0f}s: the job never reached the pause point"
            time.sleep(0.5)
        # a live run: `runs` shows it running, the next run (another workflow) leaves it alone
        assert [r["status"] for r in list_runs(ctx.reads, "wf_kill", None)] == ["running"]
        assert run(ctx, lake, "wf_next_1")[0] == EXIT_OK
        assert proc.poll() is None, "the paused job ended on its own"
        assert sorted(e.status for e in rows_of(ctx, "executor_runs", run_id="run-kill-1")) == ["running"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=wait_budget(60))

    reason = f"the process (pid {proc.pid} on host {socket.gethostname()}) is gone; the run never recorded its end"
    assert ctx.writer.query_metadata(workflow_id="wf_kill")["runs"] == []
    runs = list_runs(ctx.reads, "wf_kill", None)  # delta-rs, as `nuvyn-executor runs` reads
    assert [(r["status"], r["error_message"], r["finished_at"]) for r in runs] == [("abandoned", reason, None)]
    assert to_json(runs) == to_json(list_runs(ctx.writer.reads, "wf_kill", None))  # Spark: the same answer
    assert sorted(e.status for e in rows_of(ctx, "executor_runs", run_id="run-kill-1")) == ["running"]  # reads write nothing

    # the next run and a concurrent marker find it together and both append its row: one row
    both = threading.Barrier(2, timeout=wait_budget(600))
    original = TablesWriter.record_run

    def racing(self, record):
        if record.status == "abandoned":
            both.wait()
        return original(self, record)

    monkeypatch.setattr(TablesWriter, "record_run", racing)
    other = DatabricksWriter(spark, ctx.settings, liveness=ctx.liveness)
    marked: list[list[str]] = []
    thread = threading.Thread(target=lambda: marked.append(other.mark_abandoned(marked_by="concurrent marker")))
    thread.start()
    assert run(ctx, lake, "wf_next_2")[0] == EXIT_OK
    thread.join(timeout=wait_budget(600))
    assert not both.broken and marked == [["run-kill-1"]], "the two markers did not race"
    monkeypatch.undo()
    events = rows_of(ctx, "executor_runs", run_id="run-kill-1")
    assert sorted(e.status for e in events) == ["abandoned", "running"]
    (row,) = [e for e in events if e.status == "abandoned"]
    assert row.error_message == reason and row.finished_at is not None and row.pid == proc.pid
    marked_by = json.loads(row.summary)["marked_by"]
    assert marked_by == "concurrent marker" or (marked_by.startswith("run ") and f"pid {os.getpid()}" in marked_by)
    assert ctx.writer.mark_abandoned(marked_by="a later run") == []  # marked already: nothing more
    assert len(rows_of(ctx, "executor_runs", run_id="run-kill-1")) == 2
    runs = list_runs(ctx.reads, "wf_kill", None)
    assert [(r["status"], r["error_message"]) for r in runs] == [("abandoned", reason)] and runs[0]["finished_at"]
    assert to_json(runs) == to_json(list_runs(ctx.writer.reads, "wf_kill", None))
    assert ctx.writer.query_metadata(workflow_id="wf_kill")["runs"] == []
    assert ctx.writer.schema_changes("wf_kill")["to_run_id"] is None  # diff skips it

    code, report = run(ctx, lake, "wf_kill", run_id="run-kill-1")  # the next attempt of the same run
    assert code == EXIT_OK
    meta = ctx.writer.query_metadata(workflow_id="wf_kill")
    assert [r["status"] for r in meta["runs"]] == ["succeeded"]
    assert len(meta["sources"]) == 1 and len(meta["tables"]) == 3
    assert len(meta["columns"]) == 6
    assert [r["status"] for r in list_runs(ctx.reads, "wf_kill", None)] == ["succeeded"]


def _bad_lake(root: Path) -> Path:
    root.mkdir()
    (root / "good.csv").write_text("id,name\n1,a\n2,b\n")
    (root / "zero.csv").write_bytes(b"")
    (root / "header_only.csv").write_text("id,name,score\n")
    (root / "garbage.csv").write_bytes(bytes(range(256)) * 64)
    pq.write_table(pa.table({"x": [1, 2, 3]}), root / "truncated.parquet")
    data = (root / "truncated.parquet").read_bytes()
    (root / "truncated.parquet").write_bytes(data[:-20])
    pq.write_table(pa.table({"ts": pa.array([1, 2], pa.timestamp("ns"))}), root / "nanos.parquet",
                   coerce_timestamps=None, version="2.6")
    (root / "latin1.csv").write_bytes("name,city\nJosé,Málaga\nFrançois,Besançon\n".encode("iso-8859-1"))
    (root / "dupes.csv").write_text("a,a,b\n1,2,3\n")
    buf = io.StringIO()
    csv.writer(buf).writerows([["with space", "dot.ted", "com,ma", 'quo"te', "naïve_ñ"], [1, 2, 3, 4, 5]])
    (root / "odd_names.csv").write_text(buf.getvalue(), encoding="utf-8")
    (root / "wide.csv").write_text(",".join(f"c{i}" for i in range(2000)) + "\n" + ",".join("1" for _ in range(2000)) + "\n")
    (root / "huge_field.csv").write_text("id,blob\n1," + "x" * (10 * 1024 * 1024) + "\n2,y\n")
    (root / "vanishing.csv").write_text("v\n1\n")
    (root / "locked.csv").write_text("v\n1\n")
    (root / "loop").symlink_to(root, target_is_directory=True)
    return root


def test_bad_files_fail_their_table_and_the_run_goes_on(context, tmp_path):
    lake = _bad_lake(tmp_path / "bad")
    from executor.metadata.plan import default_store_factory

    def store_factory(location, settings):
        store = default_store_factory(location, settings)
        real_open, real_list = store.open, store.list_files

        def list_files(prune):
            yield from real_list(prune)
            (lake / "vanishing.csv").unlink()  # gone between listing and reading

        def open_(uri):
            if uri.endswith("locked.csv"):  # tests run as root: simulate the file system's refusal
                raise PermissionError(13, "Permission denied", uri)
            return real_open(uri)

        store.list_files, store.open = list_files, open_
        return store

    context.extractor.store_factory = store_factory
    code, report = run(context, lake, "wf_badfiles")
    assert code == EXIT_OK and report["status"] == "partial"
    meta = context.writer.query_metadata(workflow_id="wf_badfiles")
    tables = {t["table_name"]: t for t in meta["tables"]}
    cols = {}
    for c in meta["columns"]:
        cols.setdefault(c["table_name"], []).append(c)

    failed = {n: t["error_message"] for n, t in tables.items() if t["status"] == "failed"}
    assert set(failed) == {"zero", "garbage", "truncated", "nanos", "vanishing", "locked"}, failed
    assert "empty (0 bytes)" in failed["zero"]
    assert "binary" in failed["garbage"]
    assert "disappeared" in failed["vanishing"]
    assert "permission denied" in failed["locked"]
    for name in ("good", "header_only", "latin1", "dupes", "odd_names", "wide", "huge_field"):
        assert tables[name]["status"] == "ok", (name, tables[name]["error_message"])
    assert tables["good"]["row_count"] == 2
    assert tables["header_only"]["row_count"] == 0 and tables["header_only"]["column_count"] == 3
    assert tables["latin1"]["row_count"] == 2
    assert json.loads(next(c for c in cols["latin1"] if c["column_name"] == "city")["sample_values"]) == [
        "Málaga", "Besançon"]
    assert [c["column_name"] for c in cols["dupes"]] == ["a", "a", "b"]
    assert [c["column_name"] for c in cols["odd_names"]] == ["with space", "dot.ted", "com,ma", 'quo"te', "naïve_ñ"]
    assert tables["wide"]["column_count"] == 2000
    blob = next(c for c in cols["huge_field"] if c["column_name"] == "blob")
    assert max(len(v) for v in json.loads(blob["sample_values"])) == context.settings.sample_value_max_chars
    assert tables["huge_field"]["row_count"] == 2
    skipped = rows_of(context, "sources", workflow_id="wf_badfiles")[0].files_skipped
    assert skipped >= 1  # the symlink loop


V1_COLUMNS = {name: [c for c in cols if c.seed and c.name != "workflow_id"] for name, cols in S.TABLE_COLUMNS.items()
              if name in S.CONTRACT_TABLES}  # file_facts came later: the upgrade creates it


def test_v1_tables_are_upgraded_in_place(tmp_path, spark, settings, sample_lake):
    warehouse = tmp_path / "wh"
    ctx = _context_on(spark, replace(settings, warehouse_dir=str(warehouse)), warehouse)
    loc = warehouse / "_executor_metadata.db"
    s = ctx.settings
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {s.qualified_schema} LOCATION '{loc}'")
    for name, cols in V1_COLUMNS.items():
        ddl = ", ".join(f"`{c.name}` {c.sql_type}" for c in cols)
        spark.sql(f"CREATE TABLE {s.table_name(name)} ({ddl}) USING DELTA LOCATION '{loc / name}'")
    spark.sql(f"INSERT INTO {s.table_name('sources')} (id, source_id, source_path, source_type, files_found, "
              "total_size_bytes) VALUES (1, 'legacy_src', '/old', 'local', 3, 100)")
    spark.sql(f"INSERT INTO {s.table_name('tables')} (id, source_id, table_name, row_count) "
              "VALUES (1, 'legacy_src', 'old_table', 42)")

    dry = ctx.writer.migrate(dry_run=True, backfill_workflow_id=True)
    assert any("ADD COLUMNS" in d and "`workflow_id`" in d for d in dry)
    assert "workflow_id" not in ctx.writer.existing_columns("sources")  # dry run changed nothing

    code, _ = run(ctx, sample_lake, "wf_after_v1")
    assert code == EXIT_OK
    for name in S.ALL_TABLES:
        assert ctx.writer.missing_columns(name) == []
    old = rows_of(ctx, "tables", source_id="legacy_src")
    assert len(old) == 1 and old[0].row_count == 42 and old[0].workflow_id is None

    done = ctx.writer.migrate(backfill_workflow_id=True, optimize=True)
    assert any("UPDATE" in d for d in done)
    assert rows_of(ctx, "tables", source_id="legacy_src")[0].workflow_id == "legacy_src"
    assert rows_of(ctx, "sources", source_id="legacy_src")[0].workflow_id == "legacy_src"
    assert ctx.writer.migrate() == []  # idempotent: nothing left to change
    assert len(ctx.writer.query_metadata(workflow_id="wf_after_v1")["tables"]) == 7
    detail = spark.sql(f"DESCRIBE DETAIL {s.table_name('columns')}").collect()[0]
    assert detail.numFiles >= 1


def test_ids_with_allowed_special_characters_are_stored_and_queried_exactly(context, sample_lake):
    wf, src = "wf.a:b@c-d_e", "src_%"[:-1] + "x"
    code, _ = run(context, sample_lake, wf, source_id=src)
    assert code == EXIT_OK
    meta = context.writer.query_metadata(workflow_id=wf, source_id=src)
    assert {t["workflow_id"] for t in meta["tables"]} == {wf}
    assert context.writer.query_metadata(workflow_id="wf.a:b@c-d_%")["runs"] == []
    assert context.writer.query_metadata(workflow_id="wf_a:b@c-d_e")["runs"] == []  # '_' is no wildcard
