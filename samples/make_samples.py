"""Regenerate the bundled sample lake (samples/lake). Deterministic; run from the repo root.

The lake has: a CSV with quoted commas, quotes and newlines; a semicolon CSV with a UTF-8 BOM; a
TSV; a Latin-1 CSV; a Parquet file; a Hive-partitioned Parquet table (year=/month=); a folder
of same-schema CSV part files; and marker/hidden files that must be skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lake")


def write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def main() -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
    customers = (
        "customer_id,name,email,signup_date,is_active,notes\r\n"
        "1,Alice Smith,alice@example.com,2024-01-15,true,\"Prefers email, not phone\"\r\n"
        "2,\"Bob \"\"The Builder\"\" Jones\",bob@example.com,2024-02-01,false,\r\n"
        "3,Chloé Martin,chloe@example.com,2024-02-20,true,\"Line one\r\nline two of the note\"\r\n"
        "4,Dmitri Ivanov,dmitri@example.com,2024-03-05,true,VIP\r\n"
        "5,Eve Adams,eve@example.com,2024-03-18,false,\"multi\nline\nnote\"\r\n"
    )
    write(f"{ROOT}/customers.csv", customers.encode("utf-8"))
    orders = "order_id\tcustomer_id\tamount\tcurrency\tordered_at\n" + "".join(
        f"{1000 + i}\t{1 + i % 5}\t{(i * 37) % 500 + 0.99:.2f}\tEUR\t2024-0{1 + i % 9}-1{i % 10} 10:{i % 60:02d}:00\n"
        for i in range(40)
    )
    write(f"{ROOT}/orders.tsv", orders.encode("utf-8"))
    stores = "store_id;city;opened;sq_meters\n1;Paris;2019-05-01;120.5\n2;Lyon;2020-09-15;98\n3;Nantes;2021-01-10;143.25\n"
    write(f"{ROOT}/stores_semicolon.csv", b"\xef\xbb\xbf" + stores.encode("utf-8"))
    legacy = "code,label\nA1,Café crème\nB2,Crème brûlée\nC3,Déjà vu\n"
    write(f"{ROOT}/legacy/labels_latin1.csv", legacy.encode("iso-8859-1"))

    products = pa.table({
        "product_id": pa.array([1, 2, 3, 4], pa.int64()),
        "name": ["Widget", "Gadget", "Doohickey", "Thingamajig"],
        "price": [9.99, 24.5, 3.75, 120.0],
        "in_stock": [True, False, True, True],
        "tags": [["a", "b"], [], ["c"], None],
    })
    pq.write_table(products, f"{ROOT}/products.parquet")

    for year in (2023, 2024):
        for month in (1, 2, 3):
            n = 10 + month
            t = pa.table({
                "sale_id": pa.array([year * 1000 + month * 100 + i for i in range(n)], pa.int32()),
                "product_id": pa.array([1 + i % 4 for i in range(n)], pa.int64()),
                "quantity": pa.array([1 + i % 3 for i in range(n)], pa.int32()),
                "sold_at": pa.array([dt.datetime(year, month, 1 + i, 12, 0) for i in range(n)], pa.timestamp("us", tz="UTC")),
            })
            os.makedirs(f"{ROOT}/sales/year={year}/month={month}", exist_ok=True)
            pq.write_table(t, f"{ROOT}/sales/year={year}/month={month}/part-00000.parquet")
    write(f"{ROOT}/sales/_SUCCESS", b"")

    for part in range(3):
        rows = "".join(f"{part * 100 + i},event_{i % 4},{i * 1.5}\n" for i in range(25))
        write(f"{ROOT}/events/part-{part:05d}.csv", ("event_id,kind,value\n" + rows).encode())
    write(f"{ROOT}/events/.hidden.csv", b"x,y\n1,2\n")
    write(f"{ROOT}/README.txt", b"Bundled sample lake for nuvyn-executor.\n")


if __name__ == "__main__":
    main()
