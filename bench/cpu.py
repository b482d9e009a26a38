"""CPU per unit of work, in process: a CSV table's profile over its window, an Arrow table's
profile, a Parquet footer's facts (what a sandbox worker does per file).

    PYTHONPATH=$PWD .venv/bin/python -m bench.cpu [--rows 100000] [--footers 300] [--repeat 15] [--json]

Data made in memory (seeded): the CSV text is bench.remote's CSV folders' columns (id, qty, amount,
name, created, updated_at, active) written by pyarrow and read back as the CSV window reads it
(csv_scan.read_sample_of, one file in memory); the Arrow table holds five columns of mostly distinct values (ids,
amounts, timestamps) and two of few (small integers, codes); the footers are those of 150-row files
of the same seven columns. Each figure is the best of --repeat runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np

CSV_TYPES = ["bigint", "int", "double", "string", "date", "timestamp", "boolean"]


def best_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return round(min(runs) * 1000, 3)


def csv_window(rows: int) -> list[Any]:
    """The window's text columns: `rows` CSV records (bench.remote._frame) as read_sample_of gives them."""
    import pyarrow.csv as pacsv

    from bench.remote import _frame
    from executor.metadata import csv_scan

    buf = io.BytesIO()
    pacsv.write_csv(_frame(np.random.default_rng(11), rows, 0), buf)
    data = buf.getvalue()
    dialect = csv_scan.sniff_dialect(data[:csv_scan.SNIFF_BYTES], csv_header="true", spark_version="3.5")
    sample = csv_scan.read_sample_of(data, dialect, rows)  # as the window reads a cached file
    assert sample.columns is not None and sample.n == rows
    return list(sample.columns)


def arrow_table(rows: int) -> Any:
    import pyarrow as pa

    rng = np.random.default_rng(3)
    return pa.table({
        "user_id": rng.integers(0, 10**9, rows), "amount": np.round(rng.random(rows) * 1e4, 2),
        "ts": pa.array(rng.integers(0, 10**15, rows)).cast(pa.timestamp("us")),
        "qty": rng.integers(0, 100, rows).astype(np.int32),
        "code": pa.array([f"c{v}" for v in rng.integers(0, 10**6, rows)]),
    })


ARROW_TYPES = [("user_id", "bigint"), ("amount", "double"), ("ts", "timestamp"), ("qty", "int"), ("code", "string")]


def footers(n: int) -> list[tuple[bytes, int]]:
    import pyarrow.parquet as pq

    from bench.remote import _frame

    out = []
    rng = np.random.default_rng(5)
    for i in range(n):
        buf = io.BytesIO()
        pq.write_table(_frame(rng, 150, i * 150), buf)
        data = buf.getvalue()
        length = struct.unpack("<I", data[-8:-4])[0]
        out.append((data[-8 - length:-8], len(data)))
    return out


def measure(rows: int, n_footers: int, repeat: int) -> dict[str, Any]:
    from executor.metadata.profile import profile_arrow, profile_column
    from executor.metadata.readers.parquet import parquet_facts

    columns = csv_window(rows)
    per_column = {name: best_ms(lambda c=c, t=t: profile_column(c, t, "sampled", text=True), repeat)
                  for name, c, t in zip(("id", "qty", "amount", "name", "created", "updated_at", "active"),
                                        columns, CSV_TYPES)}
    csv_table = best_ms(lambda: [profile_column(c, t, "sampled", text=True) for c, t in zip(columns, CSV_TYPES)],
                        repeat)
    batches = arrow_table(rows).to_batches(max_chunksize=10_000)
    arrow_ms = best_ms(lambda: profile_arrow(ARROW_TYPES, batches, "exact"), repeat)
    feet = footers(n_footers)
    footer_ms = best_ms(lambda: [parquet_facts(f, "bench", "3.5", size) for f, size in feet], max(1, repeat // 5))
    return {"rows": rows, "repeat": repeat,
            "csv_table_profile_ms": csv_table, "csv_column_profile_ms": per_column,
            "arrow_table_profile_ms": arrow_ms, "arrow_columns": [n for n, _t in ARROW_TYPES],
            "footers": n_footers, "parquet_facts_ms_per_footer": round(footer_ms / max(1, n_footers), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--footers", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = measure(args.rows, args.footers, args.repeat)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"CSV table profile ({args.rows:,} records, 7 text columns): {out['csv_table_profile_ms']} ms")
    for name, ms in out["csv_column_profile_ms"].items():
        print(f"  {name:<11} {ms} ms")
    print(f"Arrow table profile ({args.rows:,} rows, {len(ARROW_TYPES)} columns): {out['arrow_table_profile_ms']} ms")
    print(f"Parquet footer facts: {out['parquet_facts_ms_per_footer']} ms a footer ({args.footers} footers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
