"""The wheel task's entry point turns a failed run into an exception (the launcher ignores return
values), and leaves a succeeded or partial run alone."""

from __future__ import annotations

import pytest

import executor.main as m


@pytest.mark.parametrize("code", [m.EXIT_FAILED, m.EXIT_BAD_INPUT])
def test_job_main_raises_on_failure(monkeypatch, code):
    monkeypatch.setattr(m, "main", lambda: code)
    with pytest.raises(m.JobFailedError) as info:
        m.job_main()
    assert info.value.code == code and f"exit code {code}" in str(info.value)


def test_job_main_returns_on_success(monkeypatch):
    monkeypatch.setattr(m, "main", lambda: m.EXIT_OK)
    assert m.job_main() is None


def test_bad_input_through_job_main(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["nuvyn_executor", "--payload=", "--run-id=7", "--write-to-db"])
    monkeypatch.delenv("NUVYN_JOB_PAYLOAD", raising=False)
    with pytest.raises(m.JobFailedError):
        m.job_main()
    assert "workflow_id is required" in capsys.readouterr().err


def test_settings_parameters_win_over_the_environment_which_wins_over_the_default():
    """Serverless tasks have no environment variables: the bundle passes settings as task parameters."""
    from executor.settings import Settings

    env = {"NUVYN_METADATA_CATALOG": "from_env", "NUVYN_METADATA_SCHEMA": "schema_env",
           "DATABRICKS_RUNTIME_VERSION": "15.4"}
    argv = ["--payload={}", "--metadata-catalog=main", "--metadata_schema=", "--azure-sp-secret-scope=nuvyn-sp"]
    s = Settings.from_env(m.settings_env(argv, env))
    assert (s.catalog, s.schema, s.azure_sp_secret_scope) == ("main", "schema_env", "nuvyn-sp")  # empty: ignored
    assert m.settings_env(["--payload={}"], env) is env  # no parameter: the environment as it is
    s = Settings.from_env(m.settings_env(["--metadata-catalog=", "--metadata-schema= "],
                                         {"DATABRICKS_RUNTIME_VERSION": "15.4"}))
    assert (s.catalog, s.schema) == ("hive_metastore", "_executor_metadata")  # the defaults on Databricks
    assert Settings.from_env(m.settings_env([], {})).catalog == "spark_catalog"  # locally


def test_a_bad_settings_parameter_is_bad_input_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["nuvyn_executor", '--payload={"workflow_id":"wf","data_source_path":"/x"}',
                                     "--metadata-catalog=main; DROP", "--write-to-db"])
    with pytest.raises(m.JobFailedError) as info:
        m.job_main()
    assert info.value.code == m.EXIT_BAD_INPUT
    assert "NUVYN_METADATA_CATALOG='main; DROP' is not a valid identifier" in capsys.readouterr().err


def test_the_result_file_carries_the_outcome_of_bad_input(tmp_path, capsys):
    """executor.main --result-file: what the API's local launcher reads instead of the child's output."""
    from executor.job_result import JobResult, read_result

    path = tmp_path / "job.result.json"
    secret = "sv=2030&sig=ResultFileEntryPointSig"
    env = {"NUVYN_JOB_PAYLOAD": '{"data_source_path": "https://a.blob.core.windows.net/c/p?' + secret + '"}'}
    assert m.main(["--write-to-db", "--result-file", str(path)], env) == m.EXIT_BAD_INPUT
    result = read_result(path)
    assert result == JobResult(exit_code=m.EXIT_BAD_INPUT, status="failed", error_message=result.error_message)
    assert result.error_message.startswith("workflow_id is required")
    assert "ResultFileEntryPointSig" not in path.read_text() + capsys.readouterr().err


def test_a_bad_log_setting_is_bad_input_naming_the_variable(tmp_path, capsys):
    env = {"NUVYN_JOB_PAYLOAD": '{"workflow_id": "wf", "data_source_path": "/x"}', "NUVYN_LOG_LEVEL": "loud"}
    assert m.main(["--write-to-db"], env) == m.EXIT_BAD_INPUT
    assert "NUVYN_LOG_LEVEL='LOUD' is invalid" in capsys.readouterr().err
    with pytest.raises(m.PayloadError, match="--log-level"):
        m.resolve_request(["--log-level", "loud"], {})
