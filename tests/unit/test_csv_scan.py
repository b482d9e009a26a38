"""Exact CSV record counts, compared with Python's csv module as the independent reader."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.metadata.csv_scan import CsvDialect, count_records, read_head, sniff_dialect, to_csv_lines


def reference_records(data: bytes, delimiter: str = ",") -> int:
    text = data.decode("utf-8")
    return sum(1 for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row)


def fast(data: bytes, delimiter: str = ",", chunk: int = 7) -> int:
    return count_records(io.BytesIO(data), CsvDialect(delimiter=delimiter), chunk_bytes=chunk).records


CASES = [
    b"",
    b"a,b\n",
    b"a,b\n1,2\n3,4\n",
    b"a,b\n1,2\n3,4",  # no trailing newline
    b"a,b\r\n1,2\r\n3,4\r\n",
    b'a,b\n1,"x\ny"\n2,"p\r\nq"\n',  # quoted newlines are inside one record
    b'a,b\n1,"he said ""hi"""\n2,""\n',  # doubled quotes
    b"a,b\n\n1,2\n\n\n3,4\n\r\n",  # blank lines are not records
    b'a,b\n1,"unterminated\n2,3\n',  # open quote to EOF: one record
    b'a,b\n1,5" screen\n2,3\n',  # stray quote: recounted with the csv module
    b'a,b\n1,"x"y\n2,3\n',  # junk after closing quote
    b'"a"\n"b"\n""\n',
    b"a,b\r1,2\r3,4\r",  # CR-only (old Mac exports)
    b"a,b\r1,2\r3,4",
    b"a,b\r\n1,2\r3,4\n5,6\r\n",  # mixed endings
    b'a,b\r1,"x\ry"\r2,"p\r\nq"\r',  # quoted CR / CR LF stay inside the record
    b"a,b\r\r\n1,2\n\r3,4\r\r",  # blank records made of CR, LF, CR LF
    b'a,b\r1,5" screen\r2,3\r',  # stray quote with CR endings: the csv module path
]


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
def test_counts_match_python_csv(data, chunk):
    assert fast(data, chunk=chunk) == reference_records(data)


def test_header_is_not_a_data_row():
    res = count_records(io.BytesIO(b'id,note\n1,"a\nb"\n2,c\n'), CsvDialect(header=True))
    assert (res.records, res.data_rows) == (3, 2)
    res = count_records(io.BytesIO(b"1,2\n3,4\n"), CsvDialect(header=False))
    assert res.data_rows == 2


field = st.text(alphabet=st.sampled_from(list('ab,"\n\r ;é')), max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(field, min_size=1, max_size=4), max_size=12), st.integers(1, 16))
def test_round_trip_of_written_csv(rows, chunk):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    data = buf.getvalue().encode("utf-8")
    assert fast(data, chunk=chunk) == reference_records(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60).map(lambda b: b.replace(b"\x00", b"")), st.integers(1, 9))
def test_arbitrary_bytes_never_disagree(data, chunk):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert fast(data, chunk=chunk) == reference_records(data)


@pytest.mark.parametrize("text,delim", [
    ("a,b,c\n1,2,3\n", ","),
    ("a;b;c\n1;2,5;3\n4;5;6\n", ";"),
    ("a\tb\n1\t2\n", "\t"),
    ("a|b|c\n1|2|3\n", "|"),
    ('name,notes\n"x; y; z",1\n"p; q",2\n', ","),
])
def test_delimiter_detection(text, delim):
    assert sniff_dialect(text.encode()).delimiter == delim


def test_encoding_and_bom_detection():
    d = sniff_dialect(b"\xef\xbb\xbfa,b\n1,2\n")
    assert (d.encoding, d.bom) == ("utf-8", True)
    assert sniff_dialect("a,b\ncafé,crème\n".encode("iso-8859-1")).encoding == "iso-8859-1"
    assert sniff_dialect("a,b\ncafé,crème\n".encode()).encoding == "utf-8"


def test_header_detection():
    assert sniff_dialect(b"id,name\n1,x\n2,y\n").header is True
    assert sniff_dialect(b"1,x\n2,y\n3,z\n").header is False
    assert sniff_dialect(b"2024-01-01,x\n2024-01-02,y\n").header is False


def test_read_head_and_lines_round_trip():
    data = b'id,note\n1,"multi\nline"\n2,"q ""x"""\n3,plain\n'
    d = sniff_dialect(data)
    head = read_head(io.BytesIO(data), d, max_records=2)
    assert head.header == ["id", "note"]
    assert head.rows == [["1", "multi\nline"], ["2", 'q "x"']]
    lines = to_csv_lines(head.header, head.rows, ",")
    assert list(csv.reader(io.StringIO("\n".join(lines) + "\n", newline=""))) == [head.header, *head.rows]


@pytest.mark.parametrize("chunk", [1, 2, 5, 1 << 20])
def test_cr_only_export_counts_every_record(chunk):
    # 921 CR-terminated records and one LF (the shape seen in old Mac exports): 921 records
    data = b"id,name\r" + b"".join(b"%d,n%d\r" % (i, i) for i in range(920)) + b"\n"
    res = count_records(io.BytesIO(data), CsvDialect(), chunk_bytes=chunk)
    assert (res.records, res.data_rows) == (921, 920)
    assert res.records == reference_records(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(field, min_size=1, max_size=4), max_size=12), st.integers(1, 16),
       st.sampled_from(["\n", "\r", "\r\n"]))
def test_round_trip_with_every_line_ending(rows, chunk, ending):
    buf = io.StringIO()
    csv.writer(buf, lineterminator=ending).writerows(rows)
    data = buf.getvalue().encode("utf-8")
    assert fast(data, chunk=chunk) == reference_records(data)
