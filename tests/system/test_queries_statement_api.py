"""StatementReads against a local HTTP double of the Databricks SQL Statement Execution API (the
control plane is the one place a fake is allowed). databricks-sdk's WorkspaceClient makes the real
HTTP calls; the double checks the request shape (path, auth, warehouse, INLINE/JSON_ARRAY with the
25 MiB byte_limit or EXTERNAL_LINKS, named STRING parameters, no value inside the SQL text), runs the
statement on sqlite holding the same rows as the delta-rs tables, and answers in the API's JSON_ARRAY
form (every cell text, in chunks): inline, or as presigned external links it serves itself (and
which must be fetched without the workspace token). It can keep a statement PENDING (a warehouse
starting) and RUNNING for a number of polls, answer timestamps in a session time zone without an
offset and with any fraction width, and fail with a sql_state. The answers must equal the delta-rs
backend's on the same rows."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import threading
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

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
        self.link_requests: list[dict] = []
        self.errors: list[str] = []
        self.results: dict[str, list[dict]] = {}
        self.pending_first = False
        self.states: list[str] = []  # answered (in order, one per request) before the final state
        self.polls: dict[str, list[str]] = {}
        self.missing: set[str] = set()
        self.fail_with: str | None = None
        self.fail_sql_state: str | None = None
        self.inline_limit_rows: int | None = None  # INLINE results with more rows come back truncated
        self.session_zone: str | None = None  # timestamps as local time of this zone, without offset
        self.fraction_digits = 6
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
                link = re.fullmatch(r"/presigned/(\w+)/(\d+)\?sig=(\w+)", self.path)
                if link:  # a presigned link: cloud storage, which must not get the workspace token
                    double.link_requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                                 "key": self.headers.get("x-ms-encryption-key")})
                    sid, chunk = link.group(1), int(link.group(2))
                    if link.group(3) != f"s{sid}c{chunk}" or self.headers.get("x-ms-encryption-key") != "k-" + sid:
                        return self._reply(403, {"error": "AuthenticationFailed"})
                    return self._reply(200, double.rows(sid, chunk))
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
                             "on_wait_timeout", "byte_limit"}
        if extra:
            self.errors.append(f"unexpected fields {extra}")
        if body.get("warehouse_id") != WAREHOUSE:
            self.errors.append(f"warehouse_id {body.get('warehouse_id')!r}")
        disposition = body.get("disposition")
        if disposition not in ("INLINE", "EXTERNAL_LINKS") or body.get("format") != "JSON_ARRAY":
            self.errors.append(f"disposition/format {disposition}/{body.get('format')}")
        if (disposition == "INLINE") != (body.get("byte_limit") == 25 * 1024 * 1024):
            self.errors.append(f"byte_limit {body.get('byte_limit')} with {disposition}")
        sql = body["statement"]
        if sql == "SELECT current_timezone()":
            self.next_id += 1
            sid = f"st{self.next_id}"
            self.results[sid] = [{"table": None, "names": ["current_timezone()"], "types": {"current_timezone()": "STRING"},
                                  "rows": [[self.session_zone or "Etc/UTC"]], "disposition": "INLINE", "truncated": False}]
            return self.response(sid)
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
            error = {"error_code": "BAD_REQUEST", "message": self.fail_with}
            if self.fail_sql_state:
                error["sql_state"] = self.fail_sql_state
            return {"statement_id": sid, "status": {"state": "FAILED", "error": error}}
        if table in self.missing:
            return {"statement_id": sid, "status": {"state": "FAILED", "error": {
                "error_code": "BAD_REQUEST", "sql_state": "42P01",
                "message": f"[TABLE_OR_VIEW_NOT_FOUND] The table `{table}` cannot be found."}}}
        with self.lock:
            cur = self.db.execute(f'SELECT * FROM "{table}"' + (f" WHERE {where}" if where else ""),
                                  {k: p["value"] for k, p in params.items()})
            rows = cur.fetchall()
        types = {c.name: c.sql_type for c in S.TABLE_COLUMNS[table]}
        names = S.column_names(table)
        texts = [[self._text(types[n], v) for n, v in zip(names, r)] for r in rows]
        truncated = disposition == "INLINE" and self.inline_limit_rows is not None and len(texts) > self.inline_limit_rows
        if truncated:
            texts = texts[:self.inline_limit_rows]
        self.results[sid] = [{"table": table, "names": names, "types": types, "rows": texts,
                              "disposition": disposition, "truncated": truncated}]
        self.polls[sid] = list(self.states) or (["PENDING"] if self.pending_first else [])
        if self.polls[sid]:
            return {"statement_id": sid, "status": {"state": self.polls[sid].pop(0)}}
        return self.response(sid)

    def _text(self, sql_type: str, v):
        if v is None:
            return None
        if sql_type == "BOOLEAN":
            return "true" if v else "false"
        if sql_type == "TIMESTAMP" and self.session_zone:  # local time of the session zone, no offset
            utc = datetime.fromisoformat(str(v).replace("Z", "")).replace(tzinfo=timezone.utc)
            local = utc.astimezone(ZoneInfo(self.session_zone))
            digits = f"{local.microsecond:06d}".ljust(9, "0")[:self.fraction_digits]
            return local.strftime("%Y-%m-%d %H:%M:%S") + (f".{digits}" if digits else "")
        return str(v)

    def response(self, sid: str) -> dict:
        if self.polls.get(sid):
            return {"statement_id": sid, "status": {"state": self.polls[sid].pop(0)}}
        r = self.results[sid][0]
        n_chunks = max(1, -(-len(r["rows"]) // self.chunk_rows))
        manifest = {"format": "JSON_ARRAY", "total_chunk_count": n_chunks, "total_row_count": len(r["rows"]),
                    "schema": {"column_count": len(r["names"]), "columns": [
                        {"name": n, "type_name": TYPE_NAMES[r["types"][n]], "type_text": r["types"][n],
                         "position": i} for i, n in enumerate(r["names"])]}}
        if r["truncated"]:
            manifest["truncated"] = True
        return {"statement_id": sid, "status": {"state": "SUCCEEDED"}, "manifest": manifest,
                "result": self.chunk(sid, 0)}

    def rows(self, sid: str, index: int) -> list:
        return self.results[sid][0]["rows"][index * self.chunk_rows:(index + 1) * self.chunk_rows]

    def chunk(self, sid: str, index: int) -> dict:
        rows = self.results[sid][0]["rows"]
        part = self.rows(sid, index)
        out = {"chunk_index": index, "row_offset": index * self.chunk_rows, "row_count": len(part)}
        more = (index + 1) * self.chunk_rows < len(rows)
        if self.results[sid][0]["disposition"] == "EXTERNAL_LINKS":
            link = {"chunk_index": index, "row_offset": index * self.chunk_rows, "row_count": len(part),
                    "byte_count": len(json.dumps(part)), "expiration": "2099-01-01T00:00:00.000Z",
                    "external_link": f"{self.url}/presigned/{sid}/{index}?sig=s{sid}c{index}",
                    "http_headers": {"x-ms-encryption-key": "k-" + sid}}
            if more:
                link["next_chunk_index"] = index + 1
                link["next_chunk_internal_link"] = f"/api/2.0/sql/statements/{sid}/result/chunks/{index + 1}"
            return {"external_links": [link]}
        if part:
            out["data_array"] = part
        if more:
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
    assert body["byte_limit"] == 25 * 1024 * 1024
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
    double.fail_sql_state = "42501"
    from executor.redaction import Secret

    Secret(TOKEN)  # the workspace token as the SDK's configuration would hold it: a Secret
    with pytest.raises(MetadataStoreError, match="INSUFFICIENT_PERMISSIONS") as err:
        _reads(double).query_metadata(workflow_id="wf_1")
    assert TOKEN not in str(err.value) and "SQLSTATE 42501" in str(err.value)


def test_errors_are_told_by_sql_state_not_by_message_text(double):
    # the message names the error class of a missing table, but the state says something else: an error
    double.fail_with = "[TABLE_OR_VIEW_NOT_FOUND] says the text, but the state is a permission error"
    double.fail_sql_state = "42501"
    with pytest.raises(MetadataStoreError, match="SQLSTATE 42501"):
        _reads(double).select_runs("wf_1")
    # the state of a missing table, whatever the text: no rows
    double.fail_with, double.fail_sql_state = "relation is absent", "42P01"
    assert _reads(double).select_runs("wf_1") == []


def test_a_statement_still_running_at_the_timeout_is_cancelled(double):
    double.states = ["RUNNING", "RUNNING"]
    # RUNNING from the first answer: the clock passes the running limit at the first poll and cancels
    reads = _reads(double, timeout_s=3, clock=iter([0, 0, 10, 10, 10]).__next__, sleep=lambda _s: None)
    with pytest.raises(MetadataStoreError, match="NUVYN_SQL_STATEMENT_TIMEOUT_S"):
        reads.select_runs("wf_1")
    assert any(r["method"] == "POST" and r["path"].endswith("/cancel") for r in double.requests)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_warehouse_that_takes_minutes_to_start_is_waited_for(lake, double):
    # PENDING for about 4 minutes of polls (the warehouse starting), then RUNNING, then the result
    double.states = ["PENDING"] * 50 + ["RUNNING"] * 2
    clock = Clock()
    reads = _reads(double, timeout_s=30, clock=clock, sleep=clock.sleep)
    runs = reads.select_runs("wf_1", completed_only=False, latest_only=False)
    assert runs == DeltaReads(lake[0]).select_runs("wf_1", completed_only=False, latest_only=False)
    assert clock.now > 60  # longer than the old 60 s limit, and no cancel
    assert max(clock.sleeps) == 5.0 and clock.sleeps[0] == 0.01  # the poll interval grows, bounded
    assert not any(r["path"].endswith("/cancel") for r in double.requests) and double.errors == []


def test_a_warehouse_that_never_starts_is_cancelled_naming_the_setting(double):
    double.states = ["PENDING"] * 500
    clock = Clock()
    reads = _reads(double, start_timeout_s=120, clock=clock, sleep=clock.sleep)
    with pytest.raises(MetadataStoreError, match="NUVYN_SQL_WAREHOUSE_START_TIMEOUT_S"):
        reads.select_runs("wf_1")
    assert 120 <= clock.now < 130
    assert any(r["method"] == "POST" and r["path"].endswith("/cancel") for r in double.requests)


def test_a_result_over_the_inline_limit_is_read_through_external_links(lake, double):
    """The INLINE answer comes back truncated (the 25 MiB byte_limit): the statement runs again with
    EXTERNAL_LINKS, whose chunks are fetched from the presigned links with their own headers and
    without the workspace token. The rows equal delta-rs's."""
    double.inline_limit_rows = 2
    stmt, delta = _reads(double), DeltaReads(lake[0])
    assert _dump(stmt.query_metadata(workflow_id="wf_1")) == _dump(delta.query_metadata(workflow_id="wf_1"))
    posts = [r["body"] for r in double.requests if r["method"] == "POST"]
    assert {b["disposition"] for b in posts} == {"INLINE", "EXTERNAL_LINKS"}
    assert len(double.link_requests) >= 3 and double.errors == []  # several chunks, each from its link
    assert all(r["auth"] is None for r in double.link_requests)  # the token never goes to storage
    assert all(r["key"] and r["key"].startswith("k-") for r in double.link_requests)


def test_external_links_only_and_inline_only(lake, double):
    double.inline_limit_rows = 2
    stmt = _reads(double, disposition="external_links")
    assert _dump(stmt.select_runs("wf_1")) == _dump(DeltaReads(lake[0]).select_runs("wf_1"))
    assert {r["body"]["disposition"] for r in double.requests if r["method"] == "POST"} == {"EXTERNAL_LINKS"}
    with pytest.raises(MetadataStoreError, match="NUVYN_SQL_RESULT_DISPOSITION=inline"):
        _reads(double, disposition="inline").query_metadata(workflow_id="wf_1")


@pytest.mark.parametrize("digits", [0, 1, 3, 7, 9])
def test_timestamps_in_the_warehouses_time_zone_with_any_fraction_width(lake, double, digits):
    """The warehouse answers local time of its session zone (Europe/Berlin, DST included), without an
    offset, with 0-9 fraction digits; the reads ask the zone once and give the same UTC values as
    delta-rs (cut to the digits the warehouse sent)."""
    double.session_zone, double.fraction_digits = "Europe/Berlin", digits
    stmt = _reads(double)
    got = stmt.select_runs("wf_1", completed_only=False, latest_only=False)
    want = DeltaReads(lake[0]).select_runs("wf_1", completed_only=False, latest_only=False)
    keep = 10 ** (6 - min(digits, 6))
    for g, w in zip(got, want):
        for col in ("started_at", "finished_at"):
            if w[col] is not None:
                assert g[col] == w[col].replace(microsecond=w[col].microsecond // keep * keep), (col, digits)
    asks = [r for r in double.requests if r["method"] == "POST" and r["body"]["statement"] == "SELECT current_timezone()"]
    assert len(asks) == 1
    # a zone given in the settings is used as it is: no question to the warehouse
    double.requests.clear()
    _reads(double, time_zone="Europe/Berlin").select_runs("wf_1")
    assert not any(r.get("body", {}).get("statement") == "SELECT current_timezone()" for r in double.requests)


@pytest.mark.parametrize(("text", "zone", "want"), [
    ("2026-07-01 12:00:00", "Europe/Berlin", datetime(2026, 7, 1, 10, 0)),  # summer time: +02:00
    ("2026-01-02 04:04:05.1", "Europe/Berlin", datetime(2026, 1, 2, 3, 4, 5, 100000)),
    ("2026-01-02T03:04:05.123456789Z", None, datetime(2026, 1, 2, 3, 4, 5, 123456)),  # nanoseconds cut
    ("2026-01-02T03:04:05.12Z", "Europe/Berlin", datetime(2026, 1, 2, 3, 4, 5, 120000)),  # offset wins
    ("2026-01-02T08:34:05.1234567+05:30", None, datetime(2026, 1, 2, 3, 4, 5, 123456)),
    ("2026-01-01T22:04:05-0500", None, datetime(2026, 1, 2, 3, 4, 5)),
    ("2026-01-02 03:04", None, datetime(2026, 1, 2, 3, 4)),
    ("2026-01-02", "UTC", datetime(2026, 1, 2)),
    ("2026-01-02 05:04:05", "+02:00", datetime(2026, 1, 2, 3, 4, 5)),
])
def test_parse_timestamp_any_form(text, zone, want):
    from executor.storage.queries import _zone, parse_timestamp

    assert parse_timestamp(text, _zone(zone) if zone else None) == want


def test_parse_timestamp_refuses_garbage_and_unknown_zones():
    from executor.errors import SettingsError
    from executor.storage.queries import _zone, parse_timestamp

    with pytest.raises(ValueError, match="not a timestamp"):
        parse_timestamp("yesterday")
    with pytest.raises(SettingsError, match="NUVYN_SQL_WAREHOUSE_TIMEZONE"):
        _zone("Mars/Olympus")
