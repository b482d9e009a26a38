"""Requests per file against Azurite (issue 24): the extractor reads each small Parquet, ORC, Avro,
CSV and JSON file with one request (a larger Parquet footer with two), never asks for a blob's
properties, counts a big CSV from parallel ranges, keeps its connections near its threads, and
the facts (rows, types, samples, profiles) are exactly those of the same files on local disk.

The requests are counted by bench/proxy.py (a TCP proxy in front of Azurite, no delay here).
No Spark: the fast inference path."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.azurite import ACCOUNT, ACCOUNT_KEY, upload_tree

pytestmark = [pytest.mark.integration, pytest.mark.azure]

REPO = Path(__file__).resolve().parents[2]
THREADS = 4


def _lake(root: Path) -> dict[str, int]:
    """Small files of every footer/header format, one Parquet file with a 200 KB footer, a 20 MB CSV."""
    import fastavro
    import pyarrow as pa
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    rows: dict[str, int] = {}
    for t in range(2):
        (root / "small" / f"p{t}").mkdir(parents=True)
        for f in range(4):
            n = 30 + f
            pq.write_table(pa.table({"id": list(range(n)), "name": [f"n{f}-{i}" for i in range(n)]}),
                           root / "small" / f"p{t}" / f"part-{f}.parquet")
        rows[f"p{t}"] = sum(30 + f for f in range(4))
    (root / "small" / "o").mkdir()
    for f in range(2):
        orc.write_table(pa.table({"k": list(range(20)), "v": [float(i) for i in range(20)]}),
                        str(root / "small" / "o" / f"part-{f}.orc"))
    rows["o"] = 40
    (root / "small" / "a").mkdir()
    schema = {"type": "record", "name": "r", "fields": [{"name": "x", "type": "long"}, {"name": "s", "type": "string"}]}
    for f in range(2):
        with open(root / "small" / "a" / f"part-{f}.avro", "wb") as fh:
            fastavro.writer(fh, schema, [{"x": i, "s": f"s{i}"} for i in range(25)])
    rows["a"] = 50
    (root / "small" / "c").mkdir()
    for f in range(3):
        (root / "small" / "c" / f"part-{f}.csv").write_text(
            "id,city\n" + "".join(f'{i},"town {i}, north"\n' for i in range(15)))
    rows["c"] = 45
    (root / "small" / "j").mkdir()
    (root / "small" / "j" / "events.json").write_text("".join(json.dumps({"a": i, "b": str(i)}) + "\n"
                                                              for i in range(12)))
    rows["j"] = 12
    (root / "footer" / "wide").mkdir(parents=True)
    table = pa.table({"id": list(range(500)), "blob": [b"\x01" * 2000] * 500}).replace_schema_metadata(
        {"pad": "x" * 200_000})
    pq.write_table(table, root / "footer" / "wide" / "f.parquet", compression="none")
    rows["wide"] = 500
    (root / "big").mkdir()
    with open(root / "big" / "big.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name", "note"])
        i = 0
        while fh.tell() < 20 * 1024 * 1024:
            w.writerows([i + k, f"name {i + k}", "a, \"quoted\" note" if k % 3 == 0 else "plain"] for k in range(5000))
            i += 5000
    with open(root / "big" / "big.csv", newline="") as fh:
        rows["big"] = sum(1 for _ in csv.reader(fh)) - 1  # Python's csv module: the independent count
    return rows


@pytest.fixture(scope="module")
def lake(azurite, tmp_path_factory):
    root = tmp_path_factory.mktemp("reqlake") / "lake"
    rows = _lake(root)
    container = "req" + uuid.uuid4().hex[:8]
    upload_tree(azurite, container, root)
    return container, root, rows


@pytest.fixture(scope="module")
def proxy(azurite):
    upstream = azurite.endpoint.split("://", 1)[1].split("/", 1)[0]
    proc = subprocess.Popen([sys.executable, "-m", "bench.proxy", "--upstream", upstream], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        words = proc.stdout.readline().split()  # "listening <port> control <port>"
        assert len(words) == 4, "the proxy did not start"
        yield int(words[1]), int(words[3])
    finally:
        proc.terminate()
        proc.wait(30)


def _control(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return json.loads(r.read())


def _extract(proxy, container: str, prefix: str, **settings):
    from executor.metadata.extractor import MetadataExtractor
    from executor.settings import Settings

    port, control = proxy
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    s = Settings(azure_connection_string=f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};"
                                         f"AccountKey={ACCOUNT_KEY};BlobEndpoint={endpoint};",
                 io_threads=THREADS, **settings)
    _control(control, "/reset")
    result = MetadataExtractor(None, s).extract_metadata(f"{endpoint}/{container}/{prefix}")
    return result, _control(control, "/stats")


def _facts(result) -> dict:
    return {t.table_name: (t.status, t.error_message, t.row_count, t.file_count,
                           [(c.column_name, c.data_type, c.sample_values, c.null_count, c.distinct_count,
                             c.min_value, c.max_value, c.profile_scope) for c in t.columns])
            for t in result.tables}


def test_small_files_cost_one_request_each_and_the_facts_are_those_of_local_disk(lake, proxy):
    from executor.metadata.extractor import MetadataExtractor
    from executor.settings import Settings

    container, root, rows = lake
    result, stats = _extract(proxy, container, "small")
    local = MetadataExtractor(None, Settings(io_threads=THREADS)).extract_metadata(str(root / "small"))
    assert _facts(result) == _facts(local)
    assert {t.table_name: t.row_count for t in result.tables} == {k: v for k, v in rows.items()
                                                                 if k in ("p0", "p1", "o", "a", "c", "j")}
    files = sum(1 for p in (root / "small").rglob("*") if p.is_file())
    kinds = stats["kinds"]
    assert kinds.get("HEAD", 0) == 0 and kinds.get("LIST") == 1
    assert kinds.get("GET_RANGE", 0) == files, kinds  # one per file: facts and samples from the same bytes
    assert stats["connections"] <= THREADS + 4


def test_a_footer_larger_than_the_tail_costs_two_requests(lake, proxy):
    from executor.metadata.plan import plan_source
    from executor.settings import Settings

    container, _root, rows = lake
    port, control = proxy
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    s = Settings(azure_connection_string=f"AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={endpoint};",
                 io_threads=THREADS)
    _control(control, "/reset")
    plan = plan_source(f"{endpoint}/{container}/footer", settings=s)  # the facts step (the dry run)
    stats = _control(control, "/stats")
    assert [f.rows for f in plan.facts.values()] == [rows["wide"]]
    # the 64 KiB tail, then the rest of the 200 KB footer
    assert stats["kinds"] == {"LIST": 1, "GET_RANGE": 2}, stats
    result, _ = _extract(proxy, container, "footer")
    assert [(t.table_name, t.row_count, t.status) for t in result.tables] == [("wide", rows["wide"], "ok")]


def test_a_big_csv_is_counted_exactly_from_parallel_ranges(lake, proxy):
    container, root, rows = lake
    result, stats = _extract(proxy, container, "big")
    (table,) = result.tables
    assert table.status == "ok" and table.row_count == rows["big"]
    size = (root / "big" / "big.csv").stat().st_size
    assert stats["bytes_s2c"] < 2 * size  # the count reads it once; the facts and the sample only its start
    assert stats["range_sizes"].get(">4MiB", 0) >= size // (8 * 1024 * 1024)  # 8 MB ranges
    assert stats["connections"] <= THREADS + 4, stats  # (parallelism: tests/unit/test_ranges.py)
