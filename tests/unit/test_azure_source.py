"""AzureBlobFileStore logic with a fake container client: no network, no JVM."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from executor.errors import SourceError
from executor.metadata.grouping import prune_dir, prune_listing
from executor.redaction import SECRETS, Secret
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

        self.store.heads += 1
        if self.name not in self.store.data:
            raise ResourceNotFoundError("gone")
        return SimpleNamespace(size=len(self.store.data[self.name]), etag="e", last_modified=None)


class BlobPrefix(SimpleNamespace):
    """A sub-folder entry of a delimiter listing (the SDK's class has this name)."""


class FakePaged:
    """The SDK's ItemPaged: iterable, and by_page() whose every page is one request."""

    def __init__(self, store: FakeContainer, items: list, page_size: int) -> None:
        self.store, self.items, self.page_size = store, items, page_size

    def __iter__(self):
        return iter(self.items)

    def by_page(self, continuation_token=None):
        return FakePages(self, int(continuation_token or 0))


class FakePages:
    """The SDK's page iterator: each next() is one request; continuation_token marks the next page
    (None after the last one), and by_page(continuation_token=...) starts there."""

    def __init__(self, paged: FakePaged, start: int) -> None:
        self.paged, self.start, self.continuation_token = paged, start, None
        self.done = False

    def __iter__(self):
        return self

    def __next__(self):
        p = self.paged
        if self.done:
            raise StopIteration
        p.store.list_requests += 1
        end = self.start + p.page_size
        page = p.items[self.start:end]
        self.continuation_token = str(end) if end < len(p.items) else None
        self.done = self.continuation_token is None
        self.start = end
        return iter(page)


class FakeContainer:
    def __init__(self, data: dict[str, bytes], markers=(), page_size: int = 5000) -> None:
        self.data, self.markers, self.ranges = data, set(markers), []
        self.page_size = page_size
        self.list_requests = 0
        self.heads = 0
        self.listed_prefixes: list[str | None] = []

    def _blob(self, name):
        meta = {"hdi_isfolder": "true"} if name in self.markers else {}
        return SimpleNamespace(name=name, size=len(self.data.get(name, b"")), etag=f"etag-{name}",
                               last_modified=datetime(2024, 1, 1, tzinfo=UTC), metadata=meta)

    def list_blobs(self, name_starts_with=None, include=None):
        names = sorted(n for n in set(self.data) | self.markers if not name_starts_with or n.startswith(name_starts_with))
        return FakePaged(self, [self._blob(n) for n in names], self.page_size)

    def walk_blobs(self, name_starts_with=None, delimiter="/", include=None):
        """The entries directly under the prefix: blobs, and one BlobPrefix per sub-folder."""
        self.listed_prefixes.append(name_starts_with)
        prefix = name_starts_with or ""
        out: dict[str, object] = {}
        for n in sorted(set(self.data) | self.markers):
            if not n.startswith(prefix):
                continue
            rest = n[len(prefix):]
            if delimiter in rest:
                sub = prefix + rest.split(delimiter, 1)[0] + delimiter
                out.setdefault(sub, BlobPrefix(name=sub))
            else:
                out[n] = self._blob(n)
        return FakePaged(self, [out[k] for k in sorted(out)], self.page_size)

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
    assert resolve_credential(plain, full).account_key == Secret(KEY)  # kept as a Secret, never a plain str
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


# ------------------------------------------------------------------ requests (issue 24)


def _csv(rows: int) -> bytes:
    return b"id,name,note\n" + b"".join(b'%d,name %d,"a, b %d"\n' % (i, i, i) for i in range(rows))


def test_listed_files_open_without_a_head_and_a_small_file_is_one_request():
    s = store({"lake/a.csv": _csv(10), "lake/b.csv": _csv(20)})
    files = list(s.list_files(prune_dir))
    for f in files:
        with s.open(f.uri) as fh:
            fh.read(5)
            fh.seek(0)
            fh.read()
    assert s.client.heads == 0
    assert sorted(s.client.ranges) == [(n, 0, len(s.client.data[n])) for n in ("lake/a.csv", "lake/b.csv")]
    s2 = store({"lake/c.csv": _csv(5)})  # not listed: its size comes from one HEAD
    with s2.open(s2.uri_of("lake/c.csv")) as fh:
        assert fh.read() == s2.client.data["lake/c.csv"]
    assert s2.client.heads == 1


def test_csv_head_through_a_text_wrapper_is_one_request_not_one_per_8_kib():
    """read_head wraps the blob reader in io.TextIOWrapper, whose read1(8192) bypassed the
    BufferedReader: 2 MB of records took ~250 ranged GETs. Now one."""
    from executor.metadata import csv_scan
    from executor.metadata.compression import open_data

    data = _csv(70_000)
    assert len(data) > 1_500_000
    s = store({"lake/big.csv": data})
    (f,) = list(s.list_files(prune_dir))
    with open_data(s, f.uri, None) as fh:
        head = csv_scan.read_head(fh, csv_scan.CsvDialect(), max_records=60_000)
    assert len(head.rows) == 60_000
    assert len(s.client.ranges) == 1


def test_a_sequential_open_reads_a_big_blob_in_parallel_ranges():
    data = bytes(range(256)) * (30 * 1024 * 1024 // 256)
    s = store({"lake/big.csv": data})
    (f,) = list(s.list_files(prune_dir))
    with s.open_sequential(f.uri) as fh:
        assert fh.read() == data
    starts = sorted(start for _, start, _ in s.client.ranges)
    assert starts == list(range(0, len(data), 8 * 1024 * 1024))  # each 8 MB range once
    assert s.limiter.reserved == 0


def test_hierarchical_listing_gives_the_flat_listing_and_never_lists_pruned_folders():
    names = ["lake/a.csv", "lake/b/c.csv", "lake/b.csv", "lake/b0.csv", "lake/sales/year=1/p.parquet",
             "lake/sales/year=2/p.parquet", "lake/_checkpoints/1/x.csv", "lake/.hidden/y.csv",
             "lake/t/_delta_log/0.json", "lake/t/part-0.parquet", "lake/z/deep/er/f.json"]
    data = {n: b"x" for n in names}
    flat = store(data, azure_listing="flat")
    walk = store(data, azure_listing="hierarchical")
    got_flat = [(f.relative, f.skip_reason, f.size) for f in flat.list_files(prune_listing)]
    got_walk = [(f.relative, f.skip_reason, f.size) for f in walk.list_files(prune_listing)]
    assert got_walk == got_flat
    skipped = {rel: reason for rel, reason, _size in got_walk if reason}
    assert skipped["_checkpoints/"].startswith("checkpoint folder") and skipped[".hidden/"] == "hidden folder"
    assert not any(p and ("_checkpoints" in p or ".hidden" in p) for p in walk.client.listed_prefixes)
    assert "lake/t/_delta_log/" in walk.client.listed_prefixes  # the Delta log is listed (its files are read)
    assert store(data, "abfss://raw@acct01.dfs.core.windows.net/lake").hierarchical()  # ADLS Gen2: auto
    assert not store(data).hierarchical()


def test_listing_pages_stream_in_order():
    data = {f"lake/f{i:03d}.csv": b"a\n1\n" for i in range(23)}
    s = store(data)
    s.client.page_size = 5
    got = [f.relative for f in s.list_files(prune_listing)]
    assert got == [f"f{i:03d}.csv" for i in range(23)] and s.client.list_requests == 5


def test_throttling_429_is_retried_with_backoff_and_lowers_the_concurrency():
    from azure.core.exceptions import HttpResponseError

    s = store({"lake/a.csv": _csv(3)}, io_threads=8)
    (f,) = list(s.list_files(prune_dir))
    answers = [429, 429]
    real = FakeBlob.download_blob

    def download(self, offset, length, **kw):
        if answers:
            err = HttpResponseError(message="throttled")
            err.status_code = answers.pop(0)
            err.response = SimpleNamespace(headers={"Retry-After": "2"})
            raise err
        return real(self, offset, length, **kw)

    waits: list[float] = []
    s._sleep = waits.append
    FakeBlob.download_blob = download
    try:
        with s.open(f.uri) as fh:
            assert fh.read() == s.client.data["lake/a.csv"]
    finally:
        FakeBlob.download_blob = real
    assert waits == [2.0, 2.0] and s.limiter.throttles == 2 and s.limiter.limit == 2


def test_retry_after_and_backoff():
    from executor.sources.azure import backoff_seconds, retry_after_seconds

    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"x-ms-retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after_seconds(None) is None
    assert backoff_seconds(0, lambda: 0.5) == 0.5 and backoff_seconds(10, lambda: 0.5) == 30.0


def test_503_from_a_real_http_server_is_retried_by_the_sdk_and_seen_by_the_limiter():
    """A real HTTP server (the only double: it plays a busy storage account): the store's own
    client, transport and retry policy; a 503 ServerBusy, then the range."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = b"a,b\n1,2\n"
    seen: list[str] = []

    class Busy(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_HEAD(self):
            seen.append("HEAD")
            self.send_response(200)
            for k, v in (("Content-Length", str(len(body))), ("ETag", '"0x1"'), ("x-ms-blob-type", "BlockBlob"),
                         ("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")):
                self.send_header(k, v)
            self.end_headers()

        def do_GET(self):
            seen.append("GET")
            if seen.count("GET") == 1:
                self.send_response(503)
                self.send_header("Retry-After", "0")
                self.send_header("x-ms-error-code", "ServerBusy")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            for k, v in (("Content-Length", str(len(body))), ("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}"),
                         ("ETag", '"0x1"'), ("x-ms-blob-type", "BlockBlob"),
                         ("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")):
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/devstoreaccount1"
        settings = Settings(azure_connection_string=f"AccountName=devstoreaccount1;AccountKey={KEY};"
                                                    f"BlobEndpoint={endpoint};", io_threads=4)
        from executor.sources.location import source_location

        loc = source_location(f"{endpoint}/raw/lake/a.csv", "auto", settings)
        s = AzureBlobFileStore.from_location(loc, settings, retry_total=2)
        with s.open(s.uri_of("lake/a.csv")) as fh:
            assert fh.read() == body
        assert seen == ["HEAD", "GET", "GET"] and s.limiter.throttles == 1
        adapter = s.client._config.transport.session.get_adapter(endpoint)
        assert adapter._pool_maxsize >= 4  # the connection pool is as large as the I/O threads
        s.close()
    finally:
        server.shutdown()


def test_the_range_getter_signs_as_azure_storage_blob_does():
    """Shared Key: our signature of a ranged GET equals the SDK's own signing policy's."""
    import base64 as b64

    from azure.core.pipeline import PipelineRequest
    from azure.core.pipeline.transport import HttpRequest
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

    from executor.sources.azure import RangeGetter
    from executor.sources.ranges import RequestLimiter

    key = b64.b64encode(b"k" * 64).decode()
    getter = RangeGetter("http://127.0.0.1:10000/devstoreaccount1/raw", "devstoreaccount1",
                         AzureCredential(ACCOUNT_KEY, account_key=key), None, 4, RequestLimiter(4, 1 << 20))
    url = getter.url("lake/my dir/a+b é.parquet")
    headers = getter.headers(url, 100, 50, '"0x8DC"')
    request = HttpRequest("GET", url, headers={k: v for k, v in headers.items() if k != "Authorization"})
    SharedKeyCredentialPolicy("devstoreaccount1", key).on_request(PipelineRequest(request, _context()))
    assert headers["Authorization"] == request.headers["Authorization"]
    assert headers["x-ms-range"] == "bytes=100-149" and headers["If-Match"] == '"0x8DC"'


def test_the_range_getter_uses_a_unity_catalog_sas_as_it_renews():
    """A renewing SAS (databricks_credentials.RefreshingSas): each ranged GET carries its current
    token, not the one the store was made with, and no Authorization header."""
    from executor.sources.azure import RangeGetter
    from executor.sources.databricks_credentials import RefreshingSas
    from executor.sources.ranges import RequestLimiter

    now = [1000.0]
    tokens = iter(["sv=1&sig=first", "sv=1&sig=second"])
    sas = RefreshingSas(lambda: (Secret(next(tokens)), now[0] + 3600), clock=lambda: now[0])
    credential = AzureCredential("Unity Catalog", sas_token=sas.token, sdk_credential=sas.credential)
    getter = RangeGetter("https://acct.blob.core.windows.net/raw", "acct", credential, sas.credential, 4,
                         RequestLimiter(4, 1 << 20))
    assert getter.url("lake/a.parquet").endswith("/raw/lake/a.parquet?sv=1&sig=first")
    now[0] += 3600  # expired: the next request renews it
    url = getter.url("lake/a.parquet")
    assert url.endswith("?sv=1&sig=second") and "Authorization" not in getter.headers(url, 0, 10, None)


def _context():
    from azure.core.pipeline import PipelineContext

    return PipelineContext(None)


def test_a_deep_hierarchical_walk_with_one_thread_finishes():
    """Folder listings run in the store's pool and never wait on it: one thread walks any tree."""
    names = [f"lake/{a}/{b}/{c}/{d}/f.csv" for a in "xyz" for b in "uv" for c in "pq" for d in "mn"]
    s = store({n: b"a\n1\n" for n in names}, azure_listing="hierarchical", io_threads=1)
    s.client.page_size = 1  # several pages per folder too
    assert [f.relative for f in s.list_files(prune_listing)] == [n[len("lake/"):] for n in sorted(names)]


def test_every_resolved_credential_keeps_its_secret_as_a_secret():
    """Azure keys and SAS tokens stay Secrets end to end (issue 23): repr and str never show them."""
    sas = resolve_credential(parse_location(URL + "?sp=rl&sig=sassig123"), Settings())
    key = resolve_credential(parse_location(URL), Settings(azure_account_key=KEY))
    cs = resolve_credential(parse_location(URL),
                            Settings(azure_connection_string="AccountName=acct01;SharedAccessSignature=sv=1&sig=cs9"))
    for cred, value in ((sas, "sp=rl&sig=sassig123"), (key, KEY), (cs, "sv=1&sig=cs9")):
        held = cred.sas_token if cred.kind == "sas" else cred.account_key
        assert isinstance(held, Secret) and held.get_secret_value() == value
        assert value not in repr(cred) and value not in str(held)


def test_a_list_blobs_page_is_parsed_as_the_sdk_reads_it():
    from datetime import datetime, timezone

    from executor.sources.azure import _is_folder_marker, _is_prefix, parse_list_page

    body = b"""<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="https://acct.blob.core.windows.net/" ContainerName="c">
  <Prefix>d/</Prefix><Delimiter>/</Delimiter>
  <Blobs>
    <Blob><Name>d/a b.csv</Name><Properties><Last-Modified>Sun, 06 Dec 2026 07:00:01 GMT</Last-Modified>
      <Etag>0x8DE0001</Etag><Content-Length>12</Content-Length></Properties><Metadata /></Blob>
    <BlobPrefix><Name>d/e/</Name></BlobPrefix>
    <Blob><Name Encoded="true">d/%EF%BF%BEx.csv</Name><Properties><Etag>0x8DE0002</Etag>
      <Content-Length>0</Content-Length></Properties><Metadata><hdi_isfolder>true</hdi_isfolder></Metadata></Blob>
  </Blobs>
  <NextMarker>2!abc</NextMarker>
</EnumerationResults>"""
    items, marker = parse_list_page(body)
    assert marker == "2!abc"
    assert [i.name for i in items] == ["d/e/", "d/a b.csv", "d/\ufffex.csv"]  # prefixes first, as the SDK
    assert _is_prefix(items[0]) and not _is_prefix(items[1])
    assert (items[1].size, items[1].etag, items[1].metadata) == (12, "0x8DE0001", {})
    assert items[1].last_modified == datetime(2026, 12, 6, 7, 0, 1, tzinfo=timezone.utc)
    assert items[2].last_modified is None and _is_folder_marker(items[2])
    assert parse_list_page(b"<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>") == ([], None)


@pytest.mark.parametrize("answer", [(200, b"<EnumerationResults><Blobs><Blob>"), (503, b"ServerBusy"), OSError("reset")])
def test_a_listing_page_the_raw_request_cannot_give_is_asked_of_the_sdk(answer):
    class Getter:  # RangeGetter.list_page answering badly: a cut body, a failure after its retries, no connection
        calls = 0

        def list_page(self, *args, **kwargs):
            Getter.calls += 1
            if isinstance(answer, Exception):
                raise answer
            return answer

    data = {f"lake/{n}": b"a\n1\n" for n in ("t.csv", "x/y.csv")}
    s = store(data)
    want = [(f.relative, f.etag) for f in s.list_files(prune_dir)]
    s.getter = Getter()  # type: ignore[assignment]
    assert [(f.relative, f.etag) for f in s.list_files(prune_dir)] == want == [("t.csv", "etag-lake/t.csv"),
                                                                               ("x/y.csv", "etag-lake/x/y.csv")]
    assert Getter.calls == 1
