"""Issue 12's real-world file classes, extracted by the executor and read by real Spark.

CSV: spark.read.csv(header=<the executor's decision>, inferSchema, multiLine, escape='"'), and the
default line reader for counts; Parquet: spark.read.parquet; Delta (written here by Spark, with
column mapping `name` and with deletion vectors): spark.read.format("delta"). Compared: names,
types, row counts, ok/failed. The extraction itself runs no Spark job.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.metadata.extractor import MetadataExtractor  # noqa: E402
from executor.metadata.types.csv_inference import make_safe_header  # noqa: E402
from executor.spark_jobs import job_group  # noqa: E402
from tests.realworld_files import write_csv_classes, write_parquet_classes  # noqa: E402

MIXED_PLAIN = b"a,b\r\n1,2\n3,4\r5,6\r\n7,8\n9,10\r"  # LF, CR LF and lone CR, no quotes: 6 records


def _spark_csv(spark, path: Path, header: bool, multiline: bool):
    return (spark.read.option("header", str(header).lower()).option("inferSchema", "true")
            .option("multiLine", str(multiline).lower()).option("escape", '"').csv(str(path)))


def _write_delta(spark, root: Path) -> dict[str, dict]:
    mapped = root / "mapped"
    spark.sql(f"CREATE TABLE delta.`{mapped}` (`Customer Id` BIGINT, `full name` STRING, region STRING) "
              "USING delta PARTITIONED BY (region) "
              "TBLPROPERTIES ('delta.columnMapping.mode'='name', 'delta.minReaderVersion'='2', "
              "'delta.minWriterVersion'='5')")
    spark.sql(f"INSERT INTO delta.`{mapped}` VALUES (1, 'ann', 'eu'), (2, 'bob', 'us'), (3, NULL, 'eu')")
    spark.sql(f"ALTER TABLE delta.`{mapped}` RENAME COLUMN `full name` TO `display name`")
    spark.sql(f"INSERT INTO delta.`{mapped}` VALUES (4, 'cy', 'us')")
    dv = root / "with_dv"
    spark.sql(f"CREATE TABLE delta.`{dv}` (id BIGINT, label STRING) USING delta "
              "TBLPROPERTIES ('delta.enableDeletionVectors'='true')")
    spark.range(0, 100).selectExpr("id", "concat('l', id) AS label").coalesce(1) \
        .write.format("delta").mode("append").save(str(dv))
    spark.sql(f"DELETE FROM delta.`{dv}` WHERE id % 10 = 0")
    return {"mapped": {"rows": 4}, "with_dv": {"rows": 90}}


def _protocol(spark, path: Path) -> dict:
    row = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0].asDict()
    return {k: row.get(k) for k in ("minReaderVersion", "tableFeatures")}


def test_realworld_classes_match_spark(spark, settings, tmp_path, capsys):
    lake = tmp_path / "lake"
    csv_expect = write_csv_classes(lake / "csv")
    (lake / "csv" / "mixed_plain.csv").write_bytes(MIXED_PLAIN)
    pq_expect = write_parquet_classes(lake / "parquet")
    delta_expect = _write_delta(spark, lake / "delta")

    extractor = MetadataExtractor(spark, settings)
    with job_group(spark, "realworld", "issue 12 classes") as jobs:
        result = extractor.extract_metadata(str(lake))
    assert jobs.count == 0  # counts, schemas and samples without Spark
    tables = {t.table_name: t for t in result.tables}
    report = []

    # ---- CSV: names, types and counts as Spark reads the file with the executor's header decision
    for name, e in csv_expect.items():
        t = tables[f"csv/{name}"]
        path = lake / "csv" / f"{name}.csv"
        assert t.status == "ok", (name, t.error_message)
        assert t.csv_header is e["header"], (name, t.csv_header_reason)
        df = _spark_csv(spark, path, t.csv_header, multiline=True)
        ours = [c.column_name for c in t.columns]
        if t.csv_header:
            ours = make_safe_header(ours, len(ours))
        assert ours == df.columns, name
        assert [c.data_type for c in t.columns] == [f.dataType.simpleString() for f in df.schema.fields], name
        multi = df.count()
        line = _spark_csv(spark, path, t.csv_header, multiline=False).count()
        report.append(f"{name}: ours {t.row_count}, Spark multiLine {multi}, Spark default {line}")
        if name == "mixed_endings":
            # Spark's readers disagree on a file mixing endings with quoted newlines: multiLine
            # (univocity) ends records only at the first ending it sees (CR LF here; the LF and CR
            # records merge into fields), the default reader ends them at every ending but also
            # inside quotes. The executor ends records at every ending outside quotes.
            assert (t.row_count, multi, line) == (e["rows"], 3, 7)
            continue
        assert t.row_count == multi == e["rows"], name
    # line endings without quotes: both Spark readers, and the executor, end records at LF, CR LF, CR
    t = tables["csv/mixed_plain"]
    multi = _spark_csv(spark, lake / "csv" / "mixed_plain.csv", True, True).count()
    line = _spark_csv(spark, lake / "csv" / "mixed_plain.csv", True, False).count()
    report.append(f"mixed_plain: ours {t.row_count}, Spark multiLine {multi}, Spark default {line}")
    assert t.row_count == line == 5 and multi < 5  # multiLine merges the records after other endings
    # CR-only: both readers agree with the executor
    cr = lake / "csv" / "cr_only.csv"
    assert _spark_csv(spark, cr, True, False).count() == tables["csv/cr_only"].row_count == 920

    # ---- Parquet: ok/failed, types and counts as spark.read.parquet gives them
    for name, e in pq_expect.items():
        t = tables[f"parquet/{name}"]
        path = str(lake / "parquet" / f"{name}.parquet")
        if e["status"] == "failed":
            with pytest.raises(Exception) as info:
                spark.read.parquet(path).schema  # noqa: B018 - Spark's own refusal
            assert e["error"] in str(info.value)
            assert t.status == "failed" and e["error"] in t.error_message
            report.append(f"{name}: failed as Spark fails: {t.error_message}")
            continue
        df = spark.read.parquet(path)
        assert t.status == "ok", (name, t.error_message)
        assert [(c.column_name, c.data_type) for c in t.columns] == \
            [(f.name, f.dataType.simpleString()) for f in df.schema.fields], name
        assert t.row_count == df.count() == e["rows"], name
        report.append(f"{name}: ok, {t.row_count} rows = Spark; notes {t.column_notes}")

    # ---- Delta: logical names, types and live rows as spark.read.format("delta") gives them
    for name, e in delta_expect.items():
        t = tables[f"delta/{name}"]
        df = spark.read.format("delta").load(str(lake / "delta" / name))
        assert t.status == "ok", (name, t.error_message)
        assert {c.column_name: c.data_type for c in t.columns} == \
            {f.name: f.dataType.simpleString() for f in df.schema.fields}, name
        assert t.row_count == df.count() == e["rows"], name
        report.append(f"{name}: ok, {t.row_count} rows = Spark; protocol {_protocol(spark, lake / 'delta' / name)}")
    mapped = {c.column_name: c for c in tables["delta/mapped"].columns}
    assert sorted(mapped["display name"].sample_values) == ["ann", "bob", "cy"]
    assert mapped["display name"].null_count == 1
    assert (mapped["Customer Id"].min_value, mapped["Customer Id"].max_value) == ("1", "4")
    with capsys.disabled():
        print("\n" + "\n".join(report))
