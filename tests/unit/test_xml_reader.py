"""The XML reader: records split as Spark's XmlInputFormat splits them, exact counts, Spark's XML
inference rules, hostile files, a missing rowTag, and a folder of XML files extracted without Spark
(the rules' fidelity against real Spark XML: tests/integration/test_xml_vs_spark.py)."""

from __future__ import annotations

import gzip
import io

import pytest

from executor.metadata.extractor import MetadataExtractor
from executor.metadata.readers.xml import MISSING_ROW_TAG
from executor.metadata.xml_scan import infer_value, iter_records, root_columns, scan_xml
from executor.ops.dry_run import plan_extraction, render_dry_run
from executor.settings import Settings
from tests.xml_files import CASES, write_case


def records(text: str, tag: str, chunk: int | None = None) -> list[str]:
    from executor.metadata import xml_scan

    if chunk is not None:
        old, xml_scan.CHUNK_CHARS = xml_scan.CHUNK_CHARS, chunk
        try:
            return list(iter_records(io.StringIO(text), tag))
        finally:
            xml_scan.CHUNK_CHARS = old
    return list(iter_records(io.StringIO(text), tag))


@pytest.mark.parametrize("chunk", [None, 1, 3, 7])
def test_records_are_split_like_spark_whatever_the_chunks(chunk):
    text = '<a><row>1</row><rowx>no</rowx><row id="2"><row>inner</row></row><row k="3"/><row\n>4</row></a>'
    assert records(text, "row", chunk) == ['<row>1</row>', '<row id="2"><row>inner</row></row>', '<row k="3"/>',
                                           '<row\n>4</row>']


def test_a_record_cut_off_by_the_end_of_the_file_is_kept_and_corrupt():
    scan = scan_xml(io.StringIO("<d><r><a>1</a></r><r><a>2"), "r")
    assert (scan.rows, scan.corrupt) == (2, 1)
    assert root_columns(scan.root) == [("_corrupt_record", "string"), ("a", "bigint")]


@pytest.mark.parametrize(("value", "expected"), [
    ("42", "bigint"), ("-7", "bigint"), (" 42 ", "bigint"), ("9223372036854775808", "double"), ("4.5", "double"),
    ("1e3", "double"), (".5", "double"), ("1d", "string"), ("NaN", "string"), ("true", "boolean"),
    ("FALSE", "boolean"), ("2024-01-31", "date"), ("2024-01-31T10:00:00Z", "timestamp"),
    ("2024-01-31 10:00:00", "timestamp"), ("2024-13-01", "string"), ("abc", "string"), ("", "null"),
])
def test_values_are_typed_as_spark_xml_types_them(value, expected):
    assert infer_value(value) == expected


def test_structure_rules_attributes_value_tag_arrays_and_mixed_content():
    text = """<d><r id="1"><p cur="USD">4.5</p><t>a</t><t>b</t><n><x>1</x></n><e/><m>hi <b>x</b> there</m></r>
               <r id="2"><p>5</p><t>c</t><n><x>2.5</x><y>q</y></n></r></d>"""
    scan = scan_xml(io.StringIO(text), "r", sample_rows=2)
    assert root_columns(scan.root) == [
        ("_id", "bigint"), ("e", "string"), ("m", "struct<_VALUE:array<string>,b:string>"),
        ("n", "struct<x:double,y:string>"), ("p", "struct<_VALUE:double,_cur:string>"), ("t", "array<string>")]
    assert scan.sample[0]["t"] == ["a", "b"] and scan.sample[1]["p"] == "5"


def test_every_case_file_is_read(tmp_path):
    for name in CASES:
        path, tag = write_case(tmp_path, name)
        with open(path, newline="", encoding="utf-8") as fh:
            scan = scan_xml(fh, tag)
        assert scan.rows > 0, name
    entities = scan_xml(io.StringIO(CASES["entities"][1]), "row")
    assert (entities.rows, entities.corrupt) == (3, 1)  # &co; is declared outside the record: undefined


def test_hostile_files_fail_their_records_not_the_process():
    laughs = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
              '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><rows><r><v>&c;</v></r><r><v>ok</v></r></rows>')
    scan = scan_xml(io.StringIO(laughs), "r")
    assert (scan.rows, scan.corrupt) == (2, 1)
    external = '<rows><r><!DOCTYPE x SYSTEM "file:///etc/passwd"><v>1</v></r></rows>'
    assert scan_xml(io.StringIO(external), "r").corrupt == 1
    deep = "<rows><r>" + "<a>" * 5000 + "</a>" * 5000 + "</r></rows>"
    assert scan_xml(io.StringIO(deep), "r").corrupt == 1


def _lake(tmp_path):
    lake = tmp_path / "lake"
    (lake / "books").mkdir(parents=True)
    for i in range(2):
        (lake / "books" / f"part-{i}.xml").write_text(CASES["catalog"][1], encoding="utf-8")
    (lake / "books" / "part-2.xml.gz").write_bytes(gzip.compress(CASES["catalog"][1].encode()))
    (lake / "broken").mkdir()
    (lake / "broken" / "a.xml").write_bytes(b"<catalog><book>\x00\x01\x02")
    return lake


def test_a_folder_of_xml_files_is_one_table_with_exact_rows_without_spark(tmp_path):
    lake = _lake(tmp_path)
    extractor = MetadataExtractor(None, Settings(io_threads=2))
    result = extractor.extract_metadata(str(lake), format_options={"xml": {"rowTag": "book"}})
    tables = {t.table_name: t for t in result.tables}
    books = tables["books"]
    assert (books.status, books.file_type, books.row_count, books.file_count) == ("ok", "xml", 9, 3)
    cols = {c.column_name: c.data_type for c in books.columns}
    assert cols["price"] == "struct<_VALUE:double,_currency:string>" and cols["tag"] == "array<string>"
    assert cols["updated"] == "timestamp" and cols["publish_date"] == "date"
    assert books.format_details == {"row_tag": "book", "corrupt_records": 0}
    assert "binary" in tables["broken"].error_message  # a corrupt file fails its table only
    author = next(c for c in books.columns if c.column_name == "author")
    assert "Ralls, Kim" in author.sample_values
    by_name = {c.column_name: c for c in books.columns}  # samples as Spark shows the rows
    assert '["c"]' in by_name["tag"].sample_values and '{"_VALUE": 5.0}' in by_name["price"].sample_values
    assert (by_name["_id"].min_value, by_name["_id"].max_value) == ("bk101", "bk103")


def test_without_row_tag_the_table_fails_saying_what_to_set(tmp_path):
    lake = _lake(tmp_path)
    result = MetadataExtractor(None, Settings(io_threads=2)).extract_metadata(str(lake))
    books = next(t for t in result.tables if t.table_name == "books")
    assert books.status == "failed" and "format_options.xml.rowTag" in books.error_message
    assert MISSING_ROW_TAG in books.error_message


def test_the_dry_run_describes_the_row_tag(tmp_path):
    lake = _lake(tmp_path)
    report = plan_extraction(str(lake), settings=Settings(io_threads=2), format_options={"xml": {"rowTag": "book"}})
    books = next(t for t in report.tables if t.name == "books")
    assert books.format_details == {"row_tag": "book", "records": 9, "corrupt_records": 0}
    assert "books (xml): row tag <book>" in render_dry_run(report)


def test_the_summary_says_each_tables_format_details(tmp_path):
    from executor.ops.summary import render_notes
    from executor.run import table_notes

    result = MetadataExtractor(None, Settings(io_threads=2)).extract_metadata(
        str(_lake(tmp_path)), format_options={"xml": {"rowTag": "book"}})
    notes = table_notes(result)
    assert {"table": "books", "format": "xml", "details": "row tag <book>"} in notes["format_details"]
    assert "    xml books: row tag <book>" in render_notes(notes)


def test_spark_xml_names_differing_in_case_fail_the_table_as_spark_does(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "a.xml").write_text(CASES["case_names"][1], encoding="utf-8")
    options = {"xml": {"rowTag": "r"}}
    extractor = MetadataExtractor(None, Settings(io_threads=2))
    (t,) = extractor.extract_metadata(str(lake), format_options=options).tables  # 3.5 rules without Spark
    assert t.status == "failed" and "COLUMN_ALREADY_EXISTS" in t.error_message
    monkeypatch.setattr(MetadataExtractor, "spark_version", property(lambda self: "4.0"))
    (t,) = extractor.extract_metadata(str(lake), format_options=options).tables
    assert t.status == "ok" and [c.column_name for c in t.columns] == ["Code", "n"]


def _reference_records(text: str, tag: str) -> list[str]:
    """Spark's XmlRecordReader.next, character by character (readUntilStartElement, readUntilEndElement)."""
    start, end = f"<{tag}>", f"</{tag}>"
    out, pos = [], 0
    while True:
        i, current, found = 0, start, False
        while pos < len(text):
            c = text[pos]
            pos += 1
            if c == start[i]:
                if i >= len(start) - 1:
                    found = True
                    break
                i += 1
            elif i == len(start) - 1 and c.isspace():
                current, found = start[:-1] + c, True
                break
            else:
                i = 0
        if not found:
            return out
        body, si, ei, depth, prev = pos, 0, 0, 0, "\0"
        can_self_close = not current.endswith(">")
        closed = False
        while pos < len(text):
            c = text[pos]
            pos += 1
            if c == ">" and prev != "/":
                can_self_close = False
            if c == start[si]:
                if c == end[ei]:
                    si, ei = si + 1, ei + 1
                elif si >= len(start) - 1:
                    si, ei, depth = 0, 0, depth + 1
                else:
                    si, ei = si + 1, 0
            elif c == end[ei]:
                if ei >= len(end) - 1:
                    if depth == 0:
                        closed = True
                        break
                    si, ei, depth = 0, 0, depth - 1
                else:
                    si, ei = 0, ei + 1
            elif c == ">" and prev == "/" and can_self_close:
                if depth == 0:
                    closed = True
                    break
                si, ei, depth = 0, 0, depth - 1
            elif si == len(start) - 1 and c.isspace():
                si, ei, depth = 0, 0, depth + 1
            else:
                si = ei = 0
            prev = c
        out.append(current + text[body:pos])
        if not closed:
            return out


PIECES = ["<", ">", "/", "/>", "r", "ro", "row", " ", "\n", "x", "<row>", "</row>", "<row ", "<row/>", "<<", "<ro", "</",
          "<rows>", "</ro", "a=\"1\""]


def test_the_fast_record_split_is_sparks_character_by_character():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.sampled_from(PIECES), max_size=40), st.sampled_from([None, 1, 2, 5]))
    def check(pieces, chunk):
        text = "".join(pieces)
        assert records(text, "row", chunk) == _reference_records(text, "row"), text

    check()
