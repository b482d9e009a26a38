"""Spark's verdict on Delta tables of the shapes issue 21 found, on the lane's own Spark + Delta
(lane A: delta-spark 3.3.2, lane B: 4.0.0; where they differ, each lane is followed):

- v2 checkpoints: UUID-named (Parquet and JSON top-level files) with sidecar files, and a
  classic-named v2 checkpoint, with deletion vectors and partitions;
- type widening: changes both Delta releases read, and ones only Delta 4.0 reads (Delta 3.3
  refuses them with DELTA_UNSUPPORTED_TYPE_CHANGE_IN_PREVIEW), nested fields too;
- a Delta table in a folder named `checkpoint`, next to a real Structured Streaming checkpoint.

Each table is written by Spark, extracted by the executor (no Spark job) and read by
spark.read.format("delta"): status, row count and columns must agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.metadata.extractor import MetadataExtractor  # noqa: E402
from executor.metadata.readers.delta import classify_log  # noqa: E402
from executor.sources.base import FileInfo  # noqa: E402
from executor.spark_jobs import job_group  # noqa: E402


def _extract(spark, settings, lake: Path):
    with job_group(spark, "delta-protocol", "issue 21 Delta shapes") as jobs:
        result = MetadataExtractor(spark, settings).extract_metadata(str(lake))
    assert jobs.count == 0  # the log is read without Spark
    return result, {t.table_name: t for t in result.tables}


def _spark_verdict(spark, path: Path) -> tuple[str, int | None, list[tuple[str, str]], str]:
    """(ok | failed, rows, [(column, type)], error) as spark.read.format('delta') gives them."""
    try:
        df = spark.read.format("delta").load(str(path))
        return "ok", df.count(), [(f.name, f.dataType.simpleString()) for f in df.schema.fields], ""
    except Exception as exc:  # noqa: BLE001 - Spark's refusal is the expected verdict here
        return "failed", None, [], str(exc)


def _assert_same(t, verdict, name: str) -> None:
    status, rows, columns, error = verdict
    if status == "ok":
        assert t.status == "ok", (name, t.error_message)
        assert t.row_count == rows, name
        assert [(c.column_name, c.data_type) for c in t.columns] == columns, name
    else:
        assert t.status == "failed", (name, "Spark refuses it:", error[:300])
        error_class = error[error.index("[") + 1:error.index("]")]
        assert f"[{error_class}]" in t.error_message, (name, t.error_message, error[:300])


def _log(path: Path) -> list[FileInfo]:
    return [FileInfo(f"t/{p.relative_to(path).as_posix()}", str(p), p.stat().st_size)
            for p in sorted((path / "_delta_log").rglob("*")) if p.is_file()]


# ----------------------------------------------------------------------------- v2 checkpoints


def test_v2_checkpoints_with_sidecars_match_spark(spark, settings, tmp_path):
    import shutil

    lake = tmp_path / "lake"
    path = lake / "v2_json"
    fmt_key = "spark.databricks.delta.checkpointV2.topLevelFileFormat"
    spark.conf.set(fmt_key, "parquet")
    try:  # v2 checkpoints: at version 2 (Parquet, after deletion vectors) and 4 (JSON), sidecars for both
        spark.sql(f"CREATE TABLE delta.`{path}` (id BIGINT, label STRING, part STRING) USING delta "
                  "PARTITIONED BY (part) TBLPROPERTIES ('delta.checkpointPolicy'='v2', "
                  "'delta.checkpointInterval'='2', 'delta.enableDeletionVectors'='true')")
        spark.range(0, 100).selectExpr("id", "concat('l', id) AS label", "if(id % 2 = 0, 'even', 'odd') AS part") \
            .coalesce(1).write.format("delta").mode("append").save(str(path))
        spark.sql(f"DELETE FROM delta.`{path}` WHERE id % 7 = 0")
        spark.conf.set(fmt_key, "json")
        spark.sql(f"INSERT INTO delta.`{path}` VALUES (1000, 'late', 'odd')")
        spark.sql(f"INSERT INTO delta.`{path}` VALUES (1001, 'later', 'even')")
    finally:
        spark.conf.unset(fmt_key)
    log = path / "_delta_log"
    # the same table with its newest checkpoint at version 2 (a UUID-named Parquet one; commits 3
    # and 4 replayed after it; the JSON checkpoint's sidecars stay behind, unreferenced) ...
    tables = {"v2_json": path, "v2_parquet": lake / "v2_parquet", "v2_classic": lake / "v2_classic"}
    shutil.copytree(path, tables["v2_parquet"])
    for f in (tables["v2_parquet"] / "_delta_log").glob("00000000000000000004.checkpoint.*"):
        f.unlink()
    (tables["v2_parquet"] / "_delta_log" / "_last_checkpoint").unlink()  # it names the removed checkpoint
    # ... and again with that checkpoint under its classic name (`<v>.checkpoint.parquet`, v2 content)
    shutil.copytree(tables["v2_parquet"], tables["v2_classic"])
    log = tables["v2_classic"] / "_delta_log"
    uuid_named = next(log.glob("00000000000000000002.checkpoint.*.parquet"))
    uuid_named.rename(log / "00000000000000000002.checkpoint.parquet")

    for name, table_path in tables.items():
        checkpoint = classify_log(_log(table_path)).newest_checkpoint()
        expected = {"v2_json": (4, "uuid", ".json"), "v2_parquet": (2, "uuid", ".parquet"),
                    "v2_classic": (2, "classic", ".parquet")}[name]
        assert checkpoint is not None, name
        assert (checkpoint.version, checkpoint.kind, Path(checkpoint.parts[0].name).suffix) == expected, name
        assert list((table_path / "_delta_log" / "_sidecars").glob("*.parquet")), name
    _result, got = _extract(spark, settings, lake)
    for name, table_path in tables.items():
        verdict = _spark_verdict(spark, table_path)
        assert verdict[0] == "ok", verdict[3][:300]
        _assert_same(got[name], verdict, name)
        detail = spark.sql(f"DESCRIBE DETAIL delta.`{table_path}`").collect()[0]
        assert got[name].file_count == detail["numFiles"] and "v2Checkpoint" in detail["tableFeatures"]
        assert got[name].partition_columns == ["part"]


# ----------------------------------------------------------------------------- type widening


def _widen(spark, path: Path, column: str, sql_type: str, from_type: str, to_type: str,
           field_path: str | None = None) -> str:
    """ALTER the column's type with the lane's Delta; where it refuses (Delta 3.3: only
    byte/short -> short/int), commit the same schema change as Delta 4.0 writes it, by hand."""
    try:
        spark.sql(f"ALTER TABLE delta.`{path}` ALTER COLUMN {column} TYPE {sql_type}")
        return "altered by Spark"
    except Exception as exc:  # noqa: BLE001 - the lane's Delta refuses this change: write it as Delta 4.0 does
        assert "DELTA_UNSUPPORTED_ALTER_TABLE_CHANGE_COL_OP" in str(exc) or "not supported" in str(exc)
    log = path / "_delta_log"
    version = max(int(p.name[:20]) for p in log.glob("*.json"))
    meta = None
    for v in range(version + 1):
        for line in (log / f"{v:020d}.json").read_text().splitlines():
            if '"metaData"' in line:
                meta = json.loads(line)["metaData"]
    schema = json.loads(meta["schemaString"])
    top, _, nested = column.partition(".")
    field = next(f for f in schema["fields"] if f["name"] == top)
    holder = field
    if nested and nested != "element":
        holder = next(f for f in field["type"]["fields"] if f["name"] == nested)
        holder["type"] = to_type
    elif nested == "element":
        field["type"]["elementType"] = to_type
    else:
        field["type"] = to_type
    change = {"toType": to_type, "fromType": from_type, **({"fieldPath": field_path} if field_path else {})}
    holder.setdefault("metadata", {}).setdefault("delta.typeChanges", []).append(change)
    meta["schemaString"] = json.dumps(schema)
    commit = [{"commitInfo": {"timestamp": 0, "operation": "CHANGE COLUMN"}}, {"metaData": meta}]
    (log / f"{version + 1:020d}.json").write_text("".join(json.dumps(a) + "\n" for a in commit))
    return "committed as Delta 4.0 writes it"


def test_type_widening_follows_the_lanes_delta(spark, settings, tmp_path):
    lake = tmp_path / "lake"
    shapes = {
        # (DDL, insert, [(column, SQL type, from, to, fieldPath)]): changes both releases read ...
        "read_by_both": ("id INT, v TINYINT, s STRUCT<a: SMALLINT, b: STRING>",
                         "(1, 1, named_struct('a', CAST(1 AS SMALLINT), 'b', 'x')), (2, NULL, NULL)",
                         [("v", "SMALLINT", "byte", "short", None), ("v", "INT", "short", "integer", None),
                          ("s.a", "INT", "short", "integer", None)]),
        # ... and ones only Delta 4.0 reads: top level, and nested (a struct field, an array element)
        "int_to_bigint": ("id INT, v INT", "(1, 1), (2, 2), (3, NULL)", [("v", "BIGINT", "integer", "long", None)]),
        "nested_to_bigint": ("id INT, s STRUCT<a: INT, b: STRING>, arr ARRAY<TINYINT>",
                             "(1, named_struct('a', 1, 'b', 'x'), array(CAST(1 AS TINYINT)))",
                             [("s.a", "BIGINT", "integer", "long", None),
                              ("arr.element", "BIGINT", "byte", "long", "element")]),
    }
    how = {}
    for name, (ddl, values, changes) in shapes.items():
        path = lake / name
        spark.sql(f"CREATE TABLE delta.`{path}` ({ddl}) USING delta TBLPROPERTIES ('delta.enableTypeWidening'='true')")
        spark.sql(f"INSERT INTO delta.`{path}` VALUES {values}")
        how[name] = [_widen(spark, path, *c) for c in changes]
    _result, got = _extract(spark, settings, lake)
    verdicts = {name: _spark_verdict(spark, lake / name) for name in shapes}
    for name in shapes:
        _assert_same(got[name], verdicts[name], f"{name} ({how[name]}, Spark {spark.version})")
    # the lanes differ exactly where Delta 3.3 and 4.0 do
    assert verdicts["read_by_both"][0] == "ok"
    widened = ("int_to_bigint", "nested_to_bigint")
    expected = "ok" if spark.version.startswith("4.") else "failed"
    assert {verdicts[n][0] for n in widened} == {expected}, {n: verdicts[n][3][:200] for n in widened}
    if expected == "failed":
        assert "DELTA_UNSUPPORTED_TYPE_CHANGE_IN_PREVIEW" in got["int_to_bigint"].error_message
    else:
        assert dict((c.column_name, c.data_type) for c in got["int_to_bigint"].columns)["v"] == "bigint"


# ----------------------------------------------------------------------------- folder names


def test_delta_table_in_a_checkpoint_folder_next_to_a_streaming_checkpoint(spark, settings, tmp_path):
    lake = tmp_path / "lake"
    table = lake / "checkpoint"
    spark.range(0, 25).selectExpr("id", "id * 2 AS twice").coalesce(1).write.format("delta").save(str(table))
    # a real Structured Streaming checkpoint (offsets/, commits/, metadata, sources/) and its sink
    query = (spark.readStream.format("delta").load(str(table)).writeStream.format("delta")
             .option("checkpointLocation", str(lake / "stream" / "checkpoints"))
             .trigger(availableNow=True).start(str(lake / "stream" / "out")))
    query.awaitTermination()
    stream_checkpoint = lake / "stream" / "checkpoints"
    assert (stream_checkpoint / "offsets").is_dir() and (stream_checkpoint / "metadata").is_file()

    result, got = _extract(spark, settings, lake)
    assert set(got) == {"checkpoint", "stream/out"}
    for name in got:
        _assert_same(got[name], _spark_verdict(spark, lake / name), name)
    assert got["checkpoint"].row_count == 25 and got["checkpoint"].file_type == "delta"
    skipped = {s.path: s.reason for s in result.skipped}
    assert "checkpoint folder" in skipped["stream/checkpoints/"]
    assert not any(p.startswith("stream/checkpoints/") and p != "stream/checkpoints/" for p in skipped)
