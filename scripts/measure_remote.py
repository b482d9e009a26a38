"""Measure the Delta log replay and the big-CSV count against Azurite behind a latency proxy.

    PYTHONPATH=$PWD .venv/bin/python scripts/measure_remote.py [--delay-ms 10] [--threads 8]
        [--proxy /work/shared/tools/latency-proxy/latency_proxy.py] [--what delta,csv] [--csv-mb 200]

Starts Azurite (tests/azurite.py) and the latency proxy (requests and connections counted), uploads
5 Delta tables written by delta-rs (20, 50, 100, 150 and 200 commits, one data file each: 520 files)
and one big CSV, then times, on the proxy:
  delta: the executor's extraction of the 5 tables (no Spark) vs delta-rs (`deltalake`) loading
         each table and its add actions with the same account through the same proxy;
  csv:   the executor's extraction of the one CSV and its count step alone (csv._count) vs the
         blob's download through the proxy (azure-storage-blob, in parallel ranges and in one GET).
Prints one line per measurement: seconds, requests, connections opened, MB from the store.
Not a test: speed lives here and in bench/ (the "remote" bench builds the full --remote run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.azurite import ACCOUNT, ACCOUNT_KEY, azurite_blob, free_port, upload_tree  # noqa: E402

COMMITS = (20, 50, 100, 150, 200)


def _control(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return json.loads(r.read())


def _delta_lake(root: Path) -> None:
    import numpy as np
    import pyarrow as pa
    from deltalake import write_deltalake

    rng = np.random.default_rng(7)
    for t, commits in enumerate(COMMITS):
        path = root / "delta" / f"t{t}"
        for c in range(commits):
            n = 200
            write_deltalake(str(path), pa.table({"id": np.arange(c * n, (c + 1) * n), "x": rng.random(n),
                                                 "label": [f"l{c}-{i}" for i in range(n)]}),
                            mode="append")


def _big_csv(path: Path, mb: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(1)
    n = 200_000
    names = np.array(["alpha", "beta, gamma", 'say "hi"', "line\nbreak", "plain"], dtype=object)
    t = pa.table({"id": np.arange(n), "x": rng.random(n), "name": names[rng.integers(0, 5, n)],
                  "s": pa.array([f"item-{i}" for i in range(n)])})
    with open(path, "wb") as fh, pacsv.CSVWriter(fh, t.schema, write_options=pacsv.WriteOptions(
            quoting_style="needed")) as w:
        while fh.tell() < mb * 1024 * 1024:
            w.write_table(t)


def measure(label: str, control: int, fn) -> None:
    _control(control, "/reset")
    t0 = time.perf_counter()
    detail = fn()
    dt = time.perf_counter() - t0
    st = _control(control, "/stats")
    print(f"{label:<46} {dt:7.2f} s  {st['requests']:6d} requests  {st['connections']:4d} connections  "
          f"{st['bytes_s2c'] / 1e6:8.1f} MB  {detail}", flush=True)
    print(f"{'':<46} kinds {st['kinds']} ranges {st['range_sizes']}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=float, default=10.0, help="one way: 10 = 20 ms round trip")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--proxy", default="/work/shared/tools/latency-proxy/latency_proxy.py")
    ap.add_argument("--what", default="delta,csv")
    ap.add_argument("--csv-mb", type=int, default=200)
    a = ap.parse_args()
    what = set(a.what.split(","))

    from executor.metadata.extractor import MetadataExtractor
    from executor.settings import Settings

    gen = azurite_blob()
    azurite = next(gen)
    port, control = free_port(), free_port()
    upstream = azurite.endpoint.split("//", 1)[1].split("/", 1)[0]
    proxy = subprocess.Popen([sys.executable, a.proxy, "--listen", f"127.0.0.1:{port}", "--upstream", upstream,
                              "--control", f"127.0.0.1:{control}", "--delay-ms", str(a.delay_ms)],
                             stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                _control(control, "/stats")
                break
            except OSError:
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
        conn = (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={endpoint};")
        settings = Settings(azure_connection_string=conn, io_threads=a.threads)
        print(f"proxy {a.delay_ms * 2:.0f} ms round trip, {a.threads} threads", flush=True)
        with tempfile.TemporaryDirectory(prefix="nuvyn-measure-") as tmp:
            root = Path(tmp) / "lake"
            container = "measure"
            if "delta" in what:
                _delta_lake(root)
            if "csv" in what:
                (root / "big").mkdir(parents=True)
                _big_csv(root / "big" / "big.csv", a.csv_mb)
            upload_tree(azurite, container, root)  # direct, not through the proxy
            extractor = MetadataExtractor(spark=None, settings=settings)

            if "delta" in what:
                def ours_delta():
                    res = extractor.extract_metadata(f"{endpoint}/{container}/delta")
                    return {t.table_name: (t.status, t.row_count, t.file_count) for t in res.tables}

                measure("delta: executor, 5 tables", control, ours_delta)
                import pyarrow as pa
                from deltalake import DeltaTable

                opts = {"account_name": ACCOUNT, "account_key": ACCOUNT_KEY, "azure_storage_endpoint": endpoint,
                        "allow_http": "true"}

                def delta_rs():
                    out = {}
                    for t in range(len(COMMITS)):
                        dt = DeltaTable(f"az://{container}/delta/t{t}", storage_options=opts)
                        adds = pa.table(dt.get_add_actions(flatten=True))
                        out[f"t{t}"] = (dt.version(), sum(adds.column("num_records").to_pylist()), adds.num_rows)
                    return out

                measure("delta: delta-rs, 5 tables (load + add actions)", control, delta_rs)
                from azure.storage.blob import ContainerClient

                cc = ContainerClient.from_connection_string(conn, container)
                names = [b.name for b in cc.list_blobs(name_starts_with="delta/t4/")]

                def sdk_gets():
                    with ThreadPoolExecutor(a.threads) as pool:
                        return sum(pool.map(lambda n: len(cc.download_blob(n).readall()), names))

                measure(f"delta: azure-storage-blob GET of t4's {len(names)} blobs", control, sdk_gets)

            if "csv" in what:
                from executor.metadata.csv_scan import CsvDialect
                from executor.metadata.grouping import PlannedFile
                from executor.metadata.readers.csv import _count
                from executor.sources.azure import AzureBlobFileStore
                from executor.sources.location import source_location

                size = (root / "big" / "big.csv").stat().st_size

                def ours_csv():
                    res = extractor.extract_metadata(f"{endpoint}/{container}/big")
                    return {t.table_name: (t.status, t.row_count) for t in res.tables}

                measure(f"csv: executor, one {size / 2**20:.0f} MiB CSV", control, ours_csv)

                location = source_location(f"{endpoint}/{container}/big/big.csv", "auto", settings)
                store = AzureBlobFileStore.from_location(location, settings)
                info = next(iter(store.list_files(lambda _n: None)))

                def count_only():
                    with ThreadPoolExecutor(a.threads) as pool:
                        c = _count(store, PlannedFile(info), CsvDialect(header=True), pool)
                    return (c.data_rows, c.exact_path)

                measure("csv: count step alone (csv._count)", control, count_only)
                from azure.storage.blob import BlobServiceClient

                blob = BlobServiceClient.from_connection_string(conn).get_blob_client(container, "big/big.csv")

                def download(threads: int):
                    return lambda: len(blob.download_blob(max_concurrency=threads).readall())

                measure(f"csv: download, {a.threads} parallel ranges", control, download(a.threads))
                measure("csv: download, one stream", control, download(1))
    finally:
        proxy.terminate()
        proxy.wait(10)
        gen.close()


if __name__ == "__main__":
    main()
