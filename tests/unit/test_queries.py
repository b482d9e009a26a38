"""The metadata reads without a JVM (executor.storage.queries): delta-rs on tables written with
delta-rs (tests/metadata_tables.py), against the facts that were written. The Spark parity test is
tests/integration/test_reads_parity.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.errors import MetadataStoreError, QueryError, SettingsError  # noqa: E402
from executor.settings import Settings  # noqa: E402
from executor.storage import schema as S  # noqa: E402
from executor.storage.queries import DeltaReads, ReadSettings, StatementReads, build_reads  # noqa: E402
from tests import metadata_tables as M  # noqa: E402


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    loc = str(tmp_path_factory.mktemp("wh") / "_executor_metadata.db")
    written = M.build_lake(loc)
    return loc, written


@pytest.fixture()
def reads(lake):
    return DeltaReads(lake[0])


def test_latest_completed_run_per_workflow_and_source(reads):
    out = reads.query_metadata(workflow_id="wf_1")
    # src_a: run_a2 (partial) is the latest completed; run_a3 failed and run_a4 (killed) never count
    assert [(r["run_id"], r["status"]) for r in out["runs"]] == [("run_a2", "partial"), ("run_b1", "succeeded")]
    assert [(t["table_name"], t["source_id"]) for t in out["tables"]] == [
        ("customers", "src_a"), ("customers", "src_b"), ("events", "src_a"), ("events", "src_b"), ("orders", "src_a")]
    assert {s["run_id"] for s in out["sources"]} == {"run_a2", "run_b1"}
    assert [c["column_name"] for c in out["columns"] if c["run_id"] == "run_a2" and c["table_name"] == "customers"] \
        == ["id", "name", "email"]
    failed = [t for t in out["tables"] if t["status"] == "failed"]
    assert [(t["table_name"], t["error_message"], t["row_count"]) for t in failed] == [("events", "bad file", None)]


def test_every_column_in_table_order_with_spark_types(reads):
    out = reads.query_metadata(workflow_id="wf_1", source_id="src_b")
    for key, table in (("sources", S.SOURCES), ("tables", S.TABLES), ("columns", S.COLUMNS),
                       ("runs", S.EXECUTOR_RUNS)):
        assert list(out[key][0]) == S.column_names(table), key
    run = out["runs"][0]
    assert run["started_at"] == M.T0.replace(minute=M.T0.minute + 5) and run["started_at"].tzinfo is None
    col = out["columns"][0]
    assert isinstance(col["position"], int) and isinstance(col["is_nullable"], bool) and isinstance(col["id"], int)
    assert json.loads(out["columns"][1]["sample_values"]) == ["a", None, "é"]


def test_run_id_picks_one_run_even_a_killed_one(reads):
    out = reads.query_metadata(workflow_id="wf_1", run_id="run_a4")
    assert [(r["run_id"], r["status"], r["finished_at"]) for r in out["runs"]] == [("run_a4", "running", None)]
    assert out["tables"] == [] and out["columns"] == []
    first = reads.query_metadata(workflow_id="wf_1", run_id="run_a1")
    assert {t["table_name"] for t in first["tables"]} == {"customers", "events"}


def test_source_alone_matches_every_workflow_and_null_source_is_a_key(reads):
    out = reads.query_metadata(source_id="src_a")
    assert [r["run_id"] for r in out["runs"]] == ["run_a2", "run_c1"]
    none_src = reads.query_metadata(workflow_id="wf_3")
    assert [r["run_id"] for r in none_src["runs"]] == ["run_n2"]
    assert {t["source_id"] for t in none_src["tables"]} == {None}


def test_every_run_with_its_current_status(reads):
    runs = reads.select_runs("wf_1", completed_only=False, latest_only=False)
    assert [(r["run_id"], r["status"]) for r in runs] == [
        ("run_a4", "running"), ("run_a3", "failed"), ("run_a2", "partial"), ("run_b1", "succeeded"),
        ("run_a1", "succeeded")]
    assert runs[1]["error_message"] == "boom"


def test_filter_values_are_values_not_patterns(reads):
    for wf in ("x' OR '1'='1", "wf_%", "wf_.", "WF_1"):
        assert reads.query_metadata(workflow_id=wf) == {"sources": [], "tables": [], "columns": [], "runs": []}
    with pytest.raises(QueryError, match="needs workflow_id or source_id"):
        reads.query_metadata()


def test_schema_changes_between_the_latest_two_completed_runs(reads):
    out = reads.schema_changes("wf_1")
    assert (out["source_id"], out["from_run_id"], out["to_run_id"]) == ("src_a", "run_a1", "run_a2")
    ch = out["changes"]
    assert [t["table_name"] for t in ch["tables_added"]] == ["orders"]
    assert [t["table_name"] for t in ch["tables_failed"]] == ["events"]
    (cust,) = ch["tables_changed"]
    assert [c["column_name"] for c in cust["columns_added"]] == ["email"]
    assert cust["columns_retyped"] == [{"column_name": "id", "from_type": "int", "to_type": "bigint"}]
    pinned = reads.schema_changes("wf_1", "src_a", "run_a1", "run_a2")
    assert pinned["changes"] == ch
    with pytest.raises(QueryError, match="not completed"):
        reads.schema_changes("wf_1", None, "run_a1", "run_a3")
    with pytest.raises(QueryError, match="not found"):
        reads.schema_changes("wf_2", None, "run_a1", "run_a2")
    one = reads.schema_changes("wf_2")
    assert one["changes"] is None and one["to_run_id"] == "run_c1" and "fewer than two" in one["message"]


def test_missing_tables_read_as_empty(tmp_path):
    reads = DeltaReads(str(tmp_path / "nothing"))
    assert reads.query_metadata(workflow_id="wf_1") == {"sources": [], "tables": [], "columns": [], "runs": []}
    assert reads.schema_changes("wf_1")["changes"] is None


def test_an_older_table_without_newer_columns_reads_them_as_null(tmp_path):
    loc = str(tmp_path)
    old_cols = [c for c in S.column_names(S.EXECUTOR_RUNS) if c not in ("source_path", "summary")]
    M.write(loc, S.EXECUTOR_RUNS, M.run_events("run_1", "wf_old", None, "succeeded", 0), columns=old_cols)
    (run,) = DeltaReads(loc).select_runs("wf_old")
    assert run["summary"] is None and run["source_path"] is None and run["status"] == "succeeded"
    assert list(run) == old_cols + ["source_path", "summary"]


def test_a_broken_table_is_a_store_error(tmp_path):
    log = tmp_path / S.EXECUTOR_RUNS / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("{not json")
    with pytest.raises(MetadataStoreError, match="executor_runs"):
        DeltaReads(str(tmp_path)).select_runs("wf_1")


def test_backend_choice():
    s = Settings(warehouse_dir="/w")
    assert isinstance(build_reads(s, ReadSettings(), databricks=False), DeltaReads)
    assert build_reads(s, ReadSettings(), databricks=False).location == "/w/_executor_metadata.db"
    assert ReadSettings.from_env({"NUVYN_SQL_WAREHOUSE_ID": "abc123"}).choose(False) == "statement"
    assert ReadSettings.from_env({}).choose(True) == "spark"
    reads = build_reads(s, ReadSettings.from_env({"NUVYN_SQL_WAREHOUSE_ID": "abc123"}), databricks=False,
                        statement_client=lambda: "client")
    assert isinstance(reads, StatementReads) and reads.warehouse_id == "abc123"
    sentinel = object()
    assert build_reads(s, ReadSettings(), databricks=True, spark_reads=lambda: sentinel) is sentinel
    with pytest.raises(SettingsError, match="NUVYN_SQL_WAREHOUSE_ID"):
        ReadSettings.from_env({"NUVYN_SQL_WAREHOUSE_ID": "abc'; DROP"})
    with pytest.raises(SettingsError, match="NUVYN_READ_BACKEND"):
        ReadSettings.from_env({"NUVYN_READ_BACKEND": "duckdb"})
    with pytest.raises(SettingsError, match="needs NUVYN_SQL_WAREHOUSE_ID"):
        ReadSettings.from_env({"NUVYN_READ_BACKEND": "statement"})


def test_read_settings_parse_the_environment():
    from executor.settings import ReadPoolSettings

    rs = ReadSettings.from_env({"NUVYN_READ_BACKEND": " delta ", "NUVYN_SQL_WAREHOUSE_ID": "",
                                "NUVYN_SQL_STATEMENT_TIMEOUT_S": " 2.5 "})
    assert (rs.backend, rs.sql_warehouse_id, rs.statement_timeout_s) == ("delta", None, 2.5)
    assert ReadSettings.from_env({"NUVYN_SQL_WAREHOUSE_ID": " abc123\n"}).sql_warehouse_id == "abc123"
    pool = ReadPoolSettings.from_env({"NUVYN_API_READ_WORKERS": " 3 ", "NUVYN_API_READ_MAX_PENDING": "  ",
                                      "NUVYN_API_READ_TIMEOUT_S": "7"})
    assert (pool.workers, pool.max_pending, pool.timeout_s) == (3, 64, 7.0)
    assert isinstance(pool.workers, int) and isinstance(pool.timeout_s, float)
    for cls, env, what in ((ReadSettings, "NUVYN_SQL_STATEMENT_TIMEOUT_S", "a number"),
                           (ReadPoolSettings, "NUVYN_API_READ_TIMEOUT_S", "a number"),
                           (ReadPoolSettings, "NUVYN_API_READ_WORKERS", "an integer")):
        with pytest.raises(SettingsError, match=f"^{env}='soon' is not {what}$"):
            cls.from_env({env: "soon"})
    with pytest.raises(SettingsError, match="^NUVYN_API_READ_WORKERS='2.5' is not an integer$"):
        ReadPoolSettings.from_env({"NUVYN_API_READ_WORKERS": "2.5"})
    assert ReadPoolSettings.describe()[0] == (
        "NUVYN_API_READ_WORKERS", "4",
        "Metadata reads (/workflows/{id}/metadata and /changes) running at once, in threads off the event loop.")
    assert [d[:2] for d in ReadSettings.describe()] == [
        ("NUVYN_READ_BACKEND", "'auto'"), ("NUVYN_SQL_WAREHOUSE_ID", "None"), ("NUVYN_SQL_STATEMENT_TIMEOUT_S", "60.0"),
        ("NUVYN_SQL_WAREHOUSE_START_TIMEOUT_S", "600.0"), ("NUVYN_SQL_RESULT_DISPOSITION", "'auto'"),
        ("NUVYN_SQL_WAREHOUSE_TIMEZONE", "None")]


def test_read_settings_are_documented():
    from executor.settings import ReadPoolSettings

    api = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text(encoding="utf-8")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for env, _default, _desc in ReadSettings.describe() + ReadPoolSettings.describe():
        assert f"`{env}`" in api, env
    for env, _default, _desc in ReadSettings.describe():
        assert f"`{env}`" in readme, env


def test_a_reader_sees_runs_committed_after_its_first_read(tmp_path):
    loc = str(tmp_path)
    reads = DeltaReads(loc)
    assert reads.select_runs("wf_live") == []  # no table yet
    M.write(loc, S.EXECUTOR_RUNS, M.run_events("run_1", "wf_live", "s", "succeeded", 0, rid=1))
    assert [r["run_id"] for r in reads.select_runs("wf_live")] == ["run_1"]
    M.write(loc, S.EXECUTOR_RUNS, M.run_events("run_2", "wf_live", "s", "succeeded", 5, rid=2))
    assert [r["run_id"] for r in reads.select_runs("wf_live")] == ["run_2"]


def test_api_json_body_is_what_jsonresponse_would_send(reads):
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse

    from executor.api.reads import json_body

    for result in (reads.query_metadata(workflow_id="wf_1"), reads.schema_changes("wf_1")):
        assert json_body(result) == JSONResponse(jsonable_encoder(result)).body
