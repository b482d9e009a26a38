"""refresh: incremental on this lane's Spark and Delta (lane A and lane B): the job reuses the record of
its workflow's last completed run, writes the same rows as a full run over a lake that changed in every
way the issue lists, and over an unchanged lake of a few hundred files reads almost nothing. Azurite:
ETags come from the listing, and a blob rewritten with the same size is read again."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from executor.main import main
from executor.storage import schema as S

pytestmark = pytest.mark.integration

TABLE_COLS = ["table_name", "file_path", "file_type", "row_count", "column_count", "size_bytes", "file_count",
              "partition_columns", "status", "error_message", "malformed_records", "schema_fingerprint",
              "csv_header", "csv_header_reason", "column_notes"]
COLUMN_COLS = ["table_name", "column_name", "data_type", "position", "is_nullable", "sample_values", "is_partition",
               "null_count", "distinct_count", "min_value", "max_value", "profile_scope"]
MANY = 240  # small CSV files of one table: with the other tables, a lake of a few hundred files


def run(context, lake: Path, workflow_id: str, run_id: str, refresh: str, capsys) -> dict:
    payload = {"workflow_id": workflow_id, "source_id": "src", "data_source_path": str(lake), "refresh": refresh}
    handlers = list(logging.root.handlers)
    try:
        code = main([f"--payload={json.dumps(payload)}", f"--run-id={run_id}", "--write-to-db"], env={},
                    context=context)
    finally:  # main() adds a handler bound to this test's captured stream
        for h in logging.root.handlers:
            if h not in handlers:
                logging.root.removeHandler(h)
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{"):])
    assert code == 0 and report["status"] == "succeeded", report
    return report


def rows(context, table: str, run_id: str, cols: list[str]) -> list[tuple]:
    df = context.spark.table(context.settings.table_name(table))
    return sorted(tuple(r) for r in df.filter(df.run_id == run_id).select(*cols).collect())


def build_lake(spark, root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def csv(path: Path, lines: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")

    for i in range(MANY):
        csv(root / "many" / f"part-{i:04d}.csv", ["id,label"] + [f"{i * 10 + j},l{j}" for j in range(10)])
    csv(root / "sales" / "a.csv", ["id,amount,city"] + [f"{i},{i * 3},c{i % 4}" for i in range(30)])
    csv(root / "sales" / "b.csv", ["id,amount,city"] + [f"{i},{i * 5},c{i % 3}" for i in range(30, 50)])
    csv(root / "wide" / "a.csv", ["k,v"] + [f"{i},{i}" for i in range(20)])
    csv(root / "old" / "x.csv", ["q"] + [str(i) for i in range(5)])
    for day in ("2024-01-01", "2024-01-02"):
        (root / "events" / f"day={day}").mkdir(parents=True)
        pq.write_table(pa.table({"n": pa.array(range(6), pa.int64()), "s": [f"s{j}" for j in range(6)]}),
                       root / "events" / f"day={day}" / "p.parquet")
    (root / "logs").mkdir()
    (root / "logs" / "l.json").write_text("".join(json.dumps({"a": i, "b": f"x{i}"}) + "\n" for i in range(12)))
    spark.range(0, 10).selectExpr("id", "cast(id * 2 as string) as v").write.format("delta").save(
        str(root / "dtable"))


def change_everything(spark, root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "sales" / "c.csv").write_text("id,amount,city\n50,1,c9\n51,2,c9\n")  # a file added
    a = root / "sales" / "a.csv"  # rewritten in place with the same size
    text = a.read_text()
    a.write_text(text.replace(",c1\n", ",c8\n"))
    assert len(a.read_text()) == len(text) and a.read_text() != text
    (root / "wide" / "b.csv").write_text("k,v\n100,0.5\n101,1.5\n")  # a schema change: v int -> double
    shutil.rmtree(root / "old")  # a folder removed
    os.remove(root / "many" / "part-0007.csv")  # a file removed
    (root / "events" / "day=2024-01-03").mkdir()  # a partition added
    pq.write_table(pa.table({"n": pa.array([7, 8], pa.int64()), "s": ["z", "y"]}),
                   root / "events" / "day=2024-01-03" / "p.parquet")
    spark.range(10, 13).selectExpr("id", "cast(id * 2 as string) as v").write.format("delta").mode("append").save(
        str(root / "dtable"))  # the Delta table commits again
    j = root / "logs" / "l.json"  # modified time changes, same bytes
    st = j.stat()
    os.utime(j, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))


def test_incremental_runs_write_what_full_runs_write_and_read_only_what_changed(spark, context, tmp_path, capsys):
    lake = tmp_path / "lake"
    build_lake(spark, lake)
    first = run(context, lake, "wf_inc", "inc_1", "incremental", capsys)["summary"]
    assert first["refresh"] == "incremental" and "refresh_note" in first  # nothing to reuse yet: all read
    assert first["files_reused"] == 0 and first["bytes_read"] > 0 and first["files"] >= MANY + 8

    # Done when: the same lake again reads at most 1% of the bytes and writes the same facts
    second = run(context, lake, "wf_inc", "inc_2", "incremental", capsys)["summary"]
    assert second["reused_from_run"] == "inc_1"
    assert second["bytes_read"] <= first["bytes_read"] // 100, (second["bytes_read"], first["bytes_read"])
    assert second["files_read"] == 0 and second["files_reused"] == first["files"]
    assert second["tables_reused"] == first["tables"] and second["tables_changed"] == []
    for table, cols in ((S.TABLES, TABLE_COLS), (S.COLUMNS, COLUMN_COLS)):
        assert rows(context, table, "inc_2", cols) == rows(context, table, "inc_1", cols), table
    assert len(rows(context, S.FILE_FACTS, "inc_2", ["path", "role"])) == len(
        rows(context, S.FILE_FACTS, "inc_1", ["path", "role"]))

    change_everything(spark, lake)
    third = run(context, lake, "wf_inc", "inc_3", "incremental", capsys)["summary"]
    full = run(context, lake, "wf_full", "full_3", "full", capsys)["summary"]
    assert full["refresh"] == "full" and full["files_reused"] == 0 and "reused_from_run" not in full
    for table, cols in ((S.TABLES, TABLE_COLS), (S.COLUMNS, COLUMN_COLS)):
        inc_rows, full_rows = rows(context, table, "inc_3", cols), rows(context, table, "full_3", cols)
        assert inc_rows == full_rows, (table, set(inc_rows) ^ set(full_rows))
    by_name = {r[0]: r for r in rows(context, S.TABLES, "inc_3", ["table_name", "row_count"])}
    assert by_name["sales"][1] == 52 and by_name["many"][1] == (MANY - 1) * 10 and by_name["dtable"][1] == 13
    types = {(r[0], r[1]): r[2] for r in rows(context, S.COLUMNS, "inc_3", ["table_name", "column_name", "data_type"])}
    assert types[("wide", "v")] == "double"
    assert third["tables_removed"] == ["old"] and third["tables_added"] == []
    assert set(third["tables_changed"]) == {"sales", "wide", "many", "events", "dtable", "logs"}
    # the unchanged CSV files (239 of many, sales/b.csv, wide/a.csv) were not counted again, and the
    # unchanged Parquet files (events/day=2024-01-01 and 02) not opened for their footers
    assert third["files_reused"] == MANY - 1 + 2 + 2
    assert third["bytes_read"] < full["bytes_read"]
    # diff shows the removed table
    changes = context.writer.schema_changes("wf_inc", "src")
    assert (changes["from_run_id"], changes["to_run_id"]) == ("inc_2", "inc_3")
    assert [t["table_name"] for t in changes["changes"]["tables_removed"]] == ["old"]
    # the record of the incremental run is complete: nothing of the changed lake is read again
    fourth = run(context, lake, "wf_inc", "inc_4", "incremental", capsys)["summary"]
    assert fourth["reused_from_run"] == "inc_3" and fourth["bytes_read"] == 0 and fourth["files_read"] == 0
    for table, cols in ((S.TABLES, TABLE_COLS), (S.COLUMNS, COLUMN_COLS)):
        assert rows(context, table, "inc_4", cols) == rows(context, table, "full_3", cols), table


def test_azure_etags_come_from_the_listing_and_a_same_size_rewrite_is_read_again(azurite, settings):
    from executor.metadata.extractor import MetadataExtractor
    from executor.metadata.plan import default_store_factory
    from executor.storage import rows as R

    service = azurite.service()
    container = "inc" + uuid.uuid4().hex[:8]
    client = service.create_container(container)
    for i in range(5):
        client.upload_blob(f"raw/t/part-{i}.csv", f"id,name\n{i},a{i}\n{i + 10},b{i}\n".encode())
    opened: list[str] = []

    def factory(location, s):  # the real store, the blobs it reads counted (each ranged GET's blob)
        store = default_store_factory(location, s)
        if store.getter is not None:
            get = store.getter.get
            store.getter.get = lambda name, *a, **k: (opened.append(name), get(name, *a, **k))[1]
        else:  # the SDK reads: one blob client per open
            real = store.client.get_blob_client
            store.client.get_blob_client = lambda name: (opened.append(name), real(name))[1]
        return store

    ex = MetadataExtractor(None, replace(settings, azure_connection_string=azurite.connection_string),
                           store_factory=factory)
    url = azurite.url(container, "raw")
    first = ex.extract_metadata(url)
    assert first.tables[0].row_count == 10 and len(opened) >= 5
    etags = {b.name[len("raw/"):]: b.etag for b in client.list_blobs(name_starts_with="raw/")}
    assert {r.path: r.etag for r in first.file_records} == etags and all(etags.values())

    def prior(result, run_id):
        out = R.metadata_rows(result, "wf", None, run_id)
        return R.prior_run(run_id, [vars(r) for r in out[S.TABLES]], [vars(r) for r in out[S.COLUMNS]],
                           [vars(r) for r in out[S.FILE_FACTS]])

    opened.clear()
    again = ex.extract_metadata(url, prior=prior(first, "r1"))
    assert opened == [] and again.reads["bytes_read"] == 0 and again.reads["files_reused"] == 5
    # the same size, new content: the ETag changes (the modified time may not: one-second resolution)
    old = client.get_blob_client("raw/t/part-2.csv").get_blob_properties()
    client.upload_blob("raw/t/part-2.csv", b"id,name\n7,x2\n19,y2\n", overwrite=True)
    assert client.get_blob_client("raw/t/part-2.csv").get_blob_properties().size == old.size
    opened.clear()
    third = ex.extract_metadata(url, prior=prior(again, "r2"))
    full = ex.extract_metadata(url)
    assert third.reads["files_reused"] == 4 and "raw/t/part-2.csv" in opened
    assert [vars(t) for t in third.tables] == [vars(t) for t in full.tables]
    assert {c.column_name: c.sample_values for c in third.tables[0].columns}["name"] == \
        {c.column_name: c.sample_values for c in full.tables[0].columns}["name"]


def test_changed_tables_larger_than_their_window_read_only_their_changed_files(spark, context, tmp_path, capsys):
    """Done when: after a file is added, a CSV appended to and a folder removed, the row counts equal a
    full run's and only what changed is read (the tables' windows come from the record)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from executor.context import ExecutorContext

    # tables larger than their window: 2 files of 30 rows fill 50 rows; CSV samples at most 2 files
    small = ExecutorContext(settings=replace(context.settings, profile_max_rows=50, infer_sample_files=2,
                                             infer_sample_records=50), env={}, spark=spark)
    lake = tmp_path / "lake"
    for f in range(5):
        (lake / "c").mkdir(parents=True, exist_ok=True)
        (lake / "c" / f"part-{f}.csv").write_text("id,label\n" + "".join(f"{f * 30 + j},l{j % 4}\n" for j in range(30)))
        (lake / "p").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"n": pa.array(range(f * 30, f * 30 + 30), pa.int64()),
                                 "s": [f"s{j % 3}" for j in range(30)]}), lake / "p" / f"part-{f}.parquet")
    (lake / "gone").mkdir()
    (lake / "gone" / "x.csv").write_text("q\n1\n2\n")
    run(small, lake, "wf_win", "win_1", "incremental", capsys)
    pq.write_table(pa.table({"n": pa.array([900, 901], pa.int64()), "s": ["new", None]}),
                   lake / "p" / "part-9.parquet")  # a file added
    with (lake / "c" / "part-3.csv").open("a") as fh:  # a CSV appended to
        fh.write("500,l9\n501,l9\n")
    shutil.rmtree(lake / "gone")  # a folder removed
    changed = [lake / "p" / "part-9.parquet", lake / "c" / "part-3.csv"]
    second = run(small, lake, "wf_win", "win_2", "incremental", capsys)["summary"]
    full = run(small, lake, "wf_win_full", "winfull_2", "full", capsys)["summary"]
    for table, cols in ((S.TABLES, TABLE_COLS), (S.COLUMNS, COLUMN_COLS)):
        inc_rows, full_rows = rows(small, table, "win_2", cols), rows(small, table, "winfull_2", cols)
        assert inc_rows == full_rows, (table, set(inc_rows) ^ set(full_rows))
    counts = dict(rows(small, S.TABLES, "win_2", ["table_name", "row_count"]))
    assert counts == {"c": 152, "p": 152}
    assert second["tables_removed"] == ["gone"] and second["windows_reused"] == 2
    assert second["files_read"] == 2 and second["files_reused"] == 9
    # the changed files' bytes only: the new Parquet file's tail; the appended CSV once (its dialect,
    # header and count come from one read of a small file)
    assert 0 < second["bytes_read"] <= sum(p.stat().st_size for p in changed)
    assert second["bytes_read"] * 5 < full["bytes_read"]
