"""Parquet schema and row counts come from footers: a file whose data pages are corrupt but whose
footer is intact still gets its exact schema and count, with no Spark job."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from executor.metadata.extractor import MetadataExtractor
from executor.spark_jobs import job_group


def corrupt_data_pages(path):
    meta = pq.ParquetFile(path).metadata
    data = bytearray(path.read_bytes())
    footer_len = int.from_bytes(data[-8:-4], "little")
    footer_start = len(data) - 8 - footer_len
    for i in range(4, footer_start):  # everything between the magic and the footer
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    return meta.num_rows


def test_corrupt_data_pages_do_not_change_footer_facts(spark, settings, tmp_path):
    lake = tmp_path / "lake" / "events"
    lake.mkdir(parents=True)
    table = pa.table({"id": pa.array(range(5000), pa.int64()), "name": [f"n{i}" for i in range(5000)],
                      "score": pa.array([i / 3 for i in range(5000)], pa.float64())})
    for i in range(3):
        pq.write_table(table, lake / f"part-{i}.parquet")
    rows = corrupt_data_pages(lake / "part-0.parquet")
    try:
        pq.read_table(lake / "part-0.parquet")
        raise AssertionError("the data pages should be unreadable")
    except Exception:  # noqa: BLE001 - any reader error proves the pages are broken
        pass
    extractor = MetadataExtractor(spark, settings)
    with job_group(spark, "footer-test", "footer facts") as jobs:
        result = extractor.extract_metadata(str(tmp_path / "lake"))
    (t,) = result.tables
    assert t.status == "ok" and t.row_count == 3 * rows == 15000
    assert [(c.column_name, c.data_type) for c in t.columns] == [("id", "bigint"), ("name", "string"),
                                                                  ("score", "double")]
    assert jobs.count == 0
