"""End to end against Azurite: the job on a blob container prefix writes the same metadata as the
same files read from local disk; secrets (SAS token, account key) never reach logs, tables, errors
or output; source-level failures are clear SourceErrors recorded on the run."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.azurite import ACCOUNT, ACCOUNT_KEY, upload_tree

pytestmark = [pytest.mark.integration, pytest.mark.azure]

TABLE_COLS = ["table_name", "file_type", "row_count", "column_count", "size_bytes", "file_count",
              "partition_columns", "status", "error_message"]
COLUMN_COLS = ["table_name", "column_name", "data_type", "position", "is_nullable", "sample_values",
               "is_partition"]
SOURCE_COLS = ["files_found", "total_size_bytes", "files_skipped", "table_count"]


@pytest.fixture(scope="module")
def seeded(azurite, tmp_path_factory):
    """Container `lake` with the sample lake under `raw/` plus odd names; returns (container, local copy)."""
    import shutil

    from tests.conftest import SAMPLES

    local = tmp_path_factory.mktemp("azlake") / "lake"
    shutil.copytree(SAMPLES, local)
    odd = local / "odd folder"
    odd.mkdir()
    (odd / "a b%.csv").write_text("id,name\n1,x\n2,\"y, z\"\n")
    (local / "_tmp_internal").mkdir()
    (local / "_tmp_internal" / "junk.csv").write_text("a\n1\n")
    container = "lake" + uuid.uuid4().hex[:6]
    upload_tree(azurite, container, local, "raw/")
    return container, local


def _context(spark, settings, **azure):
    from executor.context import ExecutorContext

    s = replace(settings, schema=f"meta_{uuid.uuid4().hex[:10]}", **azure)
    return ExecutorContext(settings=s, env={}, spark=spark)


def _run(context, path: str, workflow_id: str, capsys=None) -> dict:
    from executor.main import main

    payload = json.dumps({"workflow_id": workflow_id, "source_id": "src"})
    handlers = list(logging.root.handlers)
    try:
        code = main(["metadata_extraction", path, "auto", "t1", "--payload", payload, "--write-to-db",
                     "--run-id", f"run-{workflow_id}"], env={}, context=context)
    finally:  # main() adds a stderr handler bound to this test's captured stream: take it away
        for h in logging.root.handlers:
            if h not in handlers:
                logging.root.removeHandler(h)
    out = capsys.readouterr().out if capsys else "{}"
    report = json.loads(out[out.index("{"):]) if capsys else {}
    report["_code"] = code
    return report


def _table(context, name, workflow_id):
    from pyspark.sql import functions as F

    return context.spark.table(context.settings.table_name(name)).where(F.col("workflow_id") == workflow_id)


def test_blob_prefix_matches_local_disk(spark, settings, azurite, seeded, capsys):
    from chispa import assert_df_equality

    container, local = seeded
    ctx = _context(spark, settings, azure_connection_string=azurite.connection_string)
    loc_report = _run(ctx, str(local), "wf_local", capsys)
    url = azurite.url(container, "raw")
    az_report = _run(ctx, url, "wf_azure", capsys)
    assert loc_report["_code"] == 0 and az_report["_code"] == 0, (loc_report, az_report)
    assert az_report["status"] == loc_report["status"]
    assert az_report["summary"]["tables"] >= 7
    assert az_report["summary"]["rows"] == loc_report["summary"]["rows"]

    for name, cols in (("tables", TABLE_COLS), ("columns", COLUMN_COLS), ("sources", SOURCE_COLS)):
        a = _table(ctx, name, "wf_azure").select(*cols)
        b = _table(ctx, name, "wf_local").select(*cols)
        assert a.count() == b.count() > 0, name
        assert_df_equality(a, b, ignore_row_order=True, ignore_nullable=True)

    src = _table(ctx, "sources", "wf_azure").collect()[0]
    assert src.source_path == url and src.source_type == "azure_blob"
    by_name = {r.table_name: r for r in _table(ctx, "tables", "wf_azure").collect()}
    assert by_name["sales"].partition_columns == '["year", "month"]'
    assert by_name["sales"].file_path == f"{azurite.endpoint}/{container}/raw/sales"
    assert by_name["odd folder"].row_count == 2
    assert by_name["odd folder"].file_path == f"{azurite.endpoint}/{container}/raw/odd%20folder/a%20b%25.csv"


def test_encoded_path_and_single_blob(spark, settings, azurite, seeded, capsys):
    container, _ = seeded
    ctx = _context(spark, settings, azure_connection_string=azurite.connection_string)
    rep = _run(ctx, azurite.url(container, "raw/odd%20folder"), "wf_enc", capsys)
    assert rep["_code"] == 0 and rep["summary"]["tables"] == 1 and rep["summary"]["rows"] == 2, rep
    rep = _run(ctx, azurite.url(container, "raw/products.parquet"), "wf_one", capsys)
    assert rep["_code"] == 0 and rep["summary"]["tables"] == 1, rep
    one = _table(ctx, "tables", "wf_one").collect()[0]
    assert one.row_count == 4 and one.file_path == f"{azurite.endpoint}/{container}/raw/products.parquet"


def _sas(azurite, container: str, **perm) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(ACCOUNT, container, account_key=ACCOUNT_KEY,
                                  permission=ContainerSasPermissions(**perm),
                                  expiry=datetime.now(UTC) + timedelta(hours=1))


def test_secrets_never_leak(spark, settings, azurite, seeded, capsys, caplog):
    container, _ = seeded
    sas = _sas(azurite, container, read=True, list=True)
    sig = next(p.split("=", 1)[1] for p in sas.split("&") if p.startswith("sig="))
    # SAS wins over the account key (also in play, registered, never used). No connection string names
    # the emulator here, so its host:port is listed explicitly (NUVYN_AZURE_EMULATOR_HOSTS).
    emulator = azurite.endpoint.split("://", 1)[1].split("/", 1)[0]
    ctx = _context(spark, settings, azure_account_key=ACCOUNT_KEY, azure_emulator_hosts=emulator)
    caplog.set_level(logging.DEBUG)
    ok = _run(ctx, azurite.url(container, "raw") + "?" + sas, "wf_sas", capsys)
    assert ok["_code"] == 0, ok
    # failures: a SAS without list permission (auth refused), a missing container
    denied = _run(ctx, azurite.url(container, "raw") + "?" + _sas(azurite, container, read=True), "wf_denied",
                  capsys)
    # no SAS: the account key (next in precedence) is used; the container does not exist
    missing = _run(ctx, azurite.url("nosuch" + uuid.uuid4().hex[:6], "raw"), "wf_missing", capsys)
    assert denied["_code"] == 1 and "authentication refused" in denied["error_message"], denied
    assert container in denied["error_message"] and ACCOUNT in denied["error_message"]
    assert missing["_code"] == 1 and "does not exist" in missing["error_message"], missing

    dumps = [json.dumps(r) for r in (ok, denied, missing)]
    for name in ("sources", "tables", "columns", "executor_runs"):
        rows = ctx.spark.table(ctx.settings.table_name(name)).collect()
        dumps.append(json.dumps([r.asDict() for r in rows], default=str))
    dumps.append(caplog.text)
    dumps.append(capsys.readouterr().err)
    src = _table(ctx, "sources", "wf_sas").collect()[0]
    assert src.source_path == azurite.url(container, "raw")
    text = "\n".join(dumps)
    for secret in (sas, sig, ACCOUNT_KEY, ACCOUNT_KEY[:40]):
        assert secret not in text
    assert "sig=" not in text.replace("sig=***", "")


def test_blob_deleted_between_listing_and_reading_fails_only_its_table(spark, settings, azurite, seeded):
    from executor.metadata.extractor import MetadataExtractor
    from executor.sources.azure import AzureBlobFileStore

    container, local = seeded
    victim = "gone" + uuid.uuid4().hex[:6]
    upload_tree(azurite, container, local / "events", f"{victim}/events/")
    (local / "products.parquet").read_bytes()
    cc = azurite.service().get_container_client(container)
    with open(local / "products.parquet", "rb") as fh:
        cc.upload_blob(f"{victim}/products.parquet", fh)
    s = replace(settings, azure_connection_string=azurite.connection_string)

    class DeletingStore(AzureBlobFileStore):
        """Listed, then deleted before anything reads it (reads start while the listing streams)."""

        def list_files(self, prune):
            for info in super().list_files(prune):
                if info.relative == "events/part-00001.csv":
                    cc.delete_blob(f"{victim}/events/part-00001.csv")
                yield info

    def factory(location, st):
        base = AzureBlobFileStore.from_location(location, st)
        return DeletingStore(location, base.client, base.credential, st, limiter=base.limiter, getter=base.getter)

    result = MetadataExtractor(spark, s, store_factory=factory).extract_metadata(azurite.url(container, victim))
    by_name = {t.table_name: t for t in result.tables}
    assert by_name["events"].status == "failed"
    assert "part-00001.csv" in by_name["events"].error_message
    assert "disappeared after listing" in by_name["events"].error_message
    assert by_name["products"].status == "ok" and by_name["products"].row_count == 4


def test_unreachable_account_is_a_clear_source_error(spark, settings, azurite):
    from executor.errors import SourceError
    from executor.metadata.extractor import MetadataExtractor
    from executor.sources.azure import AzureBlobFileStore
    from tests.azurite import free_port

    # the connection string names the unreachable endpoint: the only emulator its key may go to
    gone = f"http://127.0.0.1:{free_port()}/{ACCOUNT}"
    s = replace(settings, azure_connection_string=azurite.connection_string.replace(azurite.endpoint, gone))
    ex = MetadataExtractor(spark, s, store_factory=lambda loc, st: AzureBlobFileStore.from_location(
        loc, st, retry_total=0))
    with pytest.raises(SourceError, match="storage account 'devstoreaccount1' is unreachable.*container 'lake'") as err:
        ex.extract_metadata(f"{gone}/lake/raw")
    assert ACCOUNT_KEY not in str(err.value)


def test_another_emulator_host_is_refused_before_connecting(spark, settings, azurite):
    from executor.errors import PayloadError
    from executor.metadata.extractor import MetadataExtractor
    from tests.azurite import free_port

    s = replace(settings, azure_connection_string=azurite.connection_string)
    ex = MetadataExtractor(spark, s)
    with pytest.raises(PayloadError, match="NUVYN_AZURE_EMULATOR_HOSTS"):
        ex.extract_metadata(f"http://127.0.0.1:{free_port()}/{ACCOUNT}/lake/raw")
