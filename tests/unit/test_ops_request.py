"""`nuvyn-executor extract` builds the same JobRequest as executor.main (no Spark involved)."""

from __future__ import annotations

import pytest

from executor.cli import build_parser
from executor.errors import PayloadError
from executor.main import resolve_request
from executor.ops.commands import build_extract_request


def parse(*argv: str):
    return build_parser().parse_args(["extract", *argv])


def test_flags_make_the_request():
    req = build_extract_request(parse("/data", "--workflow-id", "wf", "--source-id", "s", "--type", "csv",
                                      "--include", "*.csv", "--include", "a/*,b/*", "--exclude", "tmp/*",
                                      "--write-to-db"), env={})
    assert (req.workflow_id, req.source_id, req.data_source_path, req.data_source_type) == ("wf", "s", "/data", "csv")
    assert req.include == ("*.csv", "a/*", "b/*") and req.exclude == ("tmp/*",) and req.write_to_db


def test_env_defaults_payload_and_flag_precedence():
    env = {"NUVYN_JOB_PAYLOAD": '{"job_metadata": {"workflow_id": "wf_env", "source_id": "s_env"}}',
           "NUVYN_INCLUDE": "*.parquet", "NUVYN_EXCLUDE": "tmp/*,scratch/*"}
    req = build_extract_request(parse("/data"), env=env)
    assert (req.workflow_id, req.source_id) == ("wf_env", "s_env")
    assert req.include == ("*.parquet",) and req.exclude == ("tmp/*", "scratch/*")
    req = build_extract_request(parse("/data", "--workflow-id", "wf_flag", "--exclude", "x/*"), env=env)
    assert (req.workflow_id, req.source_id, req.exclude) == ("wf_flag", "s_env", ("x/*",))


def test_main_reads_the_same_pattern_settings_and_payload_wins():
    env = {"NUVYN_JOB_PAYLOAD": '{"workflow_id": "wf"}', "NUVYN_EXCLUDE": "tmp/*"}
    assert resolve_request(["metadata_extraction", "/d"], env).exclude == ("tmp/*",)
    env["NUVYN_JOB_PAYLOAD"] = '{"workflow_id": "wf", "exclude": ["old/*"]}'
    assert resolve_request(["metadata_extraction", "/d"], env).exclude == ("old/*",)


def test_workflow_id_required_except_for_dry_run():
    with pytest.raises(PayloadError, match="workflow_id is required"):
        build_extract_request(parse("/data"), env={})
    assert build_extract_request(parse("/data", "--dry-run"), env={}).workflow_id == "dry_run"
    with pytest.raises(PayloadError):
        build_extract_request(parse("/data", "--workflow-id", "bad id!"), env={})
