"""A generated lake holding every supported format (no Spark needed except for the Delta table,
which `write_delta_table` writes with a given session)."""

from __future__ import annotations

import bz2
import csv
import datetime as dt
import decimal
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq

JSON_LINES = [
    {"id": 1, "name": "ann", "tags": ["a", "b"], "address": {"city": "Oslo", "zip": 1234}, "score": 1},
    {"id": 2, "name": "bob", "tags": [], "address": {"city": "Rome"}, "score": 2.5, "none": None},
    {"id": 3, "name": None, "tags": ["c"], "address": None, "score": 3, "flag": True},
    {"id": 4, "name": "dan", "tags": ["a"], "address": {"city": "Oslo", "zip": 99}, "score": 4, "empty": {}},
]
MALFORMED_LINE = '{"id": 5, "name": "broken"'


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buf.getvalue()


AVRO_SCHEMA = {
    "type": "record", "name": "User", "namespace": "test",
    "fields": [
        {"name": "user_id", "type": "long"},
        {"name": "email", "type": ["null", "string"], "default": None},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "signed_up", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "balance", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "scores", "type": {"type": "array", "items": "int"}},
        {"name": "home", "type": ["null", {"type": "record", "name": "Home",
                                             "fields": [{"name": "city", "type": "string"}]}]},
    ],
}


def avro_records(n: int) -> list[dict]:
    base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    return [{"user_id": i, "email": None if i % 3 == 0 else f"u{i}@x.io", "kind": "A" if i % 2 else "B",
             "signed_up": base + dt.timedelta(days=i), "balance": decimal.Decimal(i) / 4,
             "scores": list(range(i % 4)), "home": None if i % 5 == 0 else {"city": f"c{i % 7}"}}
            for i in range(n)]


def build_lake(root: Path) -> dict[str, dict]:
    """Write the lake; return what each table should be: {name: {"format", "rows", "columns"}}."""
    import fastavro

    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, dict] = {}

    # JSON Lines with nested values, a blank line and a malformed record
    (root / "events").mkdir()
    lines = [json.dumps(r) for r in JSON_LINES[:2]] + [""] + [json.dumps(r) for r in JSON_LINES[2:]] + [MALFORMED_LINE]
    (root / "events" / "part-0.jsonl").write_text("\n".join(lines[:3]) + "\n")
    (root / "events" / "part-1.jsonl").write_text("\n".join(lines[3:]) + "\n")
    expected["events"] = {"format": "json", "rows": 5, "malformed": 1}

    # multi-line JSON documents: an array of objects, and one object
    (root / "docs").mkdir()
    (root / "docs" / "people.json").write_text(json.dumps([{"p": i, "n": {"x": [i, i + 0.5]}} for i in range(7)],
                                                          indent=2))
    expected["docs"] = {"format": "json", "rows": 7, "malformed": 0}
    (root / "config.json").write_text(json.dumps({"version": 3, "owner": {"team": "data"}}, indent=2))
    expected["config"] = {"format": "json", "rows": 1, "malformed": 0}

    # compressed text formats
    (root / "compressed").mkdir()
    logs = [["ts", "level", "msg"]] + [[f"2024-01-0{1 + i % 9}", "INFO" if i % 2 else "WARN", f"m,{i}"]
                                       for i in range(2500)]
    with gzip.open(root / "compressed" / "logs.csv.gz", "wt", newline="") as fh:
        fh.write(csv_text(logs))
    expected["compressed/logs"] = {"format": "csv", "rows": 2500, "columns": ["ts", "level", "msg"]}
    metrics = [["k", "v"]] + [[f"k{i}", str(i * 1.5)] for i in range(300)]
    with bz2.open(root / "compressed" / "metrics.tsv.bz2", "wt", newline="") as fh:
        fh.write(csv_text(metrics, "\t"))
    expected["compressed/metrics"] = {"format": "tsv", "rows": 300, "columns": ["k", "v"]}
    with gzip.open(root / "compressed" / "clicks.json.gz", "wt") as fh:
        for i in range(1000):
            fh.write(json.dumps({"click": i, "page": f"/p{i % 13}"}) + "\n")
    expected["compressed/clicks"] = {"format": "json", "rows": 1000, "malformed": 0}

    # Avro: several blocks, deflate
    (root / "users").mkdir()
    for part, (lo, hi) in enumerate([(0, 120), (120, 200)]):
        with open(root / "users" / f"part-{part}.avro", "wb") as fh:
            fastavro.writer(fh, fastavro.parse_schema(AVRO_SCHEMA), avro_records(hi)[lo:hi], codec="deflate",
                            sync_interval=512)
    expected["users"] = {"format": "avro", "rows": 200}

    # ORC
    items = pa.table({"item": pa.array(range(500), pa.int64()), "label": [f"l{i % 11}" for i in range(500)],
                      "price": pa.array([None if i % 10 == 0 else i / 3 for i in range(500)], pa.float64()),
                      "when": pa.array([dt.datetime(2024, 3, 1) + dt.timedelta(hours=i) for i in range(500)],
                                       pa.timestamp("us")),
                      "attrs": pa.array([{"a": i, "b": str(i)} for i in range(500)])})
    (root / "items").mkdir()
    orc.write_table(items, root / "items" / "items.orc", stripe_size=4096)
    expected["items"] = {"format": "orc", "rows": 500}

    # Parquet (profile from footers) and a file without extension sniffed as Parquet / CSV
    sales = pa.table({"sku": [f"s{i % 17}" for i in range(3000)],
                      "qty": pa.array([None if i % 7 == 0 else i % 50 for i in range(3000)], pa.int32())})
    pq.write_table(sales, root / "sales.parquet", row_group_size=1000)
    expected["sales"] = {"format": "parquet", "rows": 3000, "columns": ["sku", "qty"]}
    (root / "blobs").mkdir()
    pq.write_table(pa.table({"z": [1, 2, 3]}), root / "blobs" / "payload")
    expected["blobs"] = {"format": "parquet", "rows": 3, "columns": ["z"]}
    (root / "plain").mkdir()
    (root / "plain" / "README").write_text(csv_text([["a", "b"], ["1", "x"], ["2", "y"]]))
    expected["plain"] = {"format": "csv", "rows": 2, "columns": ["a", "b"]}

    # not data: skipped, never failed
    (root / "notes.txt").write_text("just some notes")
    (root / "blob.bin").write_bytes(bytes(range(256)))
    (root / "mystery").write_bytes(b"\x00\x01\x02binary")
    return expected


def write_delta_table(spark, path: Path) -> int:
    """A partitioned Delta table with two appends, a delete and a checkpoint; returns its rows."""
    from pyspark.sql import functions as F

    df = spark.range(0, 40).select(F.col("id"), (F.col("id") % 3).cast("string").alias("region"),
                                   (F.col("id") * 1.5).alias("amount"))
    (df.write.format("delta").partitionBy("region").option("delta.checkpointInterval", "2").save(str(path)))
    spark.range(40, 60).select(F.col("id"), (F.col("id") % 3).cast("string").alias("region"),
                               (F.col("id") * 1.5).alias("amount")).write.format("delta").mode("append").save(str(path))
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id < 5")
    return 55
