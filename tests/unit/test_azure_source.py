"""AzureBlobFileStore logic with a fake container client: no network, no JVM."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from executor.errors import SourceError
from executor.metadata.grouping import prune_dir
from executor.redaction import SECRETS
from executor.settings import Settings
from executor.sources.azure import (
    ACCOUNT_KEY,
    CONNECTION_STRING,
    DEFAULT,
    SAS,
    SECRET_SCOPE,
    AzureBlobFileStore,
    AzureCredential,
    BlobGoneError,
    resolve_credential,
    spark_conf_for,
)
from executor.sources.location import parse_location

KEY = "S" * 60 + "unit-account-key=="
URL = "https://acct01.blob.core.windows.net/raw/lake"


class FakeBlob:
    def __init__(self, store: FakeContainer, name: str) -> None:
        self.store, self.name = store, name
        self.calls: list[tuple[int, int]] = []

    def download_blob(self, offset, length, **kw):
        from azure.core.exceptions import ResourceNotFoundError

        if self.name not in self.store.data:
            raise ResourceNotFoundError("gone")
        self.store.ranges.append((self.name, offset, length))
        return SimpleNamespace(readall=lambda: self.store.data[self.name][offset:offset + length])

    def get_blob_properties(self):
        from azure.core.exceptions import ResourceNotFoundError

        if self.name not in self.store.data:
            raise ResourceNotFoundError("gone")
        return SimpleNamespace(size=len(self.store.data[self.name]), etag="e", last_modified=None)


class FakeContainer:
    def __init__(self, data: dict[str, bytes], markers=()) -> None:
        self.data, self.markers, self.ranges = data, set(markers), []

    def list_blobs(self, name_starts_with=None, include=None):
        for name in sorted(set(self.data) | self.markers):
            if name_starts_with and not name.startswith(name_starts_with):
                continue
            meta = {"hdi_isfolder": "true"} if name in self.markers else {}
            yield SimpleNamespace(name=name, size=len(self.data.get(name, b"")), etag=f"etag-{name}",
                                  last_modified=datetime(2024, 1, 1, tzinfo=UTC), metadata=meta)

    def get_blob_client(self, name):
        return FakeBlob(self, name)


def store(data, url=URL, markers=(), **settings):
    loc = parse_location(url)
    return AzureBlobFileStore(loc, FakeContainer(data, markers), AzureCredential(DEFAULT),
                              Settings(**settings))


def test_credential_precedence():
    loc = parse_location(URL + "?sp=rl&sig=sassig123")
    full = Settings(azure_connection_string=f"AccountName=acct01;AccountKey={KEY}", azure_account_key=KEY)
    assert resolve_credential(loc, full).source == SAS
    plain = parse_location(URL)
    assert resolve_credential(plain, full).source == CONNECTION_STRING
    assert resolve_credential(plain, full).account_key == KEY
    assert resolve_credential(plain, Settings(azure_account_key=KEY)).source == ACCOUNT_KEY
    scoped = Settings(azure_key_secret_scope="sc", azure_key_secret_key="k")
    seen = []
    got = resolve_credential(plain, scoped, databricks=True,
                             secret_reader=lambda s, k: seen.append((s, k)) or "dbx-secret-key-value")
    assert got.source == SECRET_SCOPE and seen == [("sc", "k")]
    assert "dbx-secret-key-value" not in SECRETS.redact("dbx-secret-key-value")
    assert resolve_credential(plain, scoped, databricks=False).source == DEFAULT  # dbutils only on Databricks
    assert resolve_credential(plain, Settings()).source == DEFAULT


def test_connection_string_for_another_account_is_refused():
    with pytest.raises(SourceError, match="'other'.*'acct01'") as err:
        resolve_credential(parse_location(URL), Settings(azure_connection_string=f"AccountName=other;AccountKey={KEY}"))
    assert KEY not in str(err.value)


def test_spark_conf_routes():
    loc = parse_location(URL)
    key = spark_conf_for(loc, AzureCredential(ACCOUNT_KEY, account_key=KEY), "abfss")
    assert key["fs.azure.account.key.acct01.dfs.core.windows.net"] == KEY
    sas = spark_conf_for(loc, AzureCredential(SAS, sas_token="sp=r&sig=x"), "abfss")
    assert sas["fs.azure.sas.fixed.token.acct01.dfs.core.windows.net"] == "sp=r&sig=x"
    assert sas["fs.azure.account.auth.type.acct01.dfs.core.windows.net"] == "SAS"
    assert spark_conf_for(loc, AzureCredential(SAS, sas_token="t"), "wasbs") == {
        "fs.azure.sas.raw.acct01.blob.core.windows.net": "t"}
    assert spark_conf_for(loc, AzureCredential(DEFAULT), "abfss") == {}  # the cluster's own credentials
    assert spark_conf_for(loc, AzureCredential(ACCOUNT_KEY, account_key=KEY), "staging") == {}


def test_listing_prunes_folders_once_and_skips_markers():
    data = {f"lake/{n}": b"a,b\n1,2\n" for n in (
        "t.csv", "sales/year=1/p.csv", "_delta_log/0.json", "_delta_log/1.json", "x/.hidden/a.csv",
        "x/y.csv")}
    data["elsewhere/z.csv"] = b"z"
    s = store(data, markers=["lake/x"])
    got = [(f.relative, f.skip_reason) for f in s.list_files(prune_dir)]
    assert got == [("_delta_log/", "Delta transaction log"), ("sales/year=1/p.csv", None), ("t.csv", None),
                   ("x/.hidden/", "hidden folder"), ("x/y.csv", None)]
    info = next(f for f in s.list_files(prune_dir) if f.relative == "t.csv")
    assert info.uri == "https://acct01.blob.core.windows.net/raw/lake/t.csv" and info.etag == "etag-lake/t.csv"
    assert s.spark_uri(info.uri) == "abfss://raw@acct01.dfs.core.windows.net/lake/t.csv"


def test_uris_for_every_form_and_display():
    data = {"my dir/a[1].csv": b"x\n1\n"}
    for url, uri, spark in [
        ("https://acct01.blob.core.windows.net/raw/my%20dir", "https://acct01.blob.core.windows.net/raw/my dir/a[1].csv",
         r"abfss://raw@acct01.dfs.core.windows.net/my dir/a\[1\].csv"),
        ("abfss://raw@acct01.dfs.core.windows.net/my%20dir", "abfss://raw@acct01.dfs.core.windows.net/my dir/a[1].csv",
         r"abfss://raw@acct01.dfs.core.windows.net/my dir/a\[1\].csv"),
    ]:
        s = store(data, url)
        (f,) = list(s.list_files(prune_dir))
        assert f.uri == uri and s.spark_uri(f.uri) == spark
    s = store(data, "https://acct01.blob.core.windows.net/raw/my%20dir")
    assert s.display(s.uri_of("my dir/a[1].csv")) == "https://acct01.blob.core.windows.net/raw/my%20dir/a%5B1%5D.csv"
    w = store(data, "wasbs://raw@acct01.blob.core.windows.net/my%20dir", azure_spark_route="wasbs")
    assert w.spark_uri(w.uri_of("my dir/a[1].csv")) == r"wasbs://raw@acct01.blob.core.windows.net/my dir/a\[1\].csv"


def test_single_blob_and_empty_prefix():
    s = store({"lake": b"a\n1\n"})
    (f,) = list(s.list_files(prune_dir))
    assert f.relative == "" and f.size == 4
    with pytest.raises(SourceError, match="no blobs under prefix 'lake' in container 'raw' of storage account 'acct01'"):
        list(store({"other/x.csv": b"1"}).list_files(prune_dir))


def test_reader_is_seekable_ranged_and_buffered():
    payload = bytes(range(256)) * 100
    s = store({"lake/f.parquet": payload})
    list(s.list_files(prune_dir))
    with s.open(s.uri_of("lake/f.parquet")) as fh:
        assert fh.seekable()
        fh.seek(-8, io.SEEK_END)
        assert fh.read(8) == payload[-8:]
        fh.seek(10)
        assert fh.read(5) == payload[10:15] and fh.tell() == 15
        fh.seek(0)
        assert fh.read() == payload
        assert fh.read(10) == b""
    assert fh.closed
    assert all(length > 0 for _, _, length in s.client.ranges)


def test_blob_deleted_after_listing_is_a_clear_file_error():
    s = store({"lake/f.csv": b"a\n1\n"})
    (f,) = list(s.list_files(prune_dir))
    del s.client.data["lake/f.csv"]
    gone = r"blob 'lake/f.csv' \(container 'raw', account 'acct01'\) disappeared after listing"
    with pytest.raises(BlobGoneError, match=gone), s.open(f.uri) as fh:
        fh.read()
    assert isinstance(BlobGoneError("x"), FileNotFoundError)  # the extractor's per-table failure path


def test_staging_route_stages_releases_and_bounds(tmp_path):
    data = {"lake/a.csv": b"x\n1\n", "lake/sub/b.csv": b"y\n2\n" * 7}
    s = store(data, azure_spark_route="staging", azure_staging_dir=str(tmp_path), azure_staging_max_bytes=30)
    files = {f.relative: f for f in s.list_files(prune_dir)}
    uri = s.spark_uri(files["a.csv"].uri)
    assert uri.startswith("file:" + str(tmp_path)) and uri.endswith("/raw/lake/a.csv")
    with open(uri[len("file:"):], "rb") as staged:
        assert staged.read() == b"x\n1\n"
    with pytest.raises(OSError, match="NUVYN_AZURE_STAGING_MAX_BYTES=30"):
        s.spark_uri(files["sub/b.csv"].uri)
    s.release()
    assert s.spark_uri(files["sub/b.csv"].uri).endswith("/raw/lake/sub/b.csv")
    s.close()


def test_settings_reject_unknown_route():
    from executor.errors import SettingsError

    with pytest.raises(SettingsError, match="NUVYN_AZURE_SPARK_ROUTE"):
        replace(Settings(), azure_spark_route="s3")


def test_source_errors_name_account_and_container():
    from azure.core.exceptions import (
        ClientAuthenticationError,
        ResourceNotFoundError,
        ServiceRequestError,
    )
    from azure.identity import CredentialUnavailableError

    from executor.sources.azure import source_error

    loc = parse_location(URL)
    cred = AzureCredential(ACCOUNT_KEY, account_key=KEY)
    msgs = {
        "missing": str(source_error(ResourceNotFoundError("x"), loc, cred, "listing")),
        "auth": str(source_error(ClientAuthenticationError("bad " + KEY), loc, cred, "listing")),
        "net": str(source_error(ServiceRequestError("refused"), loc, cred, "listing")),
        "none": str(source_error(CredentialUnavailableError("none"), loc, AzureCredential(DEFAULT), "listing")),
    }
    assert "does not exist" in msgs["missing"] and "authentication refused" in msgs["auth"]
    assert "unreachable" in msgs["net"] and "no Azure credential" in msgs["none"]
    for m in msgs.values():
        assert "'acct01'" in m and "'raw'" in m and KEY not in m
