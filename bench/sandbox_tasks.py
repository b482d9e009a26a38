"""Tasks bench/sandbox.py runs in sandbox workers (and in process, for the comparison)."""

from __future__ import annotations

import io
from typing import Any, BinaryIO


class Proxied(io.RawIOBase):
    """A local file without its descriptor (like the Azure blob reader): the sandbox serves its
    reads from the parent instead of letting the worker pread it."""

    def __init__(self, f: BinaryIO) -> None:
        super().__init__()
        self._f = f

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, b: Any) -> int:
        return self._f.readinto(b)


def noop(x: Any = None) -> Any:
    return x


def read_chunks(f: BinaryIO, size: int, count: int) -> int:
    """`count` reads of `size` bytes, spread over the file."""
    total = 0
    length = f.seek(0, 2)
    step = max((length - size) // max(count, 1), 1)
    for i in range(count):
        f.seek((i * step) % max(length - size, 1))
        total += len(f.read(size))
    return total


def first_rows(f: BinaryIO, max_rows: int) -> Any:
    """The first `max_rows` rows of a Parquet file as an Arrow table (what a sample read returns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(f)
    batches, left = [], max_rows
    for batch in pf.iter_batches(batch_size=min(65536, max_rows)):
        batches.append(batch.slice(0, left))
        left -= batches[-1].num_rows
        if left <= 0:
            break
    return pa.Table.from_batches(batches, schema=pf.schema_arrow)


def footer_facts(f: BinaryIO) -> tuple[int, list[tuple[str, Any, Any]]]:
    """Row count and per-column min/max from the footer (a small result, mostly fixed costs)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(f).metadata
    out = []
    for j in range(meta.num_columns):
        st = meta.row_group(0).column(j).statistics
        out.append((meta.schema.column(j).name, st.min if st is not None and st.has_min_max else None,
                    st.max if st is not None and st.has_min_max else None))
    return meta.num_rows, out
