"""Payload resolution: the v2 contract's priority rules and its four test cases."""

from __future__ import annotations

import json

import pytest

from executor.errors import PayloadError
from executor.main import get_source_id_from_environment, get_workflow_id_from_environment, resolve_request
from executor.payload import (
    PAYLOAD_ENV,
    VALID_DATA_SOURCE_TYPES,
    build_request,
    normalize_data_source_type,
    parse_payload_json,
    resolve_source_id,
    resolve_workflow_id,
)

BASE = {"job_type": "metadata_extraction", "data_source_path": "/data"}


def test_seed_case_1_workflow_only():
    req = build_request({**BASE, "workflow_id": "test_workflow_123"})
    assert req.workflow_id == "test_workflow_123"
    assert req.source_id is None


def test_seed_case_2_workflow_and_source():
    req = build_request({**BASE, "workflow_id": "test_workflow_123", "source_id": "test_source_456"})
    assert (req.workflow_id, req.source_id) == ("test_workflow_123", "test_source_456")


def test_seed_case_3_environment_variable_with_cli_form():
    env = {PAYLOAD_ENV: '{"workflow_id":"env_workflow_123","source_id":"env_source_456"}'}
    req = resolve_request(["metadata_extraction", "/path/to/data", "csv", "default", "--write-to-db"], env)
    assert req.workflow_id == "env_workflow_123"
    assert req.source_id == "env_source_456"
    assert req.data_source_path == "/path/to/data"
    assert req.data_source_type == "csv"
    assert req.tenant_id == "default"
    assert req.write_to_db is True
    assert get_workflow_id_from_environment(env) == "env_workflow_123"
    assert get_source_id_from_environment(env) == "env_source_456"


def test_seed_case_4_missing_workflow_id_fails():
    with pytest.raises(PayloadError, match="workflow_id is required"):
        build_request(dict(BASE))
    with pytest.raises(PayloadError, match="workflow_id is required"):
        resolve_request(["metadata_extraction", "/data", "csv", "default"], {})


def test_job_metadata_wins_over_top_level():
    payload = {"workflow_id": "top", "source_id": "top_src",
               "job_metadata": {"workflow_id": "meta", "source_id": "meta_src"}}
    assert resolve_workflow_id(payload) == "meta"
    assert resolve_source_id(payload) == "meta_src"


def test_top_level_used_when_job_metadata_lacks_it():
    payload = {"workflow_id": "top", "job_metadata": {"other": 1}}
    assert resolve_workflow_id(payload) == "top"
    assert resolve_source_id(payload) is None


def test_empty_strings_mean_absent():
    payload = {"workflow_id": "top", "source_id": "", "job_metadata": {"workflow_id": "", "source_id": "  "}}
    assert resolve_workflow_id(payload) == "top"
    assert resolve_source_id(payload) is None


def test_payload_parameter_wins_over_env_var():
    env = {PAYLOAD_ENV: json.dumps({**BASE, "workflow_id": "from_env"})}
    req = resolve_request(["--payload", json.dumps({**BASE, "workflow_id": "from_param"})], env)
    assert req.workflow_id == "from_param"
    # an empty --payload (the job parameter's default) falls back to the env var
    assert resolve_request(["--payload="], env).workflow_id == "from_env"


def test_named_parameters_are_explicit_values_and_win_over_the_payload():
    req = resolve_request(["--workflow_id=w1", "--data_source_path=/x", "--data_source_type=parquet",
                           "--run-id=123"], {})
    assert (req.workflow_id, req.data_source_path, req.data_source_type, req.run_id) == ("w1", "/x", "parquet", "123")
    payload = {"job_metadata": {"workflow_id": "meta"}, "data_source_path": "/x"}
    # the one rule (executor.payload): an explicit value outranks the payload, job_metadata included,
    # as `extract --workflow-id` always did
    assert resolve_request(["--payload", json.dumps(payload), "--workflow_id=named"], {}).workflow_id == "named"
    assert resolve_request(["--payload", json.dumps(payload), "--workflow_id="], {}).workflow_id == "meta"


def test_a_field_given_by_position_and_by_name_must_agree():
    env = {PAYLOAD_ENV: '{"workflow_id": "wf"}'}
    assert resolve_request(["metadata_extraction", "/a", "--data_source_path=/a"], env).data_source_path == "/a"
    with pytest.raises(PayloadError, match="data_source_path is given twice"):
        resolve_request(["metadata_extraction", "/a", "--data_source_path=/b"], env)


def test_invalid_json_names_the_variable_and_hides_the_payload():
    secret = "sv=2024&sig=SuperSecretSignature"
    with pytest.raises(PayloadError) as err:
        parse_payload_json('{"workflow_id": "x", "data_source_path": "' + secret + '"', PAYLOAD_ENV)
    assert PAYLOAD_ENV in str(err.value)
    assert "SuperSecret" not in str(err.value)


@pytest.mark.parametrize("text,fragment", [
    ("[1, 2]", "JSON object"),
    ('"str"', "JSON object"),
    ('{"a": ' * 50 + "1" + "}" * 50, "nested"),
    ("[" * 100000 + "]" * 100000, "nested|JSON object"),
])
def test_non_object_and_deep_payloads_rejected(text, fragment):
    with pytest.raises(PayloadError, match=fragment):
        parse_payload_json(text)


def test_oversized_payload_rejected():
    with pytest.raises(PayloadError, match="limit"):
        parse_payload_json('{"a": "' + "x" * 2_000_000 + '"}')


def test_unknown_data_source_type_lists_valid_values():
    with pytest.raises(PayloadError) as err:
        normalize_data_source_type("xls")
    for valid in VALID_DATA_SOURCE_TYPES:
        assert valid in str(err.value)
    assert normalize_data_source_type(None) == "auto"
    assert normalize_data_source_type("ABFSS") == "adls_gen2"
    assert build_request({**BASE, "workflow_id": "w", "data_source_type": "csv"}).format_filter == "csv"
    assert build_request({**BASE, "workflow_id": "w", "data_source_type": "azure_blob"}).storage_hint == "azure_blob"


@pytest.mark.parametrize("bad", ["x' OR '1'='1", "a;DROP TABLE t", "a--b c", "%", "_x", "a" * 200, "a\nb", "a\x00"])
def test_hostile_ids_rejected_with_the_rule(bad):
    with pytest.raises(PayloadError, match="workflow_id"):
        build_request({**BASE, "workflow_id": bad})
    with pytest.raises(PayloadError, match="source_id"):
        build_request({**BASE, "workflow_id": "ok", "source_id": bad})


def test_unknown_job_type():
    with pytest.raises(PayloadError, match="metadata_extraction"):
        build_request({**BASE, "workflow_id": "w", "job_type": "crawl"})


def test_run_id_generated_when_absent_and_validated():
    a = build_request({**BASE, "workflow_id": "w"})
    b = build_request({**BASE, "workflow_id": "w"})
    assert a.run_id != b.run_id
    with pytest.raises(PayloadError, match="run_id"):
        build_request({**BASE, "workflow_id": "w"}, run_id="bad id'")


def test_select_payload_parameter_wins_and_pattern_settings_fill_in():
    from executor.payload import select_payload
    from executor.settings import JobInputSettings

    inputs = JobInputSettings.from_env({"NUVYN_JOB_PAYLOAD": '{"workflow_id": "wf_env", "data_source_path": "/d"}',
                                        "NUVYN_INCLUDE": "*.csv", "NUVYN_EXCLUDE": " "})
    assert select_payload(None, inputs) == {"workflow_id": "wf_env", "data_source_path": "/d"}
    assert select_payload("  ", inputs)["workflow_id"] == "wf_env"
    assert select_payload('{"workflow_id": "wf_arg", "include": ["a/*"]}', inputs) == {
        "workflow_id": "wf_arg", "include": ["a/*"]}
    with pytest.raises(PayloadError, match="--payload is not valid JSON"):
        select_payload("{", inputs)
    request = build_request(select_payload(None, inputs), inputs=inputs)
    assert (request.include, request.exclude) == (("*.csv",), ())  # NUVYN_INCLUDE fills in; blank is absent
    request = build_request({"workflow_id": "w", "data_source_path": "/d", "include": "b/*"}, inputs=inputs)
    assert request.include == ("b/*",)  # the payload wins over the variable
