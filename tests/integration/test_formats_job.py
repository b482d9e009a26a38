"""Issue 8 on real local Spark + Delta: a lake with every format (JSON Lines and documents with
nested types and a malformed record, gzip/bzip2 CSV/TSV/JSON, Avro, ORC, Parquet, sniffed files
without extension, a partitioned Delta table with a delete and a checkpoint) extracts in one run;
counts and types are checked against Spark's own readers, profiles against independent readers,
and a second run's schema drift is reported by the writer and `nuvyn-executor diff`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.main import EXIT_OK, run_job  # noqa: E402
from executor.payload import build_request  # noqa: E402
from tests.formats_lake import build_lake, write_delta_table  # noqa: E402


def _run(context, lake, wf):
    request = build_request({"workflow_id": wf, "source_id": "src_fmt"}, data_source_path=str(lake))
    return run_job(request, context)


def _spark_cols(df) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]


def test_every_format_in_one_run_and_drift_between_runs(context, spark, tmp_path, monkeypatch, capsys):
    lake = tmp_path / "lake"
    expected = build_lake(lake)
    delta_rows = write_delta_table(spark, lake / "ledger")
    assert list((lake / "ledger" / "_delta_log").glob("*.checkpoint.parquet")), "the test wants a checkpoint"

    code, report = _run(context, lake, "wf_fmt")
    assert code == EXIT_OK, report
    assert report["status"] == "succeeded", report
    meta = context.writer.query_metadata(workflow_id="wf_fmt")
    tables = {t["table_name"]: t for t in meta["tables"]}
    cols: dict[str, list[dict]] = {}
    for c in meta["columns"]:
        cols.setdefault(c["table_name"], []).append(c)
    assert set(tables) == set(expected) | {"ledger"}, sorted(tables)  # the Delta files are not tables
    for name, e in expected.items():
        assert (tables[name]["file_type"], tables[name]["row_count"]) == (e["format"], e["rows"]), name
    assert tables["events"]["malformed_records"] == 1
    assert meta["sources"][0]["files_skipped"] >= 3

    def ours(name):
        return [(c["column_name"], c["data_type"]) for c in sorted(cols[name], key=lambda c: c["position"])]

    # Delta: count, schema, partitions from the log; Spark's reader agrees
    d = spark.read.format("delta").load(str(lake / "ledger"))
    assert tables["ledger"]["row_count"] == d.count() == delta_rows
    assert tables["ledger"]["file_type"] == "delta" and json.loads(tables["ledger"]["partition_columns"]) == ["region"]
    assert sorted(ours("ledger")) == sorted(_spark_cols(d))
    ledger = {c["column_name"]: c for c in cols["ledger"]}
    assert ledger["region"]["is_partition"] and ledger["region"]["distinct_count"] == 3
    assert ledger["id"]["min_value"] == "5" and ledger["id"]["max_value"] == "59" and ledger["id"]["null_count"] == 0

    # JSON (lines with a malformed record, documents, gzip) and ORC: Spark's types and counts
    ev = spark.read.json(str(lake / "events"))
    assert ours("events") == _spark_cols(ev) and ev.count() == tables["events"]["row_count"]
    docs = spark.read.option("multiLine", "true").json(str(lake / "docs"))
    assert ours("docs") == _spark_cols(docs) and docs.count() == tables["docs"]["row_count"]
    assert ours("config") == _spark_cols(spark.read.option("multiLine", "true").json(str(lake / "config.json")))
    clicks = spark.read.json(str(lake / "compressed" / "clicks.json.gz"))
    assert ours("compressed/clicks") == _spark_cols(clicks) and clicks.count() == 1000
    items = spark.read.orc(str(lake / "items"))
    assert ours("items") == _spark_cols(items) and items.count() == tables["items"]["row_count"]
    logs = spark.read.option("header", "true").option("inferSchema", "true").csv(
        str(lake / "compressed" / "logs.csv.gz"))
    assert ours("compressed/logs") == _spark_cols(logs) and logs.count() == 2500
    try:
        users = spark.read.format("avro").load(str(lake / "users"))
        assert ours("users") == _spark_cols(users) and users.count() == 200
    except Exception as exc:  # noqa: BLE001 - spark-avro is built into Databricks, not into local pyspark
        if "avro" not in str(exc).lower():
            raise

    # profiles are stored (and say how they were computed)
    email = next(c for c in cols["users"] if c["column_name"] == "email")
    assert email["null_count"] == 67 and email["distinct_count"] == 133 and email["profile_scope"] == "exact"
    assert all(c["profile_scope"] in ("exact", "sampled") for cs in cols.values() for c in cs)
    assert all(t["schema_fingerprint"] for t in meta["tables"])

    # run 2: plain/README retypes a, drops b, adds c; config.json is gone; extra.csv is new
    with open(lake / "plain" / "README", "w", newline="") as fh:
        csv.writer(fh).writerows([["a", "c"], ["x", "2024-01-01"], ["y", "2024-01-02"]])
    (lake / "config.json").unlink()
    (lake / "extra.csv").write_text("k\n1\n")
    code, report2 = _run(context, lake, "wf_fmt")
    assert code == EXIT_OK, report2
    diff = context.writer.schema_changes("wf_fmt")
    assert (diff["from_run_id"], diff["to_run_id"]) == (report["run_id"], report2["run_id"])
    ch = diff["changes"]
    assert [t["table_name"] for t in ch["tables_added"]] == ["extra"]
    assert [t["table_name"] for t in ch["tables_removed"]] == ["config"]
    (plain,) = ch["tables_changed"]
    assert plain["table_name"] == "plain"
    assert [c["column_name"] for c in plain["columns_added"]] == ["c"]
    assert [c["column_name"] for c in plain["columns_removed"]] == ["b"]
    assert plain["columns_retyped"] == [{"column_name": "a", "from_type": "int", "to_type": "string"}]
    assert ch["tables_unchanged"] == len(expected) - 2 + 1

    # the same through the console script, and with explicit run ids
    from executor import cli

    assert cli.main(["diff", "--workflow-id", "wf_fmt", "--format", "table"], {}, context) == 0
    out = capsys.readouterr().out
    assert "~ a: int -> string" in out and "+ table extra" in out and "- table config" in out
    assert cli.main(["diff", "--workflow-id", "wf_fmt", "--from-run", report2["run_id"],
                     "--to-run", report["run_id"]], {}, context) == 0
    back = json.loads(capsys.readouterr().out)
    assert [t["table_name"] for t in back["changes"]["tables_added"]] == ["config"]
    assert cli.main(["diff", "--workflow-id", "wf_fmt", "--from-run", "nope", "--to-run", report["run_id"]],
                    {}, context) == 2


@pytest.mark.parametrize("wf", ["wf_one_run"])
def test_diff_with_a_single_run_says_so(context, tmp_path, wf):
    lake = tmp_path / "l"
    lake.mkdir()
    (lake / "a.csv").write_text("x\n1\n")
    assert _run(context, lake, wf)[0] == EXIT_OK
    diff = context.writer.schema_changes(wf)
    assert diff["changes"] is None and "fewer than two completed runs" in diff["message"]


def test_json_spark_inference_mode_agrees_with_the_ported_rules(context, tmp_path):
    from dataclasses import replace

    from executor.metadata.extractor import MetadataExtractor

    lake = tmp_path / "lake"
    build_lake(lake)
    fast = MetadataExtractor(context.spark, context.settings).extract_metadata(str(lake / "events"))
    slow = MetadataExtractor(context.spark, replace(context.settings, inference="spark")).extract_metadata(str(lake / "events"))
    (f,), (s,) = fast.tables, slow.tables
    assert [(c.column_name, c.data_type) for c in f.columns] == [(c.column_name, c.data_type) for c in s.columns]
    assert (f.row_count, f.malformed_records) == (s.row_count, s.malformed_records) == (5, 1)
