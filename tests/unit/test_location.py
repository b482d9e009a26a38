"""parse_location: every Azure path form, odd characters, SAS tokens kept apart."""

from __future__ import annotations

import pytest

from executor.errors import PayloadError
from executor.sources.location import HostNotAllowed, emulator_hosts, parse_location

EMULATORS = ("127.0.0.1:10000", "localhost:41234")


def parse(path, hint=None):
    return parse_location(path, hint, EMULATORS)

SAS = "sv=2023-11-03&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&sig=AbCdEf%2Bsecret%3D"


@pytest.mark.parametrize("path, kind, account, container, prefix", [
    ("https://acct01.blob.core.windows.net/raw/sales/2024", "azure_blob", "acct01", "raw", "sales/2024"),
    ("https://acct01.blob.core.windows.net/raw", "azure_blob", "acct01", "raw", ""),
    ("https://acct01.blob.core.windows.net/raw/", "azure_blob", "acct01", "raw", ""),
    ("https://ACCT01.blob.core.windows.net/raw/x/", "azure_blob", "acct01", "raw", "x/"),
    ("https://acct01.blob.core.windows.net:443/raw/x", "azure_blob", "acct01", "raw", "x"),
    ("https://acct01.dfs.core.windows.net/fs1/landing/day=1", "adls_gen2", "acct01", "fs1", "landing/day=1"),
    ("abfss://fs1@acct01.dfs.core.windows.net/landing/x.csv", "adls_gen2", "acct01", "fs1", "landing/x.csv"),
    ("abfss://fs1@acct01.dfs.core.windows.net", "adls_gen2", "acct01", "fs1", ""),
    ("abfs://fs1@acct01.dfs.core.windows.net/a", "adls_gen2", "acct01", "fs1", "a"),
    ("wasbs://raw@acct01.blob.core.windows.net/a/b", "azure_blob", "acct01", "raw", "a/b"),
    ("wasb://raw@acct01.blob.core.windows.net/a/b", "azure_blob", "acct01", "raw", "a/b"),
    ("https://acct01.blob.core.chinacloudapi.cn/raw/a", "azure_blob", "acct01", "raw", "a"),
    ("http://127.0.0.1:10000/devstoreaccount1/lake/raw", "azure_blob", "devstoreaccount1", "lake", "raw"),
    ("http://localhost:41234/devstoreaccount1/lake", "azure_blob", "devstoreaccount1", "lake", ""),
])
def test_azure_forms(path, kind, account, container, prefix):
    loc = parse(path)
    assert (loc.kind, loc.account, loc.container, loc.prefix) == (kind, account, container, prefix)
    assert loc.is_azure and loc.display == path and loc.sas_token is None


def test_endpoints_and_abfss_translation():
    loc = parse("https://acct01.blob.core.windows.net/raw/sales")
    assert loc.blob_endpoint == "https://acct01.blob.core.windows.net"
    assert loc.abfss_uri() == "abfss://raw@acct01.dfs.core.windows.net/sales"
    assert loc.abfss_uri("sales/a b.csv") == "abfss://raw@acct01.dfs.core.windows.net/sales/a b.csv"
    dfs = parse("https://acct01.dfs.core.usgovcloudapi.net/fs/x")
    assert dfs.blob_endpoint == "https://acct01.blob.core.usgovcloudapi.net"
    emu = parse("http://127.0.0.1:10000/devstoreaccount1/lake/raw")
    assert emu.blob_endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    assert emu.root_name == "raw"
    assert parse("abfss://fs1@acct01.dfs.core.windows.net").root_name == "fs1"


@pytest.mark.parametrize("path, container, prefix", [
    ("https://acct01.blob.core.windows.net/raw/my%20folder/a%20b.csv", "raw", "my folder/a b.csv"),
    ("abfss://raw@acct01.dfs.core.windows.net/my%20folder/%C3%A9t%C3%A9", "raw", "my folder/été"),
    ("wasbs://raw@acct01.blob.core.windows.net/pct%2520/x", "raw", "pct%20/x"),
    ("http://127.0.0.1:10000/devstoreaccount1/lake/odd%20folder/a%5B1%5D.csv", "lake", "odd folder/a[1].csv"),
    ("https://acct01.blob.core.windows.net/raw/k=v%3Dw/x", "raw", "k=v=w/x"),
])
def test_encoded_names_decode(path, container, prefix):
    loc = parse(path)
    assert loc.container == container and loc.prefix == prefix
    assert loc.display == path  # recorded as given


@pytest.mark.parametrize("path", [
    "https://acct01.blob.core.windows.net/raw/sales",
    "abfss://fs1@acct01.dfs.core.windows.net/landing",
    "http://127.0.0.1:10000/devstoreaccount1/lake/raw",
])
def test_sas_token_kept_apart(path):
    loc = parse(f"{path}?{SAS}")
    assert loc.sas_token is not None and loc.sas_token.get_secret_value() == SAS  # a Secret, known to the redactor
    assert loc.display == path
    assert "sig" not in repr(loc) and "secret" not in repr(loc)
    assert loc.prefix and "?" not in loc.prefix


@pytest.mark.parametrize("path, words", [
    ("https://acct01.blob.core.windows.net/", "no container"),
    ("abfss://acct01.dfs.core.windows.net/x", "<container>@<account>"),
    ("abfss://c@example.com/x", "not an Azure storage host"),
    ("https://example.com/c/x", "not an Azure storage host"),
    ("http://127.0.0.1:10000/devstoreaccount1", "emulator form"),
    ("s3://bucket/x", "unsupported scheme"),
])
def test_bad_paths(path, words):
    with pytest.raises(PayloadError, match=words):
        parse(path)


def test_bad_path_error_never_shows_sas():
    with pytest.raises(PayloadError) as err:
        parse(f"https://example.com/c/x?{SAS}")
    assert "sig" not in str(err.value) and "secret" not in str(err.value)


def test_local_and_dbfs_unchanged(tmp_path):
    assert parse(str(tmp_path)).kind == "local"
    assert parse("dbfs:/mnt/x").local_path == "/dbfs/mnt/x"
    assert parse("/dbfs/mnt/x").kind == "dbfs"


@pytest.mark.parametrize("path", [
    "http://127.0.0.1:10001/devstoreaccount1/lake/raw",  # loopback, but not the listed port
    "http://attacker.example:10000/devstoreaccount1/lake",
    "https://evil.example/devstoreaccount1/c/x?sv=1&sig=abc",
    "http://user@127.0.0.1:9/devstoreaccount1/c",
])
def test_emulator_form_only_for_allowed_hosts(path):
    with pytest.raises(HostNotAllowed, match="NUVYN_AZURE_EMULATOR_HOSTS") as err:
        parse_location(path, "azure_blob", EMULATORS)
    assert "sig=abc" not in str(err.value)


def test_emulator_hosts_come_from_the_connection_string_and_the_setting():
    cs = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k;BlobEndpoint=http://127.0.0.1:41000/devstoreaccount1;"
    assert emulator_hosts(cs, None) == {"127.0.0.1:41000"}
    assert emulator_hosts("UseDevelopmentStorage=true", " azurite:10000 ,") == {"127.0.0.1:10000", "azurite:10000"}
    real = "AccountName=acct01;AccountKey=k;BlobEndpoint=https://acct01.blob.core.windows.net/"
    assert emulator_hosts(real, None) == frozenset()  # a real Azure endpoint is not an emulator
    assert emulator_hosts(None, None) == frozenset()  # loopback is not trusted implicitly


def test_source_location_uses_the_storage_hint_and_registers_the_sas_token():
    from executor.redaction import SECRETS
    from executor.settings import Settings
    from executor.sources.location import source_location

    token = "sv=2024-01-01&sp=rl&sig=unitTestSourceLocationSig"
    loc = source_location(f"https://acct01.blob.core.windows.net/c/p?{token}", "csv", Settings())
    assert (loc.kind, loc.account, loc.container) == ("azure_blob", "acct01", "c")
    assert SECRETS.redact(f"x {token} y") == "x *** y"  # the whole token, not only its sig
    assert source_location("/data", "local", Settings()).kind == "local"
