"""The metadata catalog on real local Spark + Delta: a catalog that does not exist (a Unity Catalog
catalog name on a workspace without it, a typo in the bundle variable metadata_catalog) is one clear
error naming the setting, before any table is touched; local runs stay on spark_catalog."""

from __future__ import annotations

from dataclasses import replace

import pytest

from executor.context import ExecutorContext
from executor.errors import MetadataStoreError
from executor.main import settings_env
from executor.payload import build_request
from executor.run import EXIT_FAILED, run_job
from executor.settings import Settings
from executor.storage.writer import TablesWriter


def test_a_catalog_that_does_not_exist_names_the_setting(spark, settings):
    missing = replace(settings, catalog="no_such_catalog")
    writer = TablesWriter(spark, missing, missing.resolved_tables_location(False))
    with pytest.raises(MetadataStoreError) as err:
        writer.ensure_tables()
    text = str(err.value)
    assert "metadata catalog 'no_such_catalog' does not exist" in text
    assert "NUVYN_METADATA_CATALOG (bundle variable metadata_catalog)" in text
    assert [c.name for c in spark.catalog.listCatalogs()] == ["spark_catalog"]  # local runs: the session catalog


def test_the_job_parameter_reaches_the_writer_and_fails_the_run_clearly(spark, settings, sample_lake):
    """--metadata-catalog (the serverless way to pass the setting) over the environment's value."""
    env = settings_env(["--metadata-catalog=no_such_catalog"], {"NUVYN_METADATA_CATALOG": "spark_catalog",
                                                                 "NUVYN_WAREHOUSE_DIR": settings.warehouse_dir})
    s = Settings.from_env(env)
    assert s.catalog == "no_such_catalog"
    request = build_request({"workflow_id": "wf_uc", "data_source_path": str(sample_lake)}, run_id="uc-1",
                            write_to_db=True)
    context = ExecutorContext(settings=replace(settings, catalog=s.catalog), env=env, spark=spark, request=request)
    code, report = run_job(request, context)
    assert code == EXIT_FAILED
    assert "metadata catalog 'no_such_catalog' does not exist" in report["error_message"]
    assert "metadata_catalog" in report["error_message"]
