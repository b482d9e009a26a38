"""Property-based fuzz of the API (hypothesis, bounded): bodies built from the OpenAPI schema's
fields with any JSON values, raw bytes, odd headers. The server must never answer 5xx, and every
error must be {"error": "<text>"} without a stack trace."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api_helpers import AUTH, make_app

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
ids = st.sampled_from(["w1", "wf_abc-1.2:x@y", "", " ", "a b", "../x", "x" * 129, "é"]) | st.text(max_size=20)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app, _, _ = make_app(tmp_path_factory.mktemp("fuzz"))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _check(r):
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        body = r.json()
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
        assert "Traceback" not in r.text and "File \"" not in r.text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.fixed_dictionaries({}, optional={
    "job_type": st.sampled_from(["metadata_extraction", "other"]) | json_values,
    "data_source_path": st.text(max_size=30) | json_values,
    "workflow_id": ids | json_values,
    "source_id": ids | json_values,
    "data_source_type": st.sampled_from(["csv", "azure_blob", "auto", "bogus"]) | json_values,
    "tenant_id": st.text(max_size=10) | json_values,
    "job_metadata": st.dictionaries(st.sampled_from(["workflow_id", "source_id", "x"]), ids | json_values) | json_values,
}), key=st.none() | st.text(max_size=20))
def test_create_job_never_5xx(client, body, key):
    headers = dict(AUTH)
    if key is not None:
        try:
            key.encode("ascii")
            headers["Idempotency-Key"] = key
        except UnicodeEncodeError:
            pass
    r = client.post("/jobs/create", content=json.dumps(body), headers={**headers, "Content-Type": "application/json"})
    _check(r)
    if r.status_code == 200:
        job = client.get(f"/jobs/{r.json()['job_id']}", headers=AUTH)
        assert job.status_code == 200


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200), wf=st.text(min_size=1, max_size=30), src=st.text(max_size=10))
def test_raw_bodies_and_paths_never_5xx(client, raw, wf, src):
    _check(client.post("/jobs/create", content=raw, headers={**AUTH, "Content-Type": "application/json"}))
    segment = quote(wf, safe="")  # any text, percent-encoded as a client would send it
    _check(client.get(f"/workflows/{segment}/metadata", params={"source_id": src}, headers=AUTH))
    _check(client.get(f"/jobs/{segment}", headers=AUTH))
