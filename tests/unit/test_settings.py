"""The typed settings layer (executor.settings): parsing, rules, secrets, the API's settings."""

from __future__ import annotations

import pytest

from executor.errors import SettingsError
from executor.settings import (
    ApiSettings,
    JobInputSettings,
    LogSettings,
    ReadPoolSettings,
    ReadSettings,
    Secret,
    Settings,
    env_values,
    load_secrets,
    reveal,
)

TOKEN = "t" * 24


def test_secret_is_masked_and_read_only_on_purpose():
    s = Secret("hunter2-value")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert s.get_secret_value() == "hunter2-value" and reveal(s) == "hunter2-value" and reveal(None) is None
    assert s == Secret("hunter2-value") and s != Secret("other") and s != "hunter2-value"
    settings = Settings(azure_account_key="plain-key-given-as-text")  # tests and callers may pass text
    assert isinstance(settings.azure_account_key, Secret)
    assert "plain-key" not in repr(settings)


def test_env_values_parse_by_annotation_and_name_the_variable():
    values = env_values(Settings, {"NUVYN_IO_THREADS": " 4 ", "NUVYN_METADATA_SCHEMA": " meta ",
                                   "NUVYN_TABLES_LOCATION": "  ", "NUVYN_AZURE_ACCOUNT_KEY": " key "})
    assert values["io_threads"] == 4 and values["schema"] == "meta" and "tables_location" not in values
    assert values["azure_account_key"].get_secret_value() == " key "  # secrets are kept as given
    with pytest.raises(SettingsError, match="^NUVYN_IO_THREADS='many' is not an integer$"):
        Settings.from_env({"NUVYN_IO_THREADS": "many"})
    with pytest.raises(SettingsError, match="^NUVYN_API_POLL_SECONDS='soon' is not a number$"):
        ApiSettings.from_env({"NUVYN_API_POLL_SECONDS": "soon", "NUVYN_API_TOKEN": TOKEN})


@pytest.mark.parametrize("env, message", [
    ({"NUVYN_IO_THREADS": "0"}, "NUVYN_IO_THREADS=0 must be >= 1"),
    ({"NUVYN_INFER_SAMPLE_RECORDS": "-1"}, "NUVYN_INFER_SAMPLE_RECORDS=-1 must be >= 0"),
    ({"NUVYN_INFERENCE": "slow"}, "NUVYN_INFERENCE='slow' is invalid; expected one of: fast, spark"),
    ({"NUVYN_METADATA_SCHEMA": "a-b"}, "NUVYN_METADATA_SCHEMA='a-b' is not a valid identifier"),
])
def test_field_rules(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_databricks_catalog_default_and_the_other_classes():
    assert Settings.from_env({"DATABRICKS_RUNTIME_VERSION": "15.4"}).catalog == "hive_metastore"
    assert Settings.from_env({"DATABRICKS_RUNTIME_VERSION": "15.4", "NUVYN_METADATA_CATALOG": "main"}).catalog == "main"
    with pytest.raises(SettingsError, match="NUVYN_API_READ_WORKERS=0 must be > 0"):
        ReadPoolSettings.from_env({"NUVYN_API_READ_WORKERS": "0"})
    assert ReadSettings.from_env({"NUVYN_READ_BACKEND": "delta"}).choose(True) == "delta"


def test_api_settings_from_env(tmp_path):
    s = ApiSettings.from_env({"NUVYN_API_TOKEN": TOKEN, "NUVYN_WAREHOUSE_DIR": str(tmp_path),
                              "NUVYN_API_MAX_CONCURRENT_JOBS": "3", "NUVYN_API_ALLOW_NO_AUTH": "no"})
    assert reveal(s.token) == TOKEN and TOKEN not in repr(s)
    assert (s.max_concurrent_jobs, s.allow_no_auth, s.jobs_db) == (3, False, str(tmp_path / "_api" / "jobs.sqlite3"))
    assert ApiSettings.from_env({"NUVYN_API_ALLOW_NO_AUTH": "yes", "NUVYN_API_JOBS_DB": "j.db"}).allow_no_auth
    assert ApiSettings.from_env({"NUVYN_API_JOBS_DB": "j.db"}, allow_no_auth=True).token is None
    with pytest.raises(SettingsError, match="NUVYN_API_MAX_CONCURRENT_JOBS=65 must be <= 64"):
        ApiSettings.from_env({"NUVYN_API_TOKEN": TOKEN, "NUVYN_API_JOBS_DB": "j.db",
                              "NUVYN_API_MAX_CONCURRENT_JOBS": "65"})
    with pytest.raises(SettingsError, match="NUVYN_API_LAUNCHER='k8s' is invalid"):
        ApiSettings.from_env({"NUVYN_API_TOKEN": TOKEN, "NUVYN_API_JOBS_DB": "j.db", "NUVYN_API_LAUNCHER": "k8s"})
    with pytest.raises(SettingsError, match="needs NUVYN_DATABRICKS_JOB_ID"):
        ApiSettings.from_env({"NUVYN_API_TOKEN": TOKEN, "NUVYN_API_JOBS_DB": "j.db",
                              "NUVYN_API_LAUNCHER": "databricks"})
    assert ("NUVYN_API_JOBS_DB", "(derived)") in [d[:2] for d in ApiSettings.describe()]


def test_load_secrets_builds_every_secret_variable_that_is_set():
    env = {"NUVYN_API_TOKEN": TOKEN, "DATABRICKS_TOKEN": "dapi-x", "NUVYN_AZURE_ACCOUNT_KEY": "  ",
           "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=k", "NUVYN_IO_THREADS": "4"}
    secrets = load_secrets(env)
    assert all(isinstance(s, Secret) for s in secrets)
    assert sorted(s.get_secret_value() for s in secrets) == sorted([TOKEN, "dapi-x", "AccountName=a;AccountKey=k"])


def test_log_and_job_input_settings_are_typed():
    s = LogSettings.from_env({"NUVYN_LOG_LEVEL": "debug", "NUVYN_LOG_FORMAT": "json", "NUVYN_SPARK_LOG_LEVEL": "warn"})
    assert (s.level, s.format, s.spark_level) == ("DEBUG", "json", "WARN")
    assert LogSettings.from_env({}) == LogSettings("INFO", "text", None)
    with pytest.raises(SettingsError, match="NUVYN_LOG_LEVEL='LOUD' is invalid"):
        LogSettings.from_env({"NUVYN_LOG_LEVEL": "loud"})
    with pytest.raises(SettingsError, match="NUVYN_LOG_FORMAT"):
        LogSettings.from_env({"NUVYN_LOG_FORMAT": "xml"})
    inputs = JobInputSettings.from_env({"NUVYN_JOB_PAYLOAD": ' {"workflow_id": "w"} ', "NUVYN_INCLUDE": "*.csv"})
    assert (inputs.payload, inputs.include, inputs.exclude) == ('{"workflow_id": "w"}', "*.csv", None)
    assert Settings.from_env({"NUVYN_SPARK_PACKAGES": "org.apache.spark:spark-avro_2.12:3.5.1"}).spark_packages
