"""The CSV header rule, the csv_header payload field, and headerless files split by width."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.errors import PayloadError
from executor.metadata.csv_scan import decide_header, sniff_dialect
from executor.metadata.extractor import MetadataExtractor
from executor.ops.dry_run import plan_extraction, render_dry_run
from executor.payload import build_request
from executor.settings import Settings
from executor.storage.databricks_writer import DatabricksWriter


def rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.strip().splitlines()]


@pytest.mark.parametrize("text", [
    ",name,amount\n0,alice,1.5\n1,bob,2.5\n",  # pandas index column: blank header cell
    ",name,city\n0,alice,paris\n1,bob,rome\n",  # ... even when every other column is text
    "district,2022\nnorth,15\nsouth,17\n",  # a year as a column name
    "district,2021,2022\nnorth,1500.5,1600.25\nsouth,1700,1800\n",
    "team,2017-2018 season\nlions,12\ntigers,9\n",  # date-like name over numbers
    "region,2020-01-01\nnorth,1.5\nsouth,2.5\n",  # a date as a name over amounts
    "respondent,,score\nr1,yes,5\nr2,,7\n",  # blank survey cell over text
    "name,city\nalice,paris\nbob,rome\n",  # no typed column: Spark's header=true
    "id,name\n1,x\n2,y\n",
    "a,b\n",  # one record
])
def test_header_kept(text):
    d = decide_header(rows(text))
    assert d.header is True, d.reason


@pytest.mark.parametrize("text", [
    "1,x\n2,y\n3,z\n",
    "2024-01-01,x\n2024-01-02,y\n",
    "1,alice,30.5,2020-01-01,true\n2,bob,12.25,2021-03-04,false\n",
    "2019,paris,4\n2021,rome,7\n",  # a column of years is data
    ",alice,3\n,bob,4\n5,eve,6\n",  # blank first cell, but the third column is evidence
])
def test_no_header(text):
    d = decide_header(rows(text))
    assert d.header is False, d.reason


def test_reasons_name_the_deciding_field():
    assert "field 2 ('2022')" in decide_header(rows("district,2022\nnorth,15\nsouth,17\n")).reason
    assert "field 1 ('id') does not parse as int" in decide_header(rows("id,name\n1,2\n3,4\n")).reason


def test_csv_header_forced_by_payload_value():
    d = sniff_dialect(b"1,x\n2,y\n", csv_header="true")
    assert (d.header, d.header_reason) == (True, "csv_header=true (payload)")
    d = sniff_dialect(b"id,name\n1,x\n", csv_header="false")
    assert (d.header, d.header_reason) == (False, "csv_header=false (payload)")


def _payload(**extra):
    return {"workflow_id": "wf-1", "data_source_path": "/tmp/x", **extra}


def test_payload_csv_header_field():
    assert build_request(_payload()).csv_header == "auto"
    assert build_request(_payload(csv_header="TRUE")).csv_header == "true"
    assert build_request(_payload(csv_header=False)).csv_header == "false"
    with pytest.raises(PayloadError, match="csv_header 'maybe' is invalid; expected one of: auto, true, false"):
        build_request(_payload(csv_header="maybe"))
    with pytest.raises(PayloadError, match="csv_header"):
        build_request(_payload(csv_header=1))


def test_invalid_csv_header_exits_2(tmp_path, capsys):
    from executor.main import EXIT_BAD_INPUT, main

    env = {"NUVYN_JOB_PAYLOAD": json.dumps(_payload(csv_header="yes please"))}
    assert main(["--data-source-path", str(tmp_path)], env=env) == EXIT_BAD_INPUT == 2
    err = capsys.readouterr().err
    assert "csv_header 'yes please' is invalid" in err and "auto, true, false" in err


def test_headerless_files_of_different_widths_are_separate_tables(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    for width in (3, 5, 101):
        for part in (1, 2):
            line = ",".join(str(i * part) for i in range(1, width + 1))
            (folder / f"w{width}_{part}.csv").write_text(f"{line}\n{line}\n{line}\n")
    report = plan_extraction(str(tmp_path), settings=Settings(io_threads=2))
    assert sorted(t.files for t in report.tables) == [2, 2, 2]  # one table per width, both parts in it
    assert all(t.csv_header is False for t in report.tables)


def test_dry_run_shows_header_decisions(tmp_path):
    (tmp_path / "scores.csv").write_text(",district,2022\n0,north,15\n1,south,17\n")
    (tmp_path / "raw.csv").write_text("1,alice,2.5\n2,bob,3.5\n")
    report = plan_extraction(str(tmp_path), settings=Settings(io_threads=2))
    by_name = {t.name: t for t in report.tables}
    assert by_name["scores"].csv_header is True and by_name["raw"].csv_header is False
    text = render_dry_run(report)
    assert "Format details (CSV header decisions, XML row tags):" in text
    assert "raw (csv): no header - every first-record field parses" in text
    assert report.to_dict()["tables"][0]["csv_header_reason"]


def test_extraction_records_decision_in_tables_row(tmp_path):
    (tmp_path / "scores.csv").write_text("district,2022\nnorth,15\nsouth,17\n")
    ex = MetadataExtractor(spark=None, settings=Settings(io_threads=2))
    result = ex.extract_metadata(str(tmp_path))
    t = result.tables[0]
    assert (t.status, t.row_count, [c.column_name for c in t.columns]) == ("ok", 2, ["district", "2022"])
    assert [c.data_type for c in t.columns] == ["string", "int"]
    row = DatabricksWriter.metadata_rows(result, "wf", None, "run_1")["tables"][0]
    assert row["csv_header"] is True and "year" in row["csv_header_reason"]
    assert row["column_notes"] is None
    forced = ex.extract_metadata(str(tmp_path), csv_header="false").tables[0]
    assert (forced.csv_header, forced.row_count, forced.csv_header_reason) == (False, 3, "csv_header=false (payload)")


def _every_column_typed_first(rows_, spark_version="3.5"):  # type: ignore[no-untyped-def]
    """The rule as it was before columns were typed lazily: every column typed, then judged."""
    from executor.metadata.csv_scan import _is_year
    from executor.metadata.types.algebra import NUMERIC_PRECEDENCE, STRING, DecimalType
    from executor.metadata.types.csv_inference import CsvSchemaInferrer
    from executor.metadata.types.fallback import SparkFallback

    if len(rows_) < 2:
        return True, None
    first, rest = rows_[0], rows_[1:]
    try:
        inf = CsvSchemaInferrer(len(first), spark_version=spark_version).add_rows(rest)
        probe = CsvSchemaInferrer(1)
        evidence = 0
        for i, t in enumerate(inf.column_types()):
            cell = first[i]
            if t is STRING or cell == "":
                continue
            if probe.widen(inf.types[i], cell) != inf.types[i]:
                return True, i
            if t in NUMERIC_PRECEDENCE or isinstance(t, DecimalType):
                values = [r[i] for r in rest if i < len(r) and r[i] != ""]
                if _is_year(cell) and not all(_is_year(v) for v in values):
                    return True, i
            evidence += 1
    except SparkFallback:
        return True, "fallback"
    return (not evidence), None


HEADER_TOKENS = ["id", "name", "", "1", "2021", "1999", "1.5", "2021-01-16", "2021-01-16 10:00:00", "true", "x",
                 "\u0661", "2021-01-16 10:00:00 Mars/Olympus", "-3"]


@settings(max_examples=500, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.lists(st.lists(st.sampled_from(HEADER_TOKENS), min_size=n, max_size=n),
                                                    min_size=0, max_size=8)))
def test_columns_typed_lazily_decide_as_every_column_typed_first(rows_):
    # the same decision always; the same column named unless a value left to Spark decided before
    header, column = _every_column_typed_first(rows_)
    decision = decide_header(rows_)
    assert decision.header == header
    if isinstance(column, int):
        assert decision.reason.startswith(f"first-record field {column + 1} ") or "types not judged" in decision.reason
