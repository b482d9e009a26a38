"""XML against real Spark XML on this lane (Spark 4's built-in `xml` source on lane B, spark-xml
0.18 on lane A, as Databricks Runtime 15.4/16.4 build it in): files shaped like real exports
(namespaces, CDATA, entities, attributes only, mixed content, nested and repeated elements, a
corrupt record, a missing rowTag) give Spark's column names, types and row count; and the job
itself, run on a folder of XML files with format_options.xml.rowTag, writes one table with the
exact row count and Spark's columns to the Delta tables."""

from __future__ import annotations

import json

import pyspark
import pytest

from executor.main import main
from executor.metadata.readers.xml import MISSING_ROW_TAG, spark_xml_format
from executor.metadata.xml_scan import XmlRules, duplicate_name, root_columns, scan_xml
from tests.xml_files import CASES, write_case

VERSION = "4.0" if pyspark.__version__.startswith("4.") else "3.5"
FORMAT = spark_xml_format(VERSION)


def spark_columns(df) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]


@pytest.mark.parametrize("name", sorted(CASES))
def test_columns_types_and_count_are_sparks(spark, tmp_path, name):
    path, row_tag = write_case(tmp_path, name)
    with open(path, encoding="utf-8", newline="") as fh:
        scan = scan_xml(fh, row_tag, 0, XmlRules.for_version(VERSION))
    if name == "case_names" and VERSION == "3.5":  # spark-xml keeps Code and code apart: Spark refuses
        with pytest.raises(Exception, match="COLUMN_ALREADY_EXISTS"):
            spark.read.format(FORMAT).option("rowTag", row_tag).load(str(path)).schema  # noqa: B018
        assert duplicate_name(scan.root) == "code"
        return
    df = spark.read.format(FORMAT).option("rowTag", row_tag).load(str(path))
    assert root_columns(scan.root) == spark_columns(df), name
    assert scan.rows == df.count(), name


def test_a_missing_row_tag(spark, tmp_path):
    """Spark 4 refuses XML without rowTag; spark-xml reads `ROW` elements (none here): an empty
    table. The executor fails the table and says to set format_options.xml.rowTag."""
    path, _ = write_case(tmp_path, "catalog")
    if VERSION == "4.0":
        with pytest.raises(Exception, match="XML_ROW_TAG_MISSING|rowTag"):
            spark.read.format(FORMAT).load(str(path)).schema  # noqa: B018
    else:
        assert spark.read.format(FORMAT).load(str(path)).count() == 0
    assert "format_options.xml.rowTag" in MISSING_ROW_TAG


def test_the_job_writes_one_xml_table_with_sparks_columns_and_exact_rows(context, spark, tmp_path, capsys):
    lake = tmp_path / "exports"
    lake.mkdir()
    for i in range(3):
        (lake / f"orders-{i}.xml").write_text(CASES["orders"][1], encoding="utf-8")
    payload = {"workflow_id": "wf_xml", "source_id": "src_xml", "data_source_path": str(lake),
               "format_options": {"xml": {"rowTag": "order"}}}
    assert main([f"--payload={json.dumps(payload)}", "--run-id=7700123", "--write-to-db"], env={},
                context=context) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "succeeded", report

    expected = spark.read.format(FORMAT).option("rowTag", "order").load(str(lake))
    tables = spark.table(context.settings.table_name("tables")).filter("run_id = '7700123'").collect()
    assert len(tables) == 1
    (t,) = tables
    assert (t.file_type, t.row_count, t.file_count) == ("xml", expected.count(), 3) == ("xml", 9, 3)
    assert json.loads(t.format_details) == {"row_tag": "order", "corrupt_records": 0}
    assert t.csv_header is None
    cols = spark.table(context.settings.table_name("columns")).filter("run_id = '7700123'").collect()
    ours = [(c.column_name, c.data_type) for c in sorted(cols, key=lambda c: c.position)]
    assert ours == spark_columns(expected)
    by_name = {c.column_name: c for c in cols}
    assert by_name["_no"].min_value == "1" and by_name["_no"].max_value == "3"


def test_inference_spark_asks_sparks_own_xml_reader(spark, settings, tmp_path):
    from dataclasses import replace

    from executor.metadata.extractor import MetadataExtractor

    lake = tmp_path / "lake"
    write_case(lake, "merges")
    options = {"xml": {"rowTag": "m"}}
    fast = MetadataExtractor(spark, settings).extract_metadata(str(lake), format_options=options).tables
    slow = MetadataExtractor(spark, replace(settings, inference="spark")).extract_metadata(
        str(lake), format_options=options).tables
    assert [t.status for t in fast + slow] == ["ok", "ok"]
    assert [(c.column_name, c.data_type) for c in slow[0].columns] == \
        [(c.column_name, c.data_type) for c in fast[0].columns]
    assert slow[0].row_count == fast[0].row_count == 3
