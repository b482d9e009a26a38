"""A whole extraction through AzureBlobFileStore (a counting fake container client, no network):
the requests each file costs, and the facts identical to the same files read from local disk."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from executor.metadata.extractor import MetadataExtractor
from executor.metadata.model import MetadataResult
from executor.settings import Settings
from executor.sources.azure import AzureBlobFileStore, AzureCredential
from executor.sources.location import parse_location
from tests.unit.test_azure_source import DEFAULT, FakeContainer

URL = "https://acct01.blob.core.windows.net/raw/lake"


class CountingContainer(FakeContainer):
    """FakeContainer whose ranged reads are counted per blob, from any thread."""

    def __init__(self, data, **kw) -> None:
        super().__init__(data, **kw)
        self._lock = threading.Lock()

    def get_blob_client(self, name):
        blob = super().get_blob_client(name)
        real = blob.download_blob

        def download(offset, length, **kw):
            with self._lock:
                return real(offset, length, **kw)

        blob.download_blob = download
        return blob

    def per_file(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, _start, _length in self.ranges:
            out[name] = out.get(name, 0) + 1
        return out


def _lake(root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for t in range(3):
        (root / f"p{t}").mkdir(parents=True)
        for f in range(6):
            n = 40 + 10 * f
            pq.write_table(pa.table({"id": list(range(n)), "name": [f"n{t}-{f}-{i}" for i in range(n)],
                                     "score": [None if i % 7 == 0 else i / 3 for i in range(n)]}),
                           root / f"p{t}" / f"part-{f:03d}.parquet")
    (root / "c").mkdir()
    for f in range(4):
        (root / "c" / f"part-{f}.csv").write_text("id,city,amount\n" + "".join(
            f'{i},"city {i % 5}, x",{i * 1.5}\n' for i in range(100 * f, 100 * f + 90)))


def _store_factory(data: dict[str, bytes], containers: list[CountingContainer]):
    def factory(location, settings):
        container = CountingContainer(data)
        containers.append(container)
        return AzureBlobFileStore(parse_location(URL), container, AzureCredential(DEFAULT), settings)
    return factory


def _facts(result: MetadataResult) -> dict[str, tuple]:
    return {t.table_name: (t.status, t.row_count, t.file_count,
                           [(c.column_name, c.data_type, c.sample_values, c.null_count, c.distinct_count,
                             c.min_value, c.max_value, c.profile_scope) for c in t.columns])
            for t in result.tables}


@pytest.mark.parametrize("profile_max_rows", [100_000, 120])
def test_parquet_and_csv_files_cost_one_request_each_and_the_facts_are_those_of_local_disk(tmp_path,
                                                                                          profile_max_rows):
    root = tmp_path / "lake"
    _lake(root)
    data = {"lake/" + p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    settings = Settings(io_threads=4, profile_max_rows=profile_max_rows)
    local = MetadataExtractor(None, settings).extract_metadata(str(root))
    containers: list[CountingContainer] = []
    remote = MetadataExtractor(None, settings, store_factory=_store_factory(data, containers)).extract_metadata(URL)
    assert _facts(remote) == _facts(local)
    assert all(t.status == "ok" for t in remote.tables) and len(remote.tables) == 4
    (container,) = containers
    assert container.heads == 0 and container.list_requests == 1
    # one request per file: the file facts read it whole (small files) and the samples reuse it
    assert container.per_file() == {name: 1 for name in data}


def test_sampled_files_are_only_the_ones_the_sample_needs(tmp_path):
    """profile_max_rows=50: the sample needs the first file of each Parquet table (40 rows), and
    part of the second; no file after those is read twice."""
    root = tmp_path / "lake"
    _lake(root)
    data = {"lake/" + p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    containers: list[CountingContainer] = []
    settings = Settings(io_threads=4, profile_max_rows=50, io_cache_bytes=0)  # no cache: rereads are visible
    result = MetadataExtractor(None, settings, store_factory=_store_factory(data, containers)).extract_metadata(URL)
    assert all(t.status == "ok" for t in result.tables)
    twice = sorted(n for n, k in containers[0].per_file().items() if k > 1 and n.endswith(".parquet"))
    assert twice == [f"lake/p{t}/part-{f:03d}.parquet" for t in range(3) for f in (0, 1)]


def test_a_footer_larger_than_the_tail_is_read_in_two_requests(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = pa.table({"a": list(range(100)), "blob": [b"\0" * 5000] * 100}).replace_schema_metadata(
        {"pad": "x" * 200_000})  # a 200 KB footer in a 700 KB file
    buf = io.BytesIO()
    pq.write_table(big, buf, compression="none")
    data = {"lake/t/big.parquet": buf.getvalue()}
    containers: list[CountingContainer] = []
    result = MetadataExtractor(None, Settings(io_threads=2, io_cache_bytes=0),
                               store_factory=_store_factory(data, containers)).extract_metadata(URL)
    (table_facts,) = result.tables
    assert table_facts.row_count == 100 and table_facts.status == "ok"
    facts_requests = containers[0].ranges[:2]
    assert facts_requests[0][1] == len(buf.getvalue()) - 64 * 1024  # the tail first
    assert facts_requests[1][1] < facts_requests[0][1]  # then the rest of the footer


def test_a_csv_table_read_early_frees_its_cached_files_at_once(tmp_path, monkeypatch):
    """The CSV table's window is read while the other files download (readers.base.EarlyTables): its
    files' cached bytes are dropped then (the table step reads none again), still one request a file."""
    from executor.metadata import extractor as extractor_module
    from executor.metadata.readers import csv as csv_reader
    from tests.unit.test_early_tables import Recording

    root = tmp_path / "lake"
    _lake(root)
    data = {"lake/" + p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    forgotten: list[list[str]] = []
    real = csv_reader.forget_cached
    monkeypatch.setattr(csv_reader, "forget_cached", lambda store, uris: (forgotten.append(list(uris)), real(store, uris)))
    monkeypatch.setattr(extractor_module, "EarlyTables", Recording)
    Recording.made.clear()
    containers: list[CountingContainer] = []
    result = MetadataExtractor(None, Settings(io_threads=4), store_factory=_store_factory(data, containers)).extract_metadata(URL)
    # the CSV table's window and the three Parquet tables' (ParquetReader.prepare)
    assert all(t.status == "ok" for t in result.tables) and Recording.made[-1].taken == 4
    assert forgotten == [[f"{URL}/c/part-{f}.csv" for f in range(4)]]
    assert containers[0].per_file() == {name: 1 for name in data}


def test_csv_files_past_the_window_leave_the_cache_with_their_facts(tmp_path, monkeypatch):
    """A CSV table of four 90-record files and a window of 100 records (max(infer_sample_records,
    profile_max_rows)): the facts step keeps files 0 and 1 cached for the window (its second file
    gives the last 10 records) and drops files 2 and 3 as soon as their facts are read (counted then
    from the cached bytes, in the pool); every file is still read once."""
    from executor.metadata import plan as plan_module
    from executor.metadata.readers import csv as csv_module

    root = tmp_path / "lake"
    _lake(root)
    data = {"lake/" + p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    dropped: list[str] = []
    real = plan_module.forget_cached
    monkeypatch.setattr(plan_module, "forget_cached",
                        lambda store, uris: (dropped.extend(uris := list(uris)), real(store, uris)))
    settle = csv_module.DeferredCount.settle

    def settled(count, forget=False):
        settle(count, forget)
        if forget:  # the facts step's count of a file the window does not read
            dropped.append(count.uri)

    monkeypatch.setattr(csv_module.DeferredCount, "settle", settled)
    offered: dict[str, str | None] = {}
    offer = csv_module.DeferredCount.offer

    def offering(count, got):
        offered[count.uri.rsplit("/", 1)[1]] = None if got is None else got.exact_path
        offer(count, got)

    monkeypatch.setattr(csv_module.DeferredCount, "offer", offering)
    containers: list[CountingContainer] = []
    settings = Settings(io_threads=4, infer_sample_records=50, profile_max_rows=100)
    result = MetadataExtractor(None, settings, store_factory=_store_factory(data, containers)).extract_metadata(URL)
    (csv_table,) = [t for t in result.tables if t.table_name == "c"]
    assert csv_table.status == "ok" and csv_table.row_count == 360
    assert sorted(u for u in dropped if u.startswith(f"{URL}/c/")) == [f"{URL}/c/part-{f}.csv" for f in (2, 3)]
    # the window parsed files 0 and 1 whole: their counts are those parses' (file 1 gives 10 records,
    # but its bytes, all in the cache, take one read)
    assert offered == {"part-0.csv": "parsed", "part-1.csv": "parsed"}
    assert containers[0].per_file() == {name: 1 for name in data}
    # the window's profiles: its 100 records, sampled
    ids = next(c for c in csv_table.columns if c.column_name == "id")
    assert ids.profile_scope == "sampled" and ids.distinct_count == 100


TRICKY_CSV = {
    "crlf/a.csv": b"id,name\r\n" + b"".join(b'%d,"n %d"\r\n' % (i, i) for i in range(40)),
    "blank/a.csv": b"id,name\n\n1,a\n\n\n2,b\n" + b"".join(b"%d,x\n" % i for i in range(3, 30)) + b"\n\n",
    "quoted_newlines/a.csv": b'id,note\n1,"two\nlines"\n2,"three\r\nlines\nhere"\n3,plain\n',
    "stray_quote/a.csv": b'id,size\n1,5" screen\n2,7" tablet\n3,"x"\n',
    "doubled/a.csv": b'id,q\n1,"say ""hi"""\n2,"a,b"\n',
    "latin1/a.csv": "id;name\n1;Gr\xfc\xdfe\n2;caf\xe9\n3;na\xefve\n".encode("iso-8859-1"),
    "utf8/a.csv": "id,name\n1,caf\u00e9\n2,\u20ac uro\n3,\U0001f600\n".encode(),
    "bad_utf8/a.csv": b"id,name\n1,ab\xff\n2,c\xc3\n3,d\n",
    "lone_cr/a.csv": b"id,v\r1,a\r2,b\r3,c\r",
    "no_final_newline/a.csv": b"id,v\n1,a\n2,b",
    "widths/a.csv": b"id,v\n1,a\n2,b,c\n3\n",
}


@pytest.mark.parametrize("profile_max_rows", [100_000, 25])
def test_csv_counts_from_the_samples_parse_are_the_scanners_counts(tmp_path, profile_max_rows):
    """Remote (counts taken from the window's parse of each file, or counted from the cached bytes)
    against local disk (every small file scanned by the facts step): the same rows and facts on
    files shaped to trip the parse (CR LF, blank lines, quoted newlines, stray and doubled quotes,
    Latin-1, UTF-8 valid and not, lone CRs, no final newline, records of other widths)."""
    root = tmp_path / "lake"
    for rel, body in TRICKY_CSV.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(body)
        (root / rel).with_name("b.csv").write_bytes(body)  # two files a table: one may be read in part
    data = {"lake/" + p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    settings = Settings(io_threads=4, infer_sample_records=10, profile_max_rows=profile_max_rows)
    local = MetadataExtractor(None, settings).extract_metadata(str(root))
    containers: list[CountingContainer] = []
    remote = MetadataExtractor(None, settings, store_factory=_store_factory(data, containers)).extract_metadata(URL)
    assert _facts(remote) == _facts(local)
    assert {t.table_name: t.row_count for t in remote.tables if t.status == "ok"}["crlf"] == 80
    assert containers[0].per_file() == {name: 1 for name in data}


def test_a_blob_deleted_after_its_facts_fails_its_table_with_the_stores_message(tmp_path):
    """Without the cache the window reads a Parquet file again: a blob deleted since its footer was
    read fails its table ('disappeared after listing'), where the column-by-column retry once left
    the table ok with a note; the other table is unchanged."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data: dict[str, bytes] = {}
    for t in ("gone", "kept"):
        for f in range(3):
            buf = io.BytesIO()
            pq.write_table(pa.table({"x": [f, f + 1]}), buf)
            data[f"lake/{t}/part-{f}.parquet"] = buf.getvalue()
    victim = "lake/gone/part-1.parquet"

    class DeletingContainer(CountingContainer):
        def get_blob_client(self, name):
            blob = super().get_blob_client(name)
            real = blob.download_blob

            def download(offset, length, **kw):
                if name == victim and any(n == victim for n, _s, _l in self.ranges):
                    self.data.pop(victim, None)  # deleted after the facts step's read
                return real(offset, length, **kw)

            blob.download_blob = download
            return blob

    def factory(location, settings):
        return AzureBlobFileStore(parse_location(URL), DeletingContainer(data), AzureCredential(DEFAULT), settings)

    result = MetadataExtractor(None, Settings(io_threads=2, io_cache_bytes=0),
                               store_factory=factory).extract_metadata(URL)
    tables = {t.table_name: t for t in result.tables}
    assert tables["gone"].status == "failed"
    assert "part-1.parquet" in tables["gone"].error_message
    assert "disappeared after listing (blob not found)" in tables["gone"].error_message
    assert (tables["kept"].status, tables["kept"].row_count) == ("ok", 6)
