"""Tasks the sandbox tests and benchmark run in worker processes (importable by module name there)."""

from __future__ import annotations

import ctypes
import hashlib
import os
import time
from typing import Any, BinaryIO


def echo(*values: Any) -> tuple[Any, ...]:
    return values


def whoami() -> int:
    return os.getpid()


def abort() -> None:
    os.abort()


def segfault() -> None:
    ctypes.string_at(0)


def hang() -> None:
    time.sleep(3600)


def spin() -> None:
    while True:
        pass


def allocate_forever(step_mb: int = 32) -> None:
    held = []
    while True:
        held.append(b"x" * (step_mb << 20))  # b"x" * n writes every byte: the pages are resident


def raise_error(kind: str, message: str) -> None:
    raise {"ValueError": ValueError, "KeyError": KeyError, "OSError": OSError}[kind](message)


def raise_unicode() -> None:
    b"\xff".decode("utf-8")


def raise_arrow_invalid(message: str) -> None:
    import pyarrow as pa

    raise pa.ArrowInvalid(message)


def exit_with(code: int) -> None:
    os._exit(code)


def return_function() -> Any:
    return os.system


def sleep_then(seconds: float, value: Any) -> Any:
    time.sleep(seconds)
    return value


def item(value: str, seconds: float = 0.0) -> tuple[str, int]:
    """A grouped task's item: aborts on "abort", raises on "error", else (value, worker pid)."""
    time.sleep(seconds)
    if value == "abort":
        os.abort()
    if value == "error":
        raise ValueError(f"no value in {value}")
    return value, os.getpid()


def items(batch: list[tuple[Any, ...]]) -> list[tuple[str, int]]:
    return [item(*args) for args in batch]


def digest(f: BinaryIO) -> tuple[int, str]:
    data = f.read()
    return len(data), hashlib.sha256(data).hexdigest()


def read_at(f: BinaryIO, offsets: list[tuple[int, int]]) -> list[bytes]:
    out = []
    for offset, length in offsets:
        f.seek(offset)
        out.append(f.read(length))
    return out


def read_until_error(f: BinaryIO) -> int:
    return len(f.read())


def parquet_table(f: BinaryIO, max_rows: int | None = None, columns: list[str] | None = None) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(f)
    if max_rows is None:
        return pf.read(columns=columns)
    batches, left = [], max_rows
    for batch in pf.iter_batches(batch_size=min(65536, max_rows), columns=columns):
        batches.append(batch.slice(0, left))
        left -= batches[-1].num_rows
        if left <= 0:
            break
    return pa.Table.from_batches(batches, schema=pf.schema_arrow if columns is None else None)


def parquet_statistics(f: BinaryIO) -> list[tuple[str, Any, Any]]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(f).metadata
    out = []
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for j in range(group.num_columns):
            col = group.column(j)
            st = col.statistics
            out.append((col.path_in_schema, st.min if st is not None and st.has_min_max else None,
                        st.max if st is not None and st.has_min_max else None))
    return out


def parquet_metadata(f: BinaryIO) -> Any:
    import pyarrow.parquet as pq

    return pq.ParquetFile(f).metadata


def orc_table(f: BinaryIO) -> Any:
    import pyarrow.orc as orc

    return orc.ORCFile(f).read()


def avro_records(f: BinaryIO) -> list[dict[str, Any]]:
    import fastavro

    return list(fastavro.reader(f))


def remote_reads(f: Any) -> int:
    """How many reads the proxy asked the parent for (read once, the whole file)."""
    f.read()
    raw = getattr(f, "raw", f)
    return int(raw.reads)


def environment_names() -> list[str]:
    return sorted(os.environ)


def executor_file() -> str:
    import executor

    return str(executor.__file__)


def big_table(rows: int) -> Any:
    import pyarrow as pa

    return pa.table({"id": pa.array(range(rows), pa.int64()), "s": pa.array([f"v{i % 1000}" for i in range(rows)]),
                     "d": pa.array([None if i % 7 == 0 else i / 3 for i in range(rows)])})


def abort_batches(f: BinaryIO, columns: list[str] | None, budget: int, notes: dict[str, str]) -> Any:
    """An arrow.FileBatches that aborts the process, as pyarrow did on issue 21's file."""
    os.abort()


def abort_on_marker_batches(f: BinaryIO, columns: list[str] | None, budget: int, notes: dict[str, str]) -> Any:
    """parquet_batches, except that a file whose bytes hold the marker aborts the process (a hostile
    file among good ones)."""
    from executor.metadata.readers.parquet import parquet_batches

    data = f.read()
    if b"HOSTILE-MARKER" in data:
        os.abort()
    f.seek(0)
    return parquet_batches(f, columns, budget, notes)


def hang_on_marker_batches(f: BinaryIO, columns: list[str] | None, budget: int, notes: dict[str, str]) -> Any:
    """parquet_batches, except that a file whose bytes hold the marker hangs its worker (a file that
    sends a decoder into an endless loop, among good ones)."""
    from executor.metadata.readers.parquet import parquet_batches

    data = f.read()
    if b"HOSTILE-MARKER" in data:
        time.sleep(3600)
    f.seek(0)
    return parquet_batches(f, columns, budget, notes)
