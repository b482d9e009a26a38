"""Fixtures for the real-world file classes of issue 12, written byte by byte or with pyarrow.

Used by tests/unit/test_realworld_files.py (no JVM) and tests/integration/test_realworld_vs_spark.py
(the same files read by real Spark). Parquet shapes pyarrow cannot write (a MAP whose key is not
REQUIRED, a MAP without a value field, a footer whose num_rows disagrees with its row group) are made
by writing a file pyarrow can write with the same definition/repetition levels, then rewriting its
Thrift footer (executor.metadata.readers.parquet_footer's codec): the data pages stay exactly valid.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from executor.metadata.readers import parquet_footer as pf

# --------------------------------------------------------------------------- CSV


def write_csv_classes(root: Path) -> dict[str, dict[str, Any]]:
    """One folder per class; returns {table name: expected facts} (names as the extractor gives them)."""
    root.mkdir(parents=True, exist_ok=True)
    expect: dict[str, dict[str, Any]] = {}

    def put(name: str, data: bytes, **facts: Any) -> None:
        (root / f"{name}.csv").write_bytes(data)
        expect[name] = facts

    # pandas DataFrame.to_csv(): an unnamed index column
    put("pandas_index", b",name,amount\n0,alice,1.5\n1,bob,2.25\n2,carol,3\n", header=True, rows=3)
    put("year_header", b"district,2022\nnorth,15\nsouth,17\neast,21\n", header=True, rows=3)
    put("date_header", b"team,2017-2018 season,2018-2019 season\nlions,12,14\ntigers,9,11\n", header=True, rows=2)
    # old Mac export: CR-only endings, one LF at the very end
    put("cr_only", b"id,name\r" + b"".join(b"%d,n%d\r" % (i, i) for i in range(920)) + b"\n", header=True,
        rows=920)
    put("mixed_endings", b"id,note\r\n1,a\n2,b\r3,\"x\ry\"\r\n4,\"p\nq\"\n5,e\r\n", header=True, rows=5)
    put("no_header", b"1,alice,30.5,2020-01-01\n2,bob,12.25,2021-03-04\n3,carol,7,2022-05-06\n",
        header=False, rows=3)
    widths = root / "widths"  # headerless files of 3, 7 and 101 columns in one folder
    widths.mkdir(exist_ok=True)
    for w in (3, 7, 101):
        line = ",".join(str(i) for i in range(1, w + 1)).encode()
        (widths / f"w{w}.csv").write_bytes(line + b"\n" + line + b"\n")
        expect[f"widths/w{w}"] = {"header": False, "rows": 2, "columns": w}
    return expect


# --------------------------------------------------------------------------- Parquet footers


def rewrite_footer(src: Path, dst: Path, mutate: Callable[[list], None]) -> None:
    data = src.read_bytes()
    n = struct.unpack("<i", data[-8:-4])[0]
    meta = pf.decode_struct(data[-8 - n:-8])
    mutate(meta)
    footer = pf.encode_struct(meta)
    dst.write_bytes(data[:-8 - n] + footer + struct.pack("<i", len(footer)) + b"PAR1")


def _entries_as_map(meta: list, column: str) -> None:
    """list<struct not null<key[, value]>> -> a MAP group of the same fields (the definition and
    repetition levels are the same: the struct is REQUIRED, so it adds no level)."""
    elements = pf.get(meta, 2)[1]
    out = []
    i = 0
    while i < len(elements):
        e = elements[i]
        name = pf.get(e, 4)
        if name == column.encode():
            pf.put(e, 6, pf.T_I32, pf.CT_MAP)
            pf.put(e, 10, pf.T_STRUCT, [[pf.LT_MAP, pf.T_STRUCT, []]])
            rep, element = elements[i + 1], elements[i + 2]
            pf.put(rep, 4, pf.T_BINARY, b"key_value")
            pf.put(rep, 5, pf.T_I32, pf.get(element, 5))
            out += [e, rep] + elements[i + 3:i + 3 + pf.get(element, 5)]
            i += 3 + pf.get(element, 5)
            continue
        out.append(e)
        i += 1
    pf.put(meta, 2, pf.T_LIST, [pf.T_STRUCT, out])
    for rg in pf.get(meta, 4)[1]:
        chunks = pf.get(rg, 1)
        kept = []
        for chunk in chunks[1]:
            cmeta = pf.get(chunk, 3)
            path = [p.decode() for p in pf.get(cmeta, 3)[1]]
            if path[0] == column:
                pf.put(cmeta, 3, pf.T_LIST, [pf.T_BINARY, [column.encode(), b"key_value", path[-1].encode()]])
            kept.append(chunk)
        pf.put(rg, 1, pf.T_LIST, [chunks[0], kept])
    meta[:] = [f for f in meta if f[0] != 5]  # drop ARROW:schema (it describes the list it was written as)


def write_map_file(path: Path, *, optional_key: bool, with_value: bool = True) -> None:
    """A MAP column `m` (key string, NOT required when optional_key) and an `id` column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    key = pa.field("key", pa.string(), nullable=optional_key)
    fields = [key, pa.field("value", pa.int32())] if with_value else [key]
    entry = pa.field("element", pa.struct(fields), nullable=False)
    rows = [[{"key": "a", "value": 1}, {"key": "b", "value": 2}], None, [{"key": "c", "value": 3}], [], None, [
        {"key": "d", "value": 4}]]
    if not with_value:
        rows = [None if r is None else [{"key": e["key"]} for e in r] for r in rows]
    table = pa.table({"id": pa.array(range(1, 7), pa.int64()), "m": pa.array(rows, pa.list_(entry))})
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="none")
    rewrite_footer(tmp, path, lambda meta: _entries_as_map(meta, "m"))
    tmp.unlink()


def write_rows_disagree(path: Path) -> None:
    """A footer whose num_rows is 0 while its one row group holds 6 rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.table({"id": list(range(6)), "v": [f"v{i}" for i in range(6)]}), tmp)
    rewrite_footer(tmp, path, lambda meta: pf.put(meta, 3, pf.T_I64, 0))
    tmp.unlink()


def write_int96(path: Path) -> None:
    """INT96 timestamps with nanosecond fractions, and one far outside the nanosecond range."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ns = pa.array([1577836800123456789, 1577836801000000001, None], pa.timestamp("ns"))
    far = pa.array([dt.datetime(3000, 1, 1, 12), dt.datetime(1500, 6, 1), None], pa.timestamp("us"))
    pq.write_table(pa.table({"id": [1, 2, 3], "ts_ns": ns, "ts_far": far}), path,
                   use_deprecated_int96_timestamps=True)


def write_far_dates(path: Path) -> None:
    """Dates past year 9999 (Python's date cannot hold them; Spark reads them), top level and nested."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    far = 3_000_000  # days since 1970-01-01: year 10183
    d = pa.array([0, far, None], pa.date32())
    nested = pa.array([[0, far], [], None], pa.list_(pa.date32()))
    pq.write_table(pa.table({"id": [1, 2, 3], "d": d, "nd": nested}), path)


def write_parquet_classes(root: Path) -> dict[str, dict[str, Any]]:
    """{table name: expected facts}: status, rows, columns (name -> Spark type), columns without values."""
    root.mkdir(parents=True, exist_ok=True)
    write_int96(root / "int96_ns.parquet")
    write_far_dates(root / "far_dates.parquet")
    write_map_file(root / "map_optional_key.parquet", optional_key=True)
    write_map_file(root / "map_without_value.parquet", optional_key=False, with_value=False)
    write_rows_disagree(root / "rows_disagree.parquet")
    return {
        "int96_ns": {"status": "ok", "rows": 3, "types": {"id": "bigint", "ts_ns": "timestamp",
                                                          "ts_far": "timestamp"}, "no_values": set()},
        "far_dates": {"status": "ok", "rows": 3, "types": {"id": "bigint", "d": "date", "nd": "array<date>"},
                      "no_values": {"d", "nd"}},
        "map_optional_key": {"status": "ok", "rows": 6, "types": {"id": "bigint", "m": "map<string,int>"},
                             "no_values": {"m"}},
        "map_without_value": {"status": "failed", "error": "Invalid map type"},
        "rows_disagree": {"status": "ok", "rows": 6, "types": {"id": "bigint", "v": "string"}, "no_values": set()},
    }
