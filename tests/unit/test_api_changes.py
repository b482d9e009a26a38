"""GET /workflows/{workflow_id}/changes: auth, validation, error shape, pass-through (no JVM)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from executor.errors import QueryError
from tests.api_helpers import AUTH, FakeReader, make_app


class ChangesReader(FakeReader):
    def __init__(self, fail: Exception | None = None) -> None:
        super().__init__()
        self.changes_calls: list[tuple] = []
        self.fail = fail

    def changes(self, workflow_id, source_id, from_run, to_run):
        self.changes_calls.append((workflow_id, source_id, from_run, to_run))
        if self.fail:
            raise self.fail
        return {"workflow_id": workflow_id, "source_id": source_id, "from_run_id": "r1", "to_run_id": "r2",
                "changes": {"tables_added": [], "tables_removed": [{"table_name": "t"}], "tables_changed": [],
                            "tables_failed": [], "tables_unchanged": 2}, "message": None}


def _client(tmp_path, reader):
    app, _launcher, _reader = make_app(tmp_path, reader=reader)
    return TestClient(app, raise_server_exceptions=False)


def test_changes_endpoint(tmp_path):
    reader = ChangesReader()
    with _client(tmp_path, reader) as c:
        assert c.get("/workflows/wf_1/changes").status_code == 401
        r = c.get("/workflows/wf_1/changes", headers=AUTH, params={"source_id": "s1"})
        assert r.status_code == 200 and r.json()["changes"]["tables_removed"] == [{"table_name": "t"}]
        assert c.get("/workflows/wf_1/changes", headers=AUTH,
                     params={"from_run": "run_a", "to_run": "run_b"}).status_code == 200
        assert reader.changes_calls == [("wf_1", "s1", None, None), ("wf_1", None, "run_a", "run_b")]
        bad = c.get("/workflows/wf_1/changes", headers=AUTH, params={"from_run": "run_a"})
        assert bad.status_code == 400 and bad.json() == {"error": "give both from_run and to_run, or neither"}
        bad = c.get("/workflows/x' OR '1'='1/changes", headers=AUTH)
        assert bad.status_code == 400 and "workflow_id is invalid" in bad.json()["error"]
        bad = c.get("/workflows/wf_1/changes", headers=AUTH, params={"from_run": "a b", "to_run": "c"})
        assert bad.status_code == 400 and "from_run is invalid" in bad.json()["error"]
        assert len(reader.changes_calls) == 2


def test_changes_endpoint_errors(tmp_path):
    with _client(tmp_path, ChangesReader(QueryError("run r9 of workflow wf_1 not found"))) as c:
        r = c.get("/workflows/wf_1/changes", headers=AUTH, params={"from_run": "r1", "to_run": "r9"})
        assert r.status_code == 400 and r.json() == {"error": "run r9 of workflow wf_1 not found"}
    with _client(tmp_path, FakeReader()) as c:  # a reader without .changes: the store is unavailable
        r = c.get("/workflows/wf_1/changes", headers=AUTH)
        assert r.status_code == 503 and "unavailable" in r.json()["error"]
