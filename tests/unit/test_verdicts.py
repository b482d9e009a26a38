"""Issue 21's odd files through the extractor without Spark, and the pure rules behind them;
tests/integration/test_verdicts_vs_spark.py reads the same files with the lane's real Spark."""

from __future__ import annotations

import io
import json
import struct
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.orc as orc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.metadata.extractor import MetadataExtractor  # noqa: E402
from executor.metadata.model import TABLE_NOTE, MetadataResult, TableFacts  # noqa: E402
from executor.metadata.readers import orc_footer as of  # noqa: E402
from executor.metadata.readers import parquet_footer as pf  # noqa: E402
from executor.metadata.readers.avro import AvroFormatError, java_schema, spark_columns, valid_decimal  # noqa: E402
from executor.metadata.readers.base import first_line  # noqa: E402
from executor.metadata.readers.csv import column_names  # noqa: E402
from executor.metadata.readers.json import first_value, scan_json  # noqa: E402
from executor.metadata.types.json_inference import root_columns  # noqa: E402
from executor.settings import Settings  # noqa: E402
from tests import verdict_files as vf  # noqa: E402


def extract(path: Path) -> dict[str, TableFacts]:
    return {t.table_name: t for t in MetadataExtractor(spark=None, settings=Settings(io_threads=2))
            .extract_metadata(str(path)).tables}


def types(t: TableFacts) -> list[tuple[str, str]]:
    return [(c.column_name, c.data_type) for c in t.columns]


# --------------------------------------------------------------------------- Parquet


def test_impala_and_legacy_maps_are_read(tmp_path):
    vf.write_impala_maps(tmp_path)
    tables = extract(tmp_path)
    for name in ("impala_map", "outer_key_value_map"):
        t = tables[name]
        assert t.status == "ok", t.error_message
        assert (t.row_count, types(t)) == (6, [("id", "bigint"), ("m", "map<string,int>")])
        assert t.columns[1].sample_values[0] == '[["a", 1], ["b", 2]]' and t.column_notes == {}


def test_groups_annotated_other_than_map_or_list_fail(tmp_path):
    vf.write_group_annotations(tmp_path)
    tables = extract(tmp_path)
    for name in ("group_utf8", "group_enum", "group_logical_string"):
        assert tables[name].status == "failed", name
        assert "Unrecognized Parquet type: group st" in tables[name].error_message
    assert "logicalType is none that Parquet defines (member 99)" in tables["group_logical_unknown"].error_message


def _node(name, rep="optional", physical=None, converted=None, children=()):
    return pf.SchemaNode(name=name, repetition=rep, physical=physical, converted=converted, logical=None,
                         children=list(children))


def _root(*children):
    return _node("schema", "required", children=children)


def test_spark_refusal_walks_as_the_converter_does():
    key, value = _node("key", "required", physical=6), _node("value", physical=1)
    kv = _node("map", "repeated", converted=pf.CT_MAP_KEY_VALUE, children=[key, value])
    assert pf.spark_refusal(_root(_node("m", converted=pf.CT_MAP, children=[kv]))) is None
    three = _node("kv", "repeated", children=[key, value, _node("x", physical=1)])
    assert "Invalid map type: m" in pf.spark_refusal(_root(_node("m", converted=pf.CT_MAP, children=[three])))
    # a 3-level LIST: the repeated group's own annotation is never converted, only its child
    element = _node("element", physical=1)
    odd = _node("list", "repeated", converted=pf.CT_MAP, children=[element])
    assert pf.spark_refusal(_root(_node("l", converted=pf.CT_LIST, children=[odd]))) is None
    # a 2-level LIST whose repeated group is the element: its annotation is converted
    legacy = _node("array", "repeated", converted=pf.CT_MAP, children=[element])
    assert "Invalid map type: l.array" in pf.spark_refusal(_root(_node("l", converted=pf.CT_LIST, children=[legacy])))
    assert "Invalid list type" in pf.spark_refusal(_root(_node("l", converted=pf.CT_LIST, children=[element])))


def test_corrupt_footers_fail_and_tolerated_ones_read(tmp_path):
    expect = vf.write_corrupt_footers(tmp_path)
    tables = extract(tmp_path)
    names = {"no_version": "'version' of FileMetaData", "no_num_rows": "'num_rows' of FileMetaData",
             "no_row_groups": "'row_groups' of FileMetaData", "num_rows_as_binary": "'num_rows' of FileMetaData",
             "created_by_as_i32": "'created_by' of FileMetaData", "rg_without_num_rows": "'num_rows' of RowGroup",
             "rg_num_rows_as_binary": "'num_rows' of RowGroup", "chunk_without_codec": "'codec' of ColumnMetaData",
             "chunk_unknown_codec": "'codec' of ColumnMetaData", "chunk_without_metadata": "no ColumnMetaData",
             "element_without_name": "'name' of SchemaElement"}
    assert set(names) == {n for n, s in expect.items() if s == "failed"}
    for name, status in expect.items():
        t = tables[name]
        assert t.status == status, (name, t.error_message)
        if status == "failed":
            assert t.error_message.startswith(f"{name}/part-0.parquet: corrupt Parquet footer: "), t.error_message
            assert names[name] in t.error_message and "Spark cannot read this file" in t.error_message
        else:
            assert (t.row_count, types(t)) == (6, [("id", "bigint"), ("v", "string")])


def test_validate_skips_wrong_optional_fields_and_refuses_missing_required_ones():
    elem = [[1, pf.T_I32, 1], [4, pf.T_BINARY, b"d"], [10, pf.T_STRUCT, [[5, pf.T_STRUCT, [[1, pf.T_I32, 2]]]]]]
    meta = [[1, pf.T_I32, 1], [2, pf.T_LIST, [pf.T_STRUCT, [[[4, pf.T_BINARY, b"s"], [5, pf.T_I32, 1]], elem]]],
            [3, pf.T_I64, 0], [4, pf.T_LIST, [pf.T_STRUCT, []]]]
    with pytest.raises(pf.FooterError, match="'precision' of DECIMAL"):
        pf.validate_file_metadata(meta)
    elem[2][2][0][2].append([2, pf.T_I32, 9])
    elem.append([6, pf.T_BINARY, b"not an enum"])  # optional, wrong type: skipped as parquet-mr skips it
    kept = pf.validate_file_metadata(meta)
    assert pf.get(pf.get(kept, 2)[1][1], 6) is None


def test_spark_count_follows_the_vectorized_reader():
    def groups(*counts):
        return [pf.RowGroupFacts(num_rows=n, start=4 + 100 * i, size=100, end=104 + 100 * i) for i, n in enumerate(counts)]

    assert pf.spark_count(groups(2, 2, 2), 10_000).rows == 6
    assert pf.spark_count(groups(-2, -2), 10_000).rows == 0
    assert pf.spark_count(groups(2, -1, 2, 2), 10_000).rows == 6
    assert pf.spark_count(groups(5, -3, 2, 0), 10_000).rows == 5
    assert pf.spark_count(groups(10_000, -9_000, 2, 2), 10_000).rows == 4096
    # midpoints: 54, 154, 254; a 200-byte file keeps the first two, the second cut short
    count = pf.spark_count(groups(3, 4, 5), 200)
    assert (count.rows, count.outside, count.cut) == (7, [2], [1])


def test_row_counts_as_spark_counts_them(tmp_path):
    expect = vf.write_row_counts(tmp_path)
    tables = extract(tmp_path)
    for name, rows in expect.items():
        t = tables[name]
        assert (t.status, t.row_count) == ("ok", rows), name
        declared = sum(vf.ROW_COUNTS[name][0])
        if any(n < 0 for n in vf.ROW_COUNTS[name][0]):
            assert f"declares negative row counts ({declared} rows in all" in t.column_notes[TABLE_NOTE]
            assert f"Spark's count() returns {rows}" in t.column_notes[TABLE_NOTE]
        else:
            assert TABLE_NOTE not in t.column_notes


def test_truncated_files_count_the_row_groups_inside(tmp_path):
    expect = vf.write_truncated(tmp_path)
    tables = extract(tmp_path)
    for name, rows in expect.items():
        t = tables[name]
        assert (t.status, t.row_count) == ("ok", rows), name
    assert TABLE_NOTE not in tables["not_cut"].column_notes
    assert tables["not_cut"].columns[0].sample_values == ["0", "1", "2", "3", "4"]
    first = tables["cut_in_first"].column_notes[TABLE_NOTE]
    assert "row group(s) 2, 3 (2000 rows declared) lie past the end of the file" in first
    assert "row group(s) 1 end past the end of the file's data" in first
    assert "some values cannot be read" in first and "no scan read them" in first
    assert "row group(s) 3 (1000 rows declared)" in tables["cut_in_third"].column_notes[TABLE_NOTE]
    assert "row group(s) 2 end past" in tables["cut_in_second"].column_notes[TABLE_NOTE]
    assert "row group(s) 3 end past" in tables["cut_just_before_the_end"].column_notes[TABLE_NOTE]
    # samples come from the row groups Spark reads: none past the end, so these read cleanly
    early = tables["cut_before_second_midpoint"]
    assert "cannot be read" not in early.column_notes[TABLE_NOTE] and early.columns[0].sample_values


def test_non_utf8_column_name_is_read_as_java_decodes_it(tmp_path):
    vf.write_bad_utf8_name(tmp_path)
    (t,) = extract(tmp_path).values()
    assert t.status == "ok", t.error_message
    assert types(t) == [("id", "bigint"), (pf.java_utf8(vf.BAD_NAME), "string")]
    assert pf.java_utf8(vf.BAD_NAME) != vf.BAD_NAME.decode("utf-8", "replace")  # Python's rules differ
    assert t.row_count == 6 and t.columns[1].sample_values == ["v0", "v1", "v2", "v3", "v4"]


def test_java_utf8_replaces_as_the_jdk_does():
    assert pf.java_utf8("naïve 😀".encode()) == "naïve 😀"
    assert pf.java_utf8(b"\xed\xa0\x80") == "\ufffd"  # an encoded surrogate: one replacement (Python: three)
    assert pf.java_utf8(b"\xc0\xaf\xe0\x80\x80") == "\ufffd" * 5
    assert pf.java_utf8(b"x\xf0\x9f\x98") == "x\ufffd" and pf.java_utf8(b"\xf0\x9f\x98!") == "\ufffd!"
    assert pf.java_utf8(b"\xe2\x82x") == "\ufffdx" and pf.java_utf8(b"\xc3") == "\ufffd"


def test_deep_thrift_nesting_is_a_footer_error():
    deep = b"\x1c" * 200 + b"\x00" * 200  # field 1 of type struct, 200 levels deep
    with pytest.raises(pf.FooterError, match="nested more than 64 levels"):
        pf.footer_facts(deep)


# --------------------------------------------------------------------------- ORC


def test_orc_decimals_and_versions_as_the_java_reader_sees_them(tmp_path):
    vf.write_orc_classes(tmp_path)
    tables = extract(tmp_path)
    want = {"decimal_bare": "decimal(38,10)", "decimal_scale_only": "decimal(38,4)",
            "decimal_precision_only": "decimal(20,10)"}
    for name, dtype in want.items():
        t = tables[name]
        assert t.status == "ok" and types(t) == [("id", "bigint"), ("d", dtype)] and t.row_count == 3, name
        assert "no precision or scale" in t.column_notes["d"] and t.columns[1].sample_values == []
        assert t.columns[0].sample_values == ["1", "2", "3"]
    refused = tables["decimal_precision_below_default_scale"]
    assert refused.status == "failed" and "decimal precision 5 is out of range" in refused.error_message
    for name in ("version_0_11", "version_0_12", "version_pre_2_0"):
        t = tables[name]
        assert (t.status, t.row_count, types(t)) == ("ok", 3, [("id", "bigint"), ("d", "decimal(10,2)")]), name
    assert tables["version_0_11"].column_notes == {} and tables["version_0_11"].columns[1].sample_values
    # a 0.12 stripe labelled UNSTABLE-PRE-2.0: counted from the footer, its values unreadable (Spark's
    # scan fails too), and the table says so
    assert "no scan read them" in tables["version_pre_2_0"].column_notes[TABLE_NOTE]
    for name, version in (("version_future", "0.13"), ("version_19_99", "19.99")):
        t = tables[name]
        assert t.status == "failed" and f"written in ORC format version {version}" in t.error_message, name
        assert t.error_message.startswith(f"{name}/part-0.orc: ")


def test_truncated_orc_fails_as_spark_count_fails(tmp_path):
    expect = vf.write_orc_truncated(tmp_path)
    tables = extract(tmp_path)
    for name, status in expect.items():
        t = tables[name]
        assert t.status == status, (name, t.error_message)
    assert tables["orc_whole"].row_count == 30000
    assert "stripe(s) 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 4 more of 15 end past the file's data" in \
        tables["orc_cut_in_stripe_2"].error_message


@pytest.mark.parametrize("codec", ["uncompressed", "zlib", "snappy", "lz4", "zstd"])
def test_orc_tail_is_read_in_every_codec(codec):
    import decimal

    buf = io.BytesIO()
    table = pa.table({"id": list(range(50)), "d": pa.array([decimal.Decimal("1.25")] * 50, pa.decimal128(10, 2)),
                      "s": [f"some text {i}" for i in range(50)]})
    orc.write_table(table, buf, compression=codec)
    tail = of.parse_tail(buf.getvalue())
    assert (tail.rows, tail.version) == (50, [0, 12])
    assert of.column_decimals(tail) == {("d",): (10, 2)}


def test_java_decimal_defaults():
    assert of.java_decimal(of.OrcType(14)) == (38, 10)
    assert of.java_decimal(of.OrcType(14, scale=4)) == (38, 4)
    assert of.java_decimal(of.OrcType(14, precision=12)) == (12, 10)
    assert "out of range" in of.java_decimal(of.OrcType(14, precision=0, scale=0))
    assert of.java_decimal(of.OrcType(14, precision=5, scale=2)) == (5, 2)


def test_corrupt_orc_tail_fails_with_a_clear_message(tmp_path):
    (tmp_path / "bad.orc").write_bytes(b"ORC" + b"\x00" * 20 + b"\x05")
    (t,) = extract(tmp_path).values()
    assert t.status == "failed" and t.error_message.startswith("bad.orc: corrupt ORC tail: ")


# --------------------------------------------------------------------------- Avro


def test_avro_schemas_spark_cannot_convert_fail(tmp_path):
    vf.write_avro_classes(tmp_path)
    tables = extract(tmp_path)
    for name in ("top_level_int", "top_level_array", "top_level_union"):
        t = tables[name]
        assert t.status == "failed" and "Avro schema cannot be converted to a Spark SQL StructType" in t.error_message
        assert t.error_message.startswith(f"{name}/part-0.avro: the top-level Avro schema is ")
    for name, p in (("decimal_over_38", 40), ("decimal_fixed_over_38", 45), ("decimal_nested_over_38", 39)):
        t = tables[name]
        assert t.status == "failed" and "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION" in t.error_message, name
        assert f"decimal({p}," in t.error_message
    assert types(tables["decimal_38"]) == [("d", "decimal(38,5)")]
    assert tables["decimal_38"].columns[0].sample_values == ["1.50000"]
    # decimals Avro's Java library ignores as invalid are their plain type (binary), values sampled
    for name, sample in (("decimal_fixed_too_small", "00000007"), ("decimal_scale_over_precision", "07"),
                         ("decimal_precision_zero", "07")):
        t = tables[name]
        assert (t.status, types(t), t.columns[0].sample_values) == ("ok", [("d", "binary")], [sample]), name
        assert t.column_notes == {}, name
    # a value fastavro cannot convert is not a corrupt file: that column has no samples, the others do
    far = tables["far_timestamp"]
    assert (far.status, types(far)) == ("ok", [("id", "bigint"), ("t", "timestamp")])
    assert far.columns[0].sample_values == ["1"] and far.columns[1].sample_values == []
    assert "cannot be converted" in far.column_notes["t"] and TABLE_NOTE not in far.column_notes


def test_valid_decimal_follows_avro_java():
    assert valid_decimal({"type": "bytes", "precision": 40, "scale": 2}) == (40, 2)
    assert valid_decimal({"type": "bytes", "precision": 3, "scale": 5}) is None
    assert valid_decimal({"type": "bytes", "scale": 1}) is None
    assert valid_decimal({"type": "bytes", "precision": "10"}) is None
    assert valid_decimal({"type": "fixed", "size": 4, "precision": 9}) == (9, 0)
    assert valid_decimal({"type": "fixed", "size": 4, "precision": 10}) is None
    assert valid_decimal({"type": "fixed", "size": 16, "precision": 38}) == (38, 0)
    assert valid_decimal({"type": "fixed", "size": 200, "precision": 1000}) == (1000, 0)
    schema = {"type": "record", "name": "r", "fields": [
        {"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 0}}]}
    assert java_schema(schema)["fields"][0]["type"] == {"type": "bytes"}


def test_avro_schema_errors_say_what_is_wrong():
    with pytest.raises(AvroFormatError, match="a type without its 'name' attribute"):
        spark_columns({"type": "record", "fields": []})
    with pytest.raises(AvroFormatError, match="without its 'type' attribute"):
        spark_columns({"type": "record", "name": "r", "fields": [{"name": "a"}]})


# --------------------------------------------------------------------------- JSON and CSV


def test_multiline_json_takes_the_first_value(tmp_path):
    vf.write_json_classes(tmp_path)
    tables = extract(tmp_path)
    want = {"pretty_objects": (1, [("a", "bigint"), ("b", "string")]),
            "pretty_objects_no_newline": (1, [("a", "bigint")]),
            "object_then_garbage": (1, [("a", "bigint"), ("n", "struct<x:array<bigint>>")]),
            "array_then_object": (2, [("a", "bigint")]),
            "broken_first_object": (1, [("_corrupt_record", "string")])}
    for name, (rows, cols) in want.items():
        t = tables[name]
        assert (t.status, t.row_count, types(t)) == ("ok", rows, cols), name
    assert tables["pretty_objects"].malformed_records == 0
    assert tables["broken_first_object"].malformed_records == 1


def test_json_lines_take_each_line_s_first_value(tmp_path):
    vf.write_json_lines(tmp_path)
    (t,) = extract(tmp_path).values()
    assert (t.status, t.row_count, types(t)) == ("ok", 5, [("_corrupt_record", "string"), ("a", "bigint")])
    assert t.malformed_records == 1


def test_first_value_encodings():
    assert first_value('\ufeff {"a": 1} {"b": 2}'.encode("utf-8")) == {"a": 1}
    assert first_value('{"a": 1}\n{"b": 2}'.encode("utf-16")) == {"a": 1}
    with pytest.raises(ValueError):
        first_value(b"{\n  \"a\": \n}")
    scan = scan_json(io.BytesIO(b'{\n "a": 1\n}\n{\n "a": "x"\n}\n'))
    assert (scan.mode, scan.rows, [(n, str(t)) for n, t in root_columns(scan.root)]) == ("document", 1, [("a", "bigint")])


def test_csv_blank_header_cells_are_named_as_spark_names_them(tmp_path):
    vf.write_csv_classes(tmp_path)
    tables = extract(tmp_path)
    names = {"blank_cells": ["id", "_c1", "name", "_c3", "_c4"], "quoted_blank": ["id", "_c1", "v"],
             "space_cell": ["id", " ", "v"], "blank_and_duplicates": ["_c0", "a", "A", "_c3", "a"]}
    for name, want in names.items():
        t = tables[name]
        assert t.status == "ok" and [c.column_name for c in t.columns] == want, name
    t = tables["blank_and_c_name"]
    assert t.status == "failed" and "COLUMN_ALREADY_EXISTS" in t.error_message
    assert t.error_message.startswith("blank_and_c_name/part-0.csv: header columns 1 and 2 are both named `_c1`")


def test_column_names_rule():
    assert column_names(None, ["_c0", "_c1"]) == ["_c0", "_c1"]
    assert column_names(["a", ""], ["a", "_c1", "_c2"]) == ["a", "_c1", "_c2"]
    with pytest.raises(Exception, match="COLUMN_ALREADY_EXISTS"):
        column_names(["a", "a", "A1"], ["a0", "a1", "A1"])


# --------------------------------------------------------------------------- errors and notes


def test_raw_python_errors_are_said_as_unexpected_content():
    assert first_line(KeyError("schemaString")) == (
        "unexpected content: a field the format requires is missing ('schemaString')")
    assert first_line(TypeError("the JSON object must be str, bytes or bytearray, not NoneType")).startswith(
        "unexpected content: a value of the wrong type or size (TypeError: the JSON object must be")
    assert first_line(struct.error("unpack requires a buffer of 4 bytes")).startswith("unexpected content")
    assert first_line(ValueError("plain message")) == "plain message"


def test_delta_metadata_without_schema_string_says_so(tmp_path):
    log = tmp_path / "t" / "_delta_log"
    log.mkdir(parents=True)
    commit = [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
              {"metaData": {"id": "x", "format": {"provider": "parquet"}, "partitionColumns": []}}]
    (log / "00000000000000000000.json").write_text("\n".join(json.dumps(a) for a in commit) + "\n")
    (t,) = extract(tmp_path).values()
    assert t.status == "failed" and "metaData action has no schemaString" in t.error_message
    commit[1]["metaData"]["schemaString"] = "{not json"
    (log / "00000000000000000000.json").write_text("\n".join(json.dumps(a) for a in commit) + "\n")
    (t,) = extract(tmp_path).values()
    assert t.status == "failed" and "schemaString is not valid JSON" in t.error_message


def test_table_notes_render_as_table_lines():
    from executor.ops.summary import render_summary
    from executor.run import table_notes

    t = TableFacts("pq/cut", "/x", "parquet", 1, 10)
    t.add_table_note("a.parquet: row group(s) 3 lie past the end")
    t.add_table_note("a.parquet: row group(s) 3 lie past the end")  # once
    t.column_notes["v"] = "no samples"
    notes = table_notes(MetadataResult("/x", "local", tables=[t]))
    text = render_summary({"run_id": "r", "status": "succeeded", "summary": {"tables": 1, **notes}})
    assert "    table pq/cut: a.parquet: row group(s) 3 lie past the end\n" in text + "\n"
    assert "column pq/cut.v: no samples" in text
    assert t.column_notes[TABLE_NOTE].count("lie past") == 1


# --------------------------------------------------------------------------- no raw Python error


RAW = (KeyError, TypeError, AttributeError, IndexError, struct.error, RecursionError, UnicodeDecodeError)


def _mutations(data: bytes, seed: int, n: int):
    import random

    rnd = random.Random(seed)
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(len(b))
            b[i] = rnd.randrange(256) if rnd.random() < 0.7 else b[i] ^ (1 << rnd.randrange(8))
        if rnd.random() < 0.2:
            del b[rnd.randrange(len(b)):]
        yield bytes(b)


def test_corrupt_metadata_never_leaks_a_raw_python_error():
    """Footers, tails and headers with random bytes changed: each reader either reads them or says
    what is wrong in its own error (FooterError, OrcTailError, AvroFormatError, EOFError)."""
    import pyarrow.parquet as pq

    from executor.metadata.readers.avro import read_avro_facts

    buf = io.BytesIO()
    pq.write_table(pa.table({"a": [1, 2], "m": pa.array([[("k", 1)], None], pa.map_(pa.string(), pa.int32())),
                             "l": [[1.5], []], "s": [{"x": "y"}, None]}), buf, row_group_size=1)
    footer = pf.read_footer_bytes(buf)
    for data in _mutations(footer, 1, 1500):
        try:
            facts = pf.footer_facts(data)
            if pf.spark_refusal(facts.root) is None:
                pf.tree_spark_columns(facts.root)
            facts.spark_rows(10_000)
        except RAW as exc:
            raise AssertionError(f"raw {type(exc).__name__} from footer {data.hex()}") from exc
        except (pf.FooterError, ValueError):
            pass
    buf = io.BytesIO()
    orc.write_table(pa.table({"a": [1, 2], "d": pa.array([1, 2], pa.decimal128(5, 1))}), buf, compression="zlib")
    tail = buf.getvalue()[-200:]
    for data in _mutations(tail, 2, 1500):
        try:
            t = of.parse_tail(data)
            of.version_refusal(t)
            of.column_decimals(t)
        except RAW as exc:
            raise AssertionError(f"raw {type(exc).__name__} from ORC tail {data.hex()}") from exc
        except of.OrcTailError:
            pass
    avro = vf._avro_bytes({"type": "record", "name": "r", "fields": [
        {"name": "a", "type": ["null", "long"]}, {"name": "m", "type": {"type": "map", "values": "string"}}]},
        [{"a": 1, "m": {"k": "v"}}, {"a": None, "m": {}}])
    for data in _mutations(avro, 3, 1500):
        try:
            spark_columns(read_avro_facts(io.BytesIO(data)).schema)
        except RAW as exc:
            raise AssertionError(f"raw {type(exc).__name__} from Avro file {data.hex()}") from exc
        except (AvroFormatError, EOFError):
            pass
