"""Files that kill a process reading them in native code (issue 21), for the sandbox's tests and the
integration step.

`write_contradicting_column_type`: a small Parquet file whose column chunk metadata (ColumnMetaData.type)
contradicts the schema's physical type for that column. pyarrow 26 opens it and its batch reader
refuses it cleanly, but asking a column chunk for its statistics throws a C++ ParquetException
where nothing catches it: std::terminate, SIGABRT, exit 134 ("ColumnMetaData type does not match
ColumnDescriptor physical type: BYTE_ARRAY vs. INT64"). The extractor asks for statistics
(parquet.footer_stats) after the sample read, so this file used to end the whole run.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from executor.metadata.readers import parquet_footer as pf

# Runs in a fresh interpreter to show what the file does to a process that reads it unprotected.
READ_STATISTICS = """
import sys
import pyarrow.parquet as pq
meta = pq.ParquetFile(sys.argv[1]).metadata
for rg in range(meta.num_row_groups):
    for j in range(meta.row_group(rg).num_columns):
        meta.row_group(rg).column(j).statistics
print("read")
"""

T_BYTE_ARRAY = 6


def _rewrite_footer(data: bytes, mutate: Callable[[list], None]) -> bytes:
    n = struct.unpack("<i", data[-8:-4])[0]
    meta = pf.decode_struct(data[-8 - n:-8])
    mutate(meta)
    footer = pf.encode_struct(meta)
    return data[:-8 - n] + footer + struct.pack("<i", len(footer)) + b"PAR1"


def write_contradicting_column_type(path: Path, column: int = 0) -> Path:
    """`id` (INT64 in the schema) whose column chunk says BYTE_ARRAY, next to a valid `name` column."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]}), buf,
                   compression="none", store_schema=False)

    def mutate(meta: list) -> None:
        for rg in pf.get(meta, 4)[1]:
            chunk = pf.get(rg, 1)[1][column]
            pf.put(pf.get(chunk, 3), 1, pf.T_I32, T_BYTE_ARRAY)

    path.write_bytes(_rewrite_footer(buf.getvalue(), mutate))
    return path
