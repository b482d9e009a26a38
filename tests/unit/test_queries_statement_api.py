"""StatementReads against a local HTTP double of the Databricks SQL Statement Execution API (the
control plane is the one place a fake is allowed). databricks-sdk's WorkspaceClient makes the real
HTTP calls; the double checks the request shape (path, auth, warehouse, INLINE/JSON_ARRAY, named
STRING parameters, no value inside the SQL text), runs the statement on sqlite holding the same rows
as the delta-rs tables, and answers in the API's JSON_ARRAY form (every cell text, in chunks).
The answers must equal the delta-rs backend's on the same rows."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import threading
from datetime import datetime
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.errors import MetadataStoreError  # noqa: E402
from executor.settings import Settings  # noqa: E402
from executor.storage import schema as S  # noqa: E402
from executor.storage.queries import DeltaReads, StatementReads  # noqa: E402
from tests import metadata_tables as M  # noqa: E402
from tests.http_doubles import JsonApiHandler  # noqa: E402

TOKEN = "dapi-statement-test-token"
WAREHOUSE = "wh0123abcd"
TYPE_NAMES = {"BIGINT": "LONG", "INT": "INT", "STRING": "STRING", "TIMESTAMP": "TIMESTAMP", "BOOLEAN": "BOOLEAN"}
SQL_RE = re.compile(r"^SELECT \* FROM `hive_metastore`\.`_executor_metadata`\.`(\w+)`(?: WHERE (.+))?$")


class StatementApiDouble:
    def __init__(self, rows_by_table: dict[str, list[dict]], chunk_rows: int = 3) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.lock = threading.Lock()
        for table, rows in rows_by_table.items():
            cols = S.column_names(table)
            self.db.execute(f'CREATE TABLE "{table}" ({", ".join(cols)})')
            self.db.executemany(f'INSERT INTO "{table}" VALUES ({", ".join("?" for _ in cols)})',
                                [[self._cell(r.get(c)) for c in cols] for r in rows])
        self.chunk_rows = chunk_rows
        self.requests: list[dict] = []
        self.errors: list[str] = []
        self.results: dict[str, list[dict]] = {}
        self.pending_first = False
        self.missing: set[str] = set()
        self.fail_with: str | None = None
        self.next_id = 0
        double = self

        class Handler(JsonApiHandler):
            def do_POST(self):
                body = self._posted(double.requests)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._reply(401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
                if re.fullmatch(r"/api/2.0/sql/statements/\w+/cancel", self.path):
                    return self._reply(200, {})
                if self.path != "/api/2.0/sql/statements":
                    double.errors.append(f"unexpected POST {self.path}")
                    return self._reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": self.path})
                self._reply(200, double.execute(body))

            def do_GET(self):
                if self.path == "/.well-known/databricks-config":  # the SDK's host metadata probe
                    return self._reply(404, {"error_code": "NOT_FOUND", "message": self.path})
                double.requests.append({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")})
                m = re.fullmatch(r"/api/2.0/sql/statements/(\w+)(?:/result/chunks/(\d+))?", self.path)
                if not m or m.group(1) not in double.results:
                    double.errors.append(f"unexpected GET {self.path}")
                    return self._reply(404, {"error_code": "NOT_FOUND", "message": self.path})
                sid, chunk = m.group(1), m.group(2)
                if chunk is None:
                    return self._reply(200, double.response(sid))
                return self._reply(200, double.chunk(sid, int(chunk)))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _cell(v):
        if isinstance(v, datetime):
            return v.isoformat(timespec="microseconds") + "Z"
        return v

    def execute(self, body: dict) -> dict:
        extra = set(body) - {"statement", "warehouse_id", "parameters", "disposition", "format", "wait_timeout",
                             "on_wait_timeout"}
        if extra:
            self.errors.append(f"unexpected fields {extra}")
        if body.get("warehouse_id") != WAREHOUSE:
            self.errors.append(f"warehouse_id {body.get('warehouse_id')!r}")
        if body.get("disposition") != "INLINE" or body.get("format") != "JSON_ARRAY":
            self.errors.append(f"disposition/format {body.get('disposition')}/{body.get('format')}")
        sql = body["statement"]
        params = {p["name"]: p for p in body.get("parameters", [])}
        for p in params.values():
            if p.get("type") != "STRING" or set(p) != {"name", "value", "type"}:
                self.errors.append(f"parameter shape {p}")
            if p["value"] in sql:
                self.errors.append(f"value {p['value']!r} inside the SQL text")
        markers = set(re.findall(r":(\w+)", sql))
        if markers != set(params):
            self.errors.append(f"markers {markers} != parameters {set(params)}")
        m = SQL_RE.match(sql)
        if not m:
            self.errors.append(f"unexpected SQL {sql!r}")
            return {"statement_id": "x", "status": {"state": "FAILED", "error": {"message": "PARSE_SYNTAX_ERROR"}}}
        table, where = m.group(1), m.group(2)
        self.next_id += 1
        sid = f"st{self.next_id}"
        if self.fail_with:
            return {"statement_id": sid, "status": {"state": "FAILED", "error": {
                "error_code": "BAD_REQUEST", "message": self.fail_with}}}
        if table in self.missing:
            return {"statement_id": sid, "status": {"state": "FAILED", "error": {
                "error_code": "BAD_REQUEST", "message": f"[TABLE_OR_VIEW_NOT_FOUND] The table `{table}` cannot be found."}}}
        with self.lock:
            cur = self.db.execute(f'SELECT * FROM "{table}"' + (f" WHERE {where}" if where else ""),
                                  {k: p["value"] for k, p in params.items()})
            rows = cur.fetchall()
        types = {c.name: c.sql_type for c in S.TABLE_COLUMNS[table]}
        names = S.column_names(table)
        self.results[sid] = [{"table": table, "names": names, "types": types,
                              "rows": [[self._text(types[n], v) for n, v in zip(names, r)] for r in rows]}]
        if self.pending_first:
            return {"statement_id": sid, "status": {"state": "PENDING"}}
        return self.response(sid)

    @staticmethod
    def _text(sql_type: str, v):
        if v is None:
            return None
        if sql_type == "BOOLEAN":
            return "true" if v else "false"
        return str(v)

    def response(self, sid: str) -> dict:
        r = self.results[sid][0]
        n_chunks = max(1, -(-len(r["rows"]) // self.chunk_rows))
        return {"statement_id": sid, "status": {"state": "SUCCEEDED"},
                "manifest": {"format": "JSON_ARRAY", "total_chunk_count": n_chunks, "total_row_count": len(r["rows"]),
                             "schema": {"column_count": len(r["names"]), "columns": [
                                 {"name": n, "type_name": TYPE_NAMES[r["types"][n]], "type_text": r["types"][n],
                                  "position": i} for i, n in enumerate(r["names"])]}},
                "result": self.chunk(sid, 0)}

    def chunk(self, sid: str, index: int) -> dict:
        rows = self.results[sid][0]["rows"]
        part = rows[index * self.chunk_rows:(index + 1) * self.chunk_rows]
        out = {"chunk_index": index, "row_offset": index * self.chunk_rows, "row_count": len(part)}
        if part:
            out["data_array"] = part
        if (index + 1) * self.chunk_rows < len(rows):
            out["next_chunk_index"] = index + 1
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    loc = str(tmp_path_factory.mktemp("wh") / "_executor_metadata.db")
    return loc, M.build_lake(loc)


@pytest.fixture()
def double(lake):
    written = lake[1]
    d = StatementApiDouble({S.EXECUTOR_RUNS: written["events"], **written["data"]})
    yield d
    d.close()


def _reads(double, **kw) -> StatementReads:
    from databricks.sdk import WorkspaceClient

    client = WorkspaceClient(host=double.url, token=TOKEN)
    settings = Settings(catalog="hive_metastore")
    return StatementReads(client, WAREHOUSE, settings, poll_seconds=0.01, **kw)


def _dump(obj) -> str:
    return json.dumps(obj, default=str, sort_keys=False, ensure_ascii=False)


def test_statement_reads_answer_like_delta_rs(lake, double):
    delta, stmt = DeltaReads(lake[0]), _reads(double)
    for kw in ({"workflow_id": "wf_1"}, {"workflow_id": "wf_1", "source_id": "src_b"}, {"source_id": "src_a"},
               {"workflow_id": "wf_3"}, {"workflow_id": "wf_1", "run_id": "run_a4"}, {"workflow_id": "nope"}):
        assert _dump(stmt.query_metadata(**kw)) == _dump(delta.query_metadata(**kw)), kw
    assert _dump(stmt.select_runs("wf_1", completed_only=False, latest_only=False)) == \
        _dump(delta.select_runs("wf_1", completed_only=False, latest_only=False))
    assert _dump(stmt.schema_changes("wf_1")) == _dump(delta.schema_changes("wf_1"))
    assert _dump(stmt.schema_changes("wf_3")) == _dump(delta.schema_changes("wf_3"))
    assert double.errors == []
    assert any(r["path"].endswith("/result/chunks/1") for r in double.requests)  # several chunks were read


def test_request_shape_named_parameters_only(double):
    hostile = "x' OR '1'='1"
    out = _reads(double).query_metadata(workflow_id=hostile, source_id="src_a")
    assert out["runs"] == []
    (post,) = [r for r in double.requests if r["method"] == "POST"]
    body = post["body"]
    assert post["auth"] == f"Bearer {TOKEN}"
    assert body["statement"] == ("SELECT * FROM `hive_metastore`.`_executor_metadata`.`executor_runs` "
                                 "WHERE `workflow_id` = :workflow_id AND `source_id` = :source_id")
    assert body["parameters"] == [{"name": "workflow_id", "value": hostile, "type": "STRING"},
                                  {"name": "source_id", "value": "src_a", "type": "STRING"}]
    assert (body["warehouse_id"], body["disposition"], body["format"]) == (WAREHOUSE, "INLINE", "JSON_ARRAY")
    assert body["on_wait_timeout"] == "CONTINUE" and re.fullmatch(r"\d+s", body["wait_timeout"])
    assert double.errors == []


def test_data_rows_of_several_runs_use_one_parameter_per_run(double):
    _reads(double).query_metadata(workflow_id="wf_1")
    posts = [r["body"] for r in double.requests if r["method"] == "POST"]
    tables_stmt = next(b for b in posts if "`tables`" in b["statement"])
    assert tables_stmt["statement"].endswith("WHERE `workflow_id` = :workflow_id AND `run_id` IN (:run_id_0, :run_id_1)")
    assert {p["value"] for p in tables_stmt["parameters"] if p["name"].startswith("run_id_")} == {"run_a2", "run_b1"}


def test_a_pending_statement_is_polled(lake, double):
    double.pending_first = True
    out = _reads(double).query_metadata(workflow_id="wf_1")
    assert [r["run_id"] for r in out["runs"]] == ["run_a2", "run_b1"]
    assert any(r["method"] == "GET" and re.fullmatch(r"/api/2.0/sql/statements/st\d+", r["path"])
               for r in double.requests)


def test_a_missing_table_reads_as_empty_and_a_failure_is_a_store_error(double):
    double.missing = {S.EXECUTOR_RUNS}
    assert _reads(double).query_metadata(workflow_id="wf_1")["runs"] == []
    double.missing = set()
    double.fail_with = f"[INSUFFICIENT_PERMISSIONS] no SELECT on the table (token {TOKEN})"
    from executor.redaction import SECRETS

    SECRETS.add(TOKEN)
    with pytest.raises(MetadataStoreError, match="INSUFFICIENT_PERMISSIONS") as err:
        _reads(double).query_metadata(workflow_id="wf_1")
    assert TOKEN not in str(err.value)


def test_a_statement_still_running_at_the_timeout_is_cancelled(double):
    double.pending_first = True
    # the double answers PENDING, then SUCCEEDED on the first poll: a clock past the deadline cancels first
    reads = _reads(double, timeout_s=3, clock=iter([0, 10, 10, 10]).__next__, sleep=lambda _s: None)
    with pytest.raises(MetadataStoreError, match="NUVYN_SQL_STATEMENT_TIMEOUT_S"):
        reads.select_runs("wf_1")
    assert any(r["method"] == "POST" and r["path"].endswith("/cancel") for r in double.requests)
