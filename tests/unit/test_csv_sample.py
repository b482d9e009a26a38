"""The columnar sample reader (csv_scan.read_sample) gives exactly read_head's records (Python's
csv module), whichever way it reads them: columns cut from plain text, or read_head's fallback."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.metadata import csv_scan
from executor.metadata.csv_scan import CsvDialect, read_head, read_sample


class Trickle(io.RawIOBase):
    """A stream that gives at most `step` bytes per read (chunk edges anywhere)."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = min(len(b), self.step, len(self.data) - self.pos)
        b[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def both(data: bytes, dialect: CsvDialect, max_records: int, step: int | None = None):  # type: ignore[no-untyped-def]
    ref = read_head(io.BytesIO(data), dialect, max_records)
    stream = io.BytesIO(data) if step is None else Trickle(data, step)
    got = read_sample(stream, dialect, max_records)  # type: ignore[arg-type]
    return ref, got


def same(data: bytes, dialect: CsvDialect = CsvDialect(), max_records: int = 1000, step: int | None = None) -> str:
    ref, got = both(data, dialect, max_records, step)
    assert got.header == ref.header
    assert got.to_rows() == ref.rows
    assert got.n == len(ref.rows)
    # a sample of the whole file gives the file's count: count_records' own (the window's files are
    # not counted apart); the facts step's bound is never below it
    count = csv_scan.count_records(io.BytesIO(data), dialect)
    # the same sample from the file's bytes in memory (the store's cache), read in place
    in_place = csv_scan.read_sample_of(data, dialect, max_records)
    assert (in_place.header, in_place.to_rows()) == (ref.header, ref.rows)
    for sample in (got, in_place):
        if sample.file_records is not None:
            assert sample.file_records == count.records
            whole = sample.whole_count(dialect)
            assert whole is not None and (whole.records, whole.data_rows) == (count.records, count.data_rows)
        else:
            assert sample.whole_count(dialect) is None
    assert csv_scan.records_bound(data) >= count.records
    return "columns" if got.columns is not None else "rows"


PLAIN = [
    b"a,b\n1,2\n3,4\n",
    b"a,b\n1,2\n3,4",  # no final newline
    b'"a","b"\n1,"x y"\n"",2\n',  # whole-field quotes, an empty quoted field
    b"a,b\r\n1,2\r\n3,4\r\n",  # CR LF
    b"a,b\n\n1,2\n\n\n3,4\n\n",  # blank lines are no records
    b"a,b\r\n\r\n1,2\r\n",
    "h\u00e9,x\n\u00e9t\u00e9,\u20ac\n".encode(),  # multi-byte UTF-8
    b"a,b\n,\n,x\n",  # empty fields
    b"a\n1\n\n2\n",  # one column
    b"",
    b"\n\n",
    b"a,b\n",  # a header only
    b'a,b\n1," x "\n',  # spaces inside quotes
    b'a,b\n1,"x,y"\n"a,,b",2\r\n',  # delimiters inside quotes
    b'a,b\n1,"x\ny"\n2,"\r\n"\n',  # newlines inside quotes
    b'"a\nb",c\n1,2\n',  # in the first record
]

NOT_PLAIN = [
    b'a,b\n1,"he said ""hi"""\n',  # doubled quotes
    b'a,b\n1,5" screen\n2,3\n',  # a stray quote
    b'a,b\n1,"x"y\n2,3\n',  # text after the closing quote
    b'a,b\n1,"unterminated\n2,3\n',
    b"a,b\r1,2\r3,4\r",  # CR-only endings
    b"a,b\r\n1,2\r3,4\n",  # mixed endings
    b"a,b\n1,2,3\n4\n",  # records of different widths
    b"a,b\n1,\x002\n",  # NUL
]


@pytest.mark.parametrize("data", PLAIN)
@pytest.mark.parametrize("header", [True, False])
def test_plain_text_is_read_as_columns(data, header):
    kind = same(data, CsvDialect(header=header))
    assert kind == "columns"
    # read whole: the sample knows the file's count
    assert read_sample(io.BytesIO(data), CsvDialect(header=header), 1000).file_records is not None


def test_a_sample_that_stops_early_or_decodes_with_loss_gives_no_count(monkeypatch):
    monkeypatch.setattr(csv_scan, "SAMPLE_READ_BYTES", 8)
    data = b"id,v\n" + b"".join(b"%d,x\n" % i for i in range(50))
    assert read_sample(io.BytesIO(data), CsvDialect(), 3).file_records is None  # the rest never read
    assert csv_scan.read_sample_of(data, CsvDialect(), 3).file_records is None  # nor looked at
    assert read_sample(io.BytesIO(data), CsvDialect(), 100).file_records == 51
    assert csv_scan.read_sample_of(data, CsvDialect(), 100).file_records == 51
    lossy = b"id,name\n1,ab\xff\n2,c\n"  # invalid UTF-8: the parsed text is not the file's bytes
    assert read_sample(io.BytesIO(lossy), CsvDialect(), 10).file_records is None
    latin = "id;n\xe4me\n1;gr\xfc\xdf\n".encode("iso-8859-1")  # every Latin-1 byte decodes
    assert read_sample(io.BytesIO(latin), CsvDialect(delimiter=";", encoding="iso-8859-1"), 10).file_records == 2


@pytest.mark.parametrize("data", NOT_PLAIN)
@pytest.mark.parametrize("header", [True, False])
def test_other_text_falls_back_to_the_csv_module(data, header):
    kind = same(data, CsvDialect(header=header))
    assert kind == "rows"


def test_bom_latin1_and_invalid_utf8():
    same(b"\xef\xbb\xbfid,name\n1,x\n", CsvDialect(bom=True))
    assert read_sample(io.BytesIO(b"\xef\xbb\xbfid,name\n1,x\n"), CsvDialect(bom=True), 5).header == ["id", "name"]
    same(b"\xef\xbb\xbf\xef\xbb\xbfid,name\n1,x\n", CsvDialect(bom=True))  # a second BOM is text
    same("id;n\xe4me\n1;gr\xfc\xdf\n".encode("iso-8859-1"), CsvDialect(delimiter=";", encoding="iso-8859-1"))
    same(b"id,name\n1,ab\xff\xfecd\n2,\xc3\n", CsvDialect())  # invalid UTF-8: replaced as the csv path does
    same(b"a\tb\n1\t\"x\"\n", CsvDialect(delimiter="\t"))


@pytest.mark.parametrize("max_records", [0, 1, 2, 5])
def test_the_record_limit_and_reads_in_small_pieces(max_records, monkeypatch):
    monkeypatch.setattr(csv_scan, "SAMPLE_READ_BYTES", 3)
    data = b'id,v\n1,"a"\n\n2,b\r\n3,c\n4,d\n5,"e"\n6,f'
    for step in (1, 2, 5, 100):
        same(data, CsvDialect(), max_records, step)
        same(data, CsvDialect(header=False), max_records, step)
        same(b'id,v\n1,"a\nb"\n2,c\n3,d\n', CsvDialect(), max_records, step)  # the fallback after a partial read


def test_a_multibyte_character_across_reads(monkeypatch):
    monkeypatch.setattr(csv_scan, "SAMPLE_READ_BYTES", 1)
    same("a,b\n\u00e9\u20ac,\U0001f600\n\u00e9,x\n".encode(), CsvDialect(), 10, 1)


def test_columns_are_arrow_strings():
    got = read_sample(io.BytesIO(b'a,b\n1,"x"\n2,\n'), CsvDialect(), 10)
    assert got.columns is not None
    assert [c.to_pylist() for c in got.columns] == [["1", "2"], ["x", ""]]
    for c in got.columns:
        c.validate(full=True)


cell = st.text(alphabet=st.sampled_from(list('ab,"\n\r \t;\u00e9\u20ac\x00')), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(cell, min_size=1, max_size=4), max_size=10), st.sampled_from(["\n", "\r\n", "\r"]),
       st.booleans(), st.integers(0, 12), st.integers(1, 9))
def test_written_csv_agrees_with_the_csv_module(rows, ending, header, max_records, step):
    buf = io.StringIO()
    csv.writer(buf, lineterminator=ending).writerows(rows)
    same(buf.getvalue().encode("utf-8"), CsvDialect(header=header), max_records, step)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab,"\n\r \u00e9')), max_size=40), st.booleans(), st.integers(0, 6),
       st.integers(1, 9))
def test_arbitrary_text_agrees_with_the_csv_module(text, header, max_records, step):
    same(text.encode("utf-8"), CsvDialect(header=header), max_records, step)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.booleans(), st.integers(1, 9))
def test_arbitrary_bytes_agree_with_the_csv_module(data, header, step):
    same(data.replace(b"\x00", b""), CsvDialect(header=header), 8, step)


def test_the_count_reads_its_first_range_through_the_shared_read():
    from executor.metadata.csv_scan import count_records_ranges

    data = b"id,v\n" + b"".join(b'%d,"x%d"\n' % (i, i) for i in range(500))
    seeks: list[int] = []

    class Tracked(io.BytesIO):
        def seek(self, pos, whence=0):  # type: ignore[no-untyped-def]
            seeks.append(pos)
            return super().seek(pos, whence)

    first = csv_scan.SharedRead()
    res = count_records_ranges(lambda: Tracked(data), len(data), CsvDialect(),  # type: ignore[arg-type]
                               lambda fn, items: [fn(i) for i in items], range_bytes=700, first=first)
    assert res.records == 501 and seeks[0] == 0
    again: list[bool] = []
    assert first.get(lambda: again.append(True) or b"") == data[:700] and not again  # read once


def test_a_shared_read_is_read_once_and_waited_for():
    import threading

    first = csv_scan.SharedRead()
    started, release, reads = threading.Event(), threading.Event(), []

    def slow() -> bytes:
        reads.append(1)
        started.set()
        release.wait(10)
        return b"abc"

    out: list[bytes] = []
    t = threading.Thread(target=lambda: out.append(first.get(slow)))
    t.start()
    started.wait(10)
    threading.Timer(0.05, release.set).start()
    assert first.get(slow) == b"abc"
    t.join(10)
    assert out == [b"abc"] and reads == [1]

    def gone() -> bytes:
        raise OSError("gone")

    failing = csv_scan.SharedRead()
    with pytest.raises(OSError):
        failing.get(gone)
    assert failing.get(lambda: b"mine") == b"mine"  # the first read failed: a later caller reads


@pytest.mark.parametrize("range_bytes", [32 * 1024, 128 * 1024])  # 6 ranges, 2 ranges
def test_a_big_files_sample_shares_the_first_range_with_its_count(tmp_path, monkeypatch, range_bytes):
    """The first range of a file counted from ranges (every uncompressed file above
    COUNT_WITH_FACTS_BYTES) is read once, for the count and the sample, and the table's facts are
    those of a run where each reads it for itself."""
    from executor.metadata.extractor import MetadataExtractor
    from executor.metadata.readers import csv as csv_reader
    from executor.settings import Settings

    (tmp_path / "t").mkdir()
    rows = "".join(f'{i},"n{i % 97}",{i * 0.5},2021-01-{1 + i % 28:02d}\n' for i in range(6000))
    (tmp_path / "t" / "big.csv").write_text("id,name,amount,day\n" + rows)
    (tmp_path / "t" / "small.csv").write_text('id,name,amount,day\n1,"a",2.5,2021-02-01\n')
    monkeypatch.setattr(csv_reader, "COUNT_WITH_FACTS_BYTES", 4096)  # counted by prefetch, from ranges
    monkeypatch.setattr(csv_scan, "RANGE_BYTES", range_bytes)
    settings = Settings(io_threads=4, infer_sample_records=200, profile_max_rows=5000)

    def facts(result):  # type: ignore[no-untyped-def]
        return [(t.table_name, t.row_count, [(c.column_name, c.data_type, c.sample_values, c.null_count,
                                              c.distinct_count, c.min_value, c.max_value, c.profile_scope)
                                             for c in t.columns]) for t in result.tables]

    shared = MetadataExtractor(None, settings).extract_metadata(str(tmp_path))
    real = csv_reader._count
    monkeypatch.setattr(csv_reader, "_count", lambda store, pf, dialect, pool, first_range=None:
                        real(store, pf, dialect, pool))  # the count reads its first range for itself
    own = MetadataExtractor(None, settings).extract_metadata(str(tmp_path))
    assert facts(shared) == facts(own)
    assert shared.tables[0].row_count == 6001
    assert own.reads["bytes_read"] - shared.reads["bytes_read"] == range_bytes


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["", "a", "b", "A", "x" * 150, "ü", "1", "01"])), max_size=60),
       st.integers(1, 9), st.integers(1, 7))
def test_distinct_samples_from_arrow_slices_equal_those_of_the_values(values, step, count):
    # iter_values gives an Arrow slice's values once each, in order of first appearance: the same
    # distinct samples as every value in order
    import pyarrow as pa

    from executor.metadata.samples import distinct_samples

    column = pa.array(values, pa.string())
    assert distinct_samples(csv_scan.iter_values(column, step), count, 100) == distinct_samples(values, count, 100)


def test_only_the_files_the_sample_may_read_share_their_first_range(tmp_path, monkeypatch):
    """A count's shared first range is kept until the table's sample is read: files beyond
    NUVYN_INFER_SAMPLE_FILES (which the sample never reads) count without one."""
    from executor.metadata.extractor import MetadataExtractor
    from executor.metadata.readers import csv as csv_reader
    from executor.settings import Settings

    (tmp_path / "t").mkdir()
    for k in range(3):
        rows = "".join(f"{i},n{i % 7},{i * 0.5}\n" for i in range(k * 3000, (k + 1) * 3000))
        (tmp_path / "t" / f"part-{k}.csv").write_text("id,name,amount\n" + rows)
    monkeypatch.setattr(csv_reader, "COUNT_WITH_FACTS_BYTES", 4096)  # every file counted from ranges
    monkeypatch.setattr(csv_scan, "RANGE_BYTES", 16 * 1024)
    made = []

    class Counted(csv_scan.SharedRead):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    monkeypatch.setattr(csv_scan, "SharedRead", Counted)
    result = MetadataExtractor(None, Settings(io_threads=4, infer_sample_files=1, infer_sample_records=100,
                                              profile_max_rows=1000)).extract_metadata(str(tmp_path))
    assert result.tables[0].row_count == 9000
    assert len(made) == 1


@pytest.mark.parametrize(("block", "kind"), [(7, "rows"), (64, "columns"), (1000, "columns")])
def test_plain_text_parsed_in_several_blocks_gives_the_same_records(block, kind, monkeypatch):
    """A sample bigger than one block of pyarrow's reader (1 GiB) is parsed in blocks: the same
    records, quoted newlines across block edges included; a record longer than a block (pyarrow
    refuses it) is read by the csv module."""
    monkeypatch.setattr(csv_scan, "PARSE_BLOCK_BYTES", block)
    data = b'id,v\n' + b"".join(b'%d,"x\n%d"\n' % (i, i) if i % 3 else b'%d,"a,b"\n' % i for i in range(200))
    assert same(data, CsvDialect(), 1000) == kind
