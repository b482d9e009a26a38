"""The four metadata tables written with delta-rs (no JVM), for tests of the reads: every column of
executor.storage.schema, the types Spark writes (BIGINT int64, INT int32, TIMESTAMP UTC micros)."""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta
from typing import Any

from executor.storage import schema as S


def _id(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode())


T0 = datetime(2026, 1, 2, 3, 4, 5, 123456)  # naive UTC, as the reads return it


def arrow_schema(table: str, columns: list[str] | None = None):
    import pyarrow as pa

    kinds = {"BIGINT": pa.int64(), "STRING": pa.string(), "INT": pa.int32(),
             "TIMESTAMP": pa.timestamp("us", tz="UTC"), "BOOLEAN": pa.bool_()}
    return pa.schema([pa.field(c.name, kinds[c.sql_type]) for c in S.TABLE_COLUMNS[table]
                      if columns is None or c.name in columns])


def full_row(table: str, **values: Any) -> dict[str, Any]:
    unknown = set(values) - set(S.column_names(table))
    assert not unknown, unknown
    return {c: values.get(c) for c in S.column_names(table)}


def write(location: str, table: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    sch = arrow_schema(table, columns)
    data = pa.Table.from_pylist([{k: r.get(k) for k in sch.names} for r in rows], schema=sch)
    write_deltalake(f"{location}/{table}", data, mode="append")


def run_events(run_id: str, workflow_id: str, source_id: str | None, status: str, minute: int,
               seconds: int = 30, rid: int = 0) -> list[dict[str, Any]]:
    """A run's event rows: `running` at T0+minute, then (unless status is running) its final row."""
    start = T0 + timedelta(minutes=minute)
    base = dict(run_id=run_id, workflow_id=workflow_id, source_id=source_id, executor_version="2.0.0",
                run_mode="local", started_at=start, source_path=f"/lake/{source_id}")
    out = [full_row(S.EXECUTOR_RUNS, id=rid * 10 + 1, status="running", **base)]
    if status != "running":
        out.append(full_row(S.EXECUTOR_RUNS, id=rid * 10 + 2, status=status, finished_at=start + timedelta(seconds=seconds),
                            error_message="boom" if status == "failed" else None,
                            summary=json.dumps({"tables": 2, "rows": 7, "failed": [{"table": "x", "error": "e"}]}),
                            **base))
    return out


def data_rows(run_id: str, workflow_id: str, source_id: str | None, tables: dict[str, list[tuple[str, str, bool]]],
              minute: int, failed: tuple[str, ...] = ()) -> dict[str, list[dict[str, Any]]]:
    """sources/tables/columns rows of one run: tables = {name: [(column, type, nullable), ...]}."""
    base = dict(workflow_id=workflow_id, source_id=source_id, run_id=run_id)
    src = [full_row(S.SOURCES, id=_id(run_id, "s"), source_path=f"/lake/{source_id}",
                    source_type="local", extraction_timestamp=T0 + timedelta(minutes=minute), files_found=3,
                    total_size_bytes=1234, files_skipped=1, table_count=len(tables), **base)]
    trows, crows = [], []
    for name, cols in tables.items():
        bad = name in failed
        fp = None if bad else "fp-" + "|".join(f"{c}:{t}:{n}" for c, t, n in cols)
        trows.append(full_row(S.TABLES, id=_id(run_id, name), table_name=name, file_path=f"/lake/{name}",
                              file_type="csv", row_count=None if bad else 10, column_count=len(cols), size_bytes=99,
                              file_count=1, partition_columns=json.dumps(["year"] if name == "events" else []),
                              status="failed" if bad else "ok", error_message="bad file" if bad else None,
                              schema_fingerprint=fp, **base))
        for pos, (c, t, n) in enumerate(cols, 1):
            crows.append(full_row(S.COLUMNS, id=_id(run_id, name, pos), table_name=name, column_name=c,
                                  data_type=t, position=pos, is_nullable=n,
                                  sample_values=json.dumps(["a", None, "é"] if t == "string" else [1, 2]),
                                  is_partition=c == "year", null_count=0, distinct_count=2,
                                  min_value=None if t == "string" else "1", max_value=None if t == "string" else "2",
                                  profile_scope="exact", **base))
    return {S.SOURCES: src, S.TABLES: trows, S.COLUMNS: crows}


BASE_TABLES = {"customers": [("id", "int", True), ("name", "string", True)],
               "events": [("ts", "timestamp", True), ("year", "int", True)]}
CHANGED_TABLES = {"customers": [("id", "bigint", True), ("name", "string", True), ("email", "string", True)],
                  "orders": [("id", "int", False)],
                  "events": [("ts", "timestamp", True), ("year", "int", True)]}


def build_lake(location: str) -> dict[str, Any]:
    """A warehouse with several workflows, sources and runs: succeeded, partial, failed, a killed run
    (only its running row), a second completed run with schema changes, a run without source_id.
    Returns what was written, for the tests' expectations."""
    events: list[dict[str, Any]] = []
    data: dict[str, list[dict[str, Any]]] = {S.SOURCES: [], S.TABLES: [], S.COLUMNS: []}

    def run(run_id, wf, src, status, minute, tables, failed=(), rid=0):
        events.extend(run_events(run_id, wf, src, status, minute, rid=rid))
        if status != "running":
            for k, v in data_rows(run_id, wf, src, tables, minute, failed).items():
                data[k].extend(v)

    run("run_a1", "wf_1", "src_a", "succeeded", 0, BASE_TABLES, rid=1)
    run("run_a2", "wf_1", "src_a", "partial", 10, CHANGED_TABLES, failed=("events",), rid=2)
    run("run_a3", "wf_1", "src_a", "failed", 20, {}, rid=3)          # failed: never the latest completed
    run("run_a4", "wf_1", "src_a", "running", 30, {}, rid=4)         # killed: only its running row
    run("run_b1", "wf_1", "src_b", "succeeded", 5, BASE_TABLES, rid=5)
    run("run_c1", "wf_2", "src_a", "succeeded", 7, CHANGED_TABLES, rid=6)
    run("run_n1", "wf_3", None, "succeeded", 8, BASE_TABLES, rid=7)  # no source_id
    run("run_n2", "wf_3", None, "succeeded", 9, CHANGED_TABLES, rid=8)
    write(location, S.EXECUTOR_RUNS, events)
    for name in S.DATA_TABLES:
        write(location, name, data[name])
    return {"events": events, "data": data}
