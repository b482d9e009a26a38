"""Delta sources: the protocol check and column mapping, against delta-rs (`deltalake`) as the
independent reader (it writes the column-mapped tables here and replays their logs itself)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from executor.metadata.extractor import MetadataExtractor
from executor.metadata.readers.delta import DeltaLogError, check_protocol
from executor.settings import Settings

deltalake = pytest.importorskip("deltalake")


def extract(path: Path):
    return {t.table_name: t for t in MetadataExtractor(spark=None, settings=Settings(io_threads=2))
            .extract_metadata(str(path)).tables}


def _mapped_table(path: Path, mode: str = "name") -> None:
    from deltalake import write_deltalake

    first = pa.table({"Customer Id": pa.array([1, 2, 3], pa.int64()), "full name": ["ann", "bob", None],
                      "Region Code": ["eu", "us", "eu"]})
    write_deltalake(str(path), first, partition_by=["Region Code"],
                    configuration={"delta.columnMapping.mode": mode})
    second = pa.table({"Customer Id": pa.array([4, 5], pa.int64()), "full name": ["cy", "di"],
                       "Region Code": ["us", None]})
    write_deltalake(str(path), second, mode="append")


@pytest.mark.parametrize("mode", ["name", "id"])
def test_column_mapping_gives_logical_names_and_physical_stats(tmp_path, mode):
    from deltalake import DeltaTable

    path = tmp_path / "lake" / "customers"
    _mapped_table(path, mode)
    dt = DeltaTable(str(path))
    assert dt.metadata().configuration["delta.columnMapping.mode"] == mode
    # delta-rs' own SQL engine reads mapped columns (its to_pyarrow_table() gives all-null values for
    # them in deltalake 1.6.6: one reason the executor keeps its own log replay)
    from deltalake import QueryBuilder

    ref = pa.table(QueryBuilder().register("t", dt).execute("select * from t").read_all())
    t = extract(tmp_path / "lake")["customers"]
    assert t.status == "ok", t.error_message
    assert [c.column_name for c in t.columns] == [f.name for f in dt.schema().fields]
    assert {c.column_name: c.data_type for c in t.columns} == {"Customer Id": "bigint", "full name": "string",
                                                              "Region Code": "string"}
    assert t.row_count == ref.num_rows == 5
    adds = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    assert t.file_count == len(adds)
    cols = {c.column_name: c for c in t.columns}
    # statistics found by physical name: exact null count, min and max over every live file
    assert (cols["Customer Id"].min_value, cols["Customer Id"].max_value) == ("1", "5")
    assert cols["full name"].null_count == ref.column("full name").null_count == 1
    assert sorted(cols["full name"].sample_values) == sorted(v for v in ref.column("full name").to_pylist() if v)
    # partition values come keyed by physical name in the log: reported under the logical name
    assert cols["Region Code"].is_partition
    assert sorted(cols["Region Code"].sample_values) == ["eu", "us"]
    assert t.partition_columns == ["Region Code"]
    assert t.column_notes == {}


def _set_protocol(path: Path, protocol: dict) -> None:
    log = path / "_delta_log" / "00000000000000000000.json"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    lines = [{"protocol": protocol} if "protocol" in a else a for a in lines]
    log.write_text("\n".join(json.dumps(a) for a in lines) + "\n")


@pytest.mark.parametrize("protocol,message", [
    ({"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["catalogManaged", "columnMapping"],
      "writerFeatures": ["catalogManaged", "columnMapping"]}, "Delta reader features not supported: catalogManaged"),
    ({"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["zFutureFeature", "deletionVectors"],
      "writerFeatures": []}, "Delta reader features not supported: zFutureFeature"),
    ({"minReaderVersion": 4, "minWriterVersion": 7}, "Delta reader version 4 is not supported"),
])
def test_unsupported_protocol_fails_the_table_naming_it(tmp_path, protocol, message):
    from deltalake import write_deltalake

    path = tmp_path / "lake" / "t"
    write_deltalake(str(path), pa.table({"a": [1, 2]}))
    _set_protocol(path, protocol)
    t = extract(tmp_path / "lake")["t"]
    assert t.status == "failed"
    assert message in t.error_message


def test_supported_features_pass():
    check_protocol({"minReaderVersion": 3, "readerFeatures": ["columnMapping", "deletionVectors", "timestampNtz"]})
    check_protocol({"minReaderVersion": 2})
    with pytest.raises(DeltaLogError, match="rowTracking"):
        check_protocol({"minReaderVersion": 3, "readerFeatures": ["rowTracking"]})


# ----------------------------------------------------------------------------- v2 checkpoints
# Tables written by delta-rs, then given a v2 checkpoint (PROTOCOL.md "V2 Spec") built here from
# their own log; delta-rs reads the result as the independent reader (it supports v2Checkpoint).

_MAP = pa.map_(pa.string(), pa.string())
_ADD = pa.struct([("path", pa.string()), ("partitionValues", _MAP), ("size", pa.int64()),
                  ("modificationTime", pa.int64()), ("dataChange", pa.bool_()), ("stats", pa.string())])
_REMOVE = pa.struct([("path", pa.string()), ("deletionTimestamp", pa.int64()), ("dataChange", pa.bool_())])
_CHECKPOINT_SCHEMA = pa.schema([
    ("protocol", pa.struct([("minReaderVersion", pa.int32()), ("minWriterVersion", pa.int32()),
                            ("readerFeatures", pa.list_(pa.string())), ("writerFeatures", pa.list_(pa.string()))])),
    ("metaData", pa.struct([("id", pa.string()), ("format", pa.struct([("provider", pa.string()), ("options", _MAP)])),
                            ("schemaString", pa.string()), ("partitionColumns", pa.list_(pa.string())),
                            ("createdTime", pa.int64()), ("configuration", _MAP)])),
    ("checkpointMetadata", pa.struct([("version", pa.int64()), ("tags", _MAP)])),
    ("sidecar", pa.struct([("path", pa.string()), ("sizeInBytes", pa.int64()), ("modificationTime", pa.int64()),
                           ("tags", _MAP)])),
    ("add", _ADD), ("remove", _REMOVE)])
V2_PROTOCOL = {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["v2Checkpoint"],
               "writerFeatures": ["v2Checkpoint"]}


def _state(path: Path, version: int) -> tuple[dict, list[dict], list[dict]]:
    """(metaData, live adds, tombstones) after `version`, from the JSON commits (test scaffolding)."""
    meta, live, removed = None, {}, {}
    for v in range(version + 1):
        for line in (path / "_delta_log" / f"{v:020d}.json").read_text().splitlines():
            a = json.loads(line)
            if "metaData" in a:
                meta = a["metaData"]
            elif "add" in a:
                live[a["add"]["path"]] = a["add"]
            elif "remove" in a:
                live.pop(a["remove"]["path"], None)
                removed[a["remove"]["path"]] = a["remove"]
    return meta, list(live.values()), list(removed.values())


def _row(kind: str, value: dict) -> dict:
    if kind == "add":
        value = {k: value.get(k) for k in _ADD.names}
        value["partitionValues"] = list((value["partitionValues"] or {}).items())
    elif kind == "remove":
        value = {k: value.get(k) for k in _REMOVE.names}
    elif kind == "metaData":
        value = {**value, "format": {"provider": "parquet", "options": []},
                 "configuration": list((value.get("configuration") or {}).items())}
    return {kind: value}


def _write_actions(file: Path, rows: list[dict], fmt: str) -> int:
    if fmt == "json":
        file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        import pyarrow.parquet as pq

        names = _CHECKPOINT_SCHEMA.names
        pq.write_table(pa.Table.from_pylist([{n: r.get(n) for n in names} for r in [_row(*next(iter(r.items())))
                                                                                for r in rows]],
                                            schema=_CHECKPOINT_SCHEMA), file)
    return file.stat().st_size


def write_v2_checkpoint(path: Path, version: int, name: str, fmt: str, sidecars: int) -> None:
    """A v2 checkpoint of `version`: `name` is 'uuid' (UUID-named) or 'classic'; `sidecars` files
    hold its add/remove actions (0: inside the checkpoint). Commits before it are then deleted."""
    import uuid

    meta, adds, removes = _state(path, version)
    log = path / "_delta_log"
    files = [{"add": a} for a in adds] + [{"remove": r} for r in removes]
    rows: list[dict] = [{"checkpointMetadata": {"version": version, "tags": None}}, {"protocol": V2_PROTOCOL},
                        {"metaData": meta}]
    if sidecars:
        (log / "_sidecars").mkdir(exist_ok=True)
        for i in range(sidecars):
            side = f"{version:020d}.checkpoint.{i + 1:010d}.{sidecars:010d}.{uuid.uuid4()}.parquet"
            size = _write_actions(log / "_sidecars" / side, files[i::sidecars], "parquet")
            rows.append({"sidecar": {"path": side, "sizeInBytes": size, "modificationTime": 0, "tags": None}})
    else:
        rows += files
    target = (f"{version:020d}.checkpoint.{uuid.uuid4()}.{fmt}" if name == "uuid"
              else f"{version:020d}.checkpoint.parquet")
    _write_actions(log / target, rows, fmt)
    (log / "_last_checkpoint").write_text(json.dumps({"version": version, "size": len(rows)}))
    for v in range(version):
        (log / f"{v:020d}.json").unlink()


def _history(path: Path) -> None:
    from deltalake import DeltaTable, write_deltalake

    write_deltalake(str(path), pa.table({"id": pa.array([1, 2, 3], pa.int64()), "p": ["a", "b", "a"]}),
                    partition_by=["p"])
    for i in range(3):
        write_deltalake(str(path), pa.table({"id": pa.array([10 * i + 4, 10 * i + 5], pa.int64()),
                                             "p": ["b", "c"]}), mode="append")
    DeltaTable(str(path)).delete("id = 2")  # a remove (a tombstone in the checkpoint)


@pytest.mark.parametrize("name,fmt,sidecars", [("uuid", "json", 2), ("uuid", "parquet", 1), ("uuid", "parquet", 0),
                                               ("uuid", "json", 0), ("classic", "parquet", 2)])
def test_v2_checkpoints_are_read_like_delta_rs(tmp_path, name, fmt, sidecars):
    from deltalake import DeltaTable, write_deltalake

    path = tmp_path / "lake" / "t"
    _history(path)  # versions 0-4
    write_v2_checkpoint(path, 3, name, fmt, sidecars)
    write_deltalake(str(path), pa.table({"id": pa.array([99], pa.int64()), "p": ["z"]}), mode="append")  # v5
    dt = DeltaTable(str(path))
    assert dt.protocol().reader_features == ["v2Checkpoint"]
    from deltalake import QueryBuilder  # its to_pyarrow_table() refuses v2Checkpoint; its SQL engine reads it

    ref = pa.table(QueryBuilder().register("t", dt).execute("select * from t").read_all())
    t = extract(tmp_path / "lake")["t"]
    assert t.status == "ok", t.error_message
    assert t.row_count == ref.num_rows == 3 + 6 - 1 + 1
    assert t.file_count == len(dt.file_uris())
    assert [c.column_name for c in t.columns] == ["id", "p"]
    cols = {c.column_name: c for c in t.columns}
    assert sorted(cols["p"].sample_values) == sorted(set(ref.column("p").to_pylist())) == ["a", "b", "c", "z"]
    ids = ref.column("id").to_pylist()
    assert set(cols["id"].sample_values) <= {str(v) for v in ids}
    assert (cols["id"].min_value, cols["id"].max_value) == (str(min(ids)), str(max(ids)))


def test_log_files_are_fetched_once_in_parallel_checkpoint_first(tmp_path):
    """Only the newest checkpoint, its sidecars and the later commits are read, each once, in one
    read; `_last_checkpoint` and older commits are not (the listing names everything)."""
    from concurrent.futures import ThreadPoolExecutor

    from deltalake import write_deltalake

    from executor.metadata.fanout import fan_out
    from executor.metadata.readers.delta import read_delta_log
    from executor.sources.base import FileInfo

    path = tmp_path / "t"
    _history(path)
    write_v2_checkpoint(path, 3, "uuid", "json", 2)
    write_deltalake(str(path), pa.table({"id": pa.array([99], pa.int64()), "p": ["z"]}), mode="append")
    infos = [FileInfo("t/" + p.relative_to(path).as_posix(), str(p), p.stat().st_size)
             for p in sorted((path / "_delta_log").rglob("*")) if p.is_file()]
    opened: list[str] = []
    reads: list[int] = []

    class Recording:
        def __init__(self, uri):
            opened.append(uri)
            self.fh = open(uri, "rb")  # noqa: SIM115 - closed in __exit__

        def read(self, n=-1):
            data = self.fh.read(n)
            if data:
                reads.append(len(data))
            return data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    items: list[list[str]] = []

    def run(fn, seq):
        items.append([i.name for i in seq])
        with ThreadPoolExecutor(4) as pool:
            return fan_out(pool, fn, seq)

    facts = read_delta_log(infos, Recording, run)
    names = sorted(Path(u).name for u in opened)
    assert len(opened) == len(set(opened)) == 5 == len(reads)  # each file opened once, read in one read
    assert [n for n in names if n.endswith(".json") and "checkpoint" not in n] == [f"{v:020d}.json" for v in (4, 5)]
    assert not any(n == "_last_checkpoint" for n in names)
    assert ".checkpoint." in items[0][0] and len(items[0]) == 3  # the checkpoint first, then the commits
    assert len(items[1]) == 2 and all(n.endswith(".parquet") for n in items[1])  # then the two sidecars
    assert facts.version == 5 and facts.checkpoint.kind == "uuid" and facts.log_files_read == 5


def test_missing_sidecar_and_incomplete_multipart_checkpoints(tmp_path):
    from executor.metadata.readers.delta import classify_log
    from executor.sources.base import FileInfo

    path = tmp_path / "lake" / "t"
    _history(path)
    write_v2_checkpoint(path, 3, "uuid", "parquet", 2)
    next((path / "_delta_log" / "_sidecars").iterdir()).unlink()
    t = extract(tmp_path / "lake")["t"]
    assert t.status == "failed" and "names sidecar file" in t.error_message and "_sidecars" in t.error_message
    names = ["00000000000000000002.checkpoint.0000000001.0000000002.parquet",  # part 2 of 2 is missing
             "00000000000000000001.checkpoint.parquet", "00000000000000000002.json",
             "_sidecars/00000000000000000002.checkpoint.0000000001.0000000001.x.parquet"]
    listing = classify_log([FileInfo(f"t/_delta_log/{n}", n, 1) for n in names])
    assert [(c.version, c.kind) for c in listing.checkpoints] == [(1, "classic")]
    assert list(listing.commits) == [2] and len(listing.sidecars) == 1


# ----------------------------------------------------------------------------- type widening
# What delta-spark 3.3.2 and 4.0.0 read, measured with both lanes' Spark on a log per pair
# (TYPE CHANGE -> ok, or the error class); tests/integration/test_delta_protocol_vs_spark.py
# checks the same rule against the lane's own Spark.

MEASURED = [  # (from, to, Delta 3.3.2, Delta 4.0.0)
    ("byte", "short", "ok", "ok"), ("byte", "integer", "ok", "ok"), ("short", "integer", "ok", "ok"),
    ("short", "short", "ok", "ok"), ("byte", "long", "PREVIEW", "ok"), ("short", "long", "PREVIEW", "ok"),
    ("integer", "long", "PREVIEW", "ok"), ("float", "double", "PREVIEW", "ok"), ("byte", "double", "PREVIEW", "ok"),
    ("short", "double", "PREVIEW", "ok"), ("integer", "double", "PREVIEW", "ok"), ("long", "double", "SCHEMA", "SCHEMA"),
    ("date", "timestamp_ntz", "PREVIEW", "ok"), ("date", "timestamp", "SCHEMA", "SCHEMA"),
    ("decimal(5,2)", "decimal(8,3)", "PREVIEW", "ok"), ("decimal(5,2)", "decimal(6,3)", "PREVIEW", "ok"),
    ("decimal(5,2)", "decimal(5,3)", "SCHEMA", "SCHEMA"), ("decimal(5,2)", "decimal(7,2)", "PREVIEW", "ok"),
    ("byte", "decimal(10,0)", "PREVIEW", "ok"), ("integer", "decimal(10,0)", "PREVIEW", "ok"),
    ("integer", "decimal(9,0)", "SCHEMA", "SCHEMA"), ("integer", "decimal(11,1)", "PREVIEW", "ok"),
    ("long", "decimal(20,0)", "PREVIEW", "ok"), ("long", "decimal(19,0)", "SCHEMA", "SCHEMA"),
    ("string", "integer", "SCHEMA", "SCHEMA"), ("integer", "short", "SCHEMA", "SCHEMA"),
    ("float", "decimal(10,2)", "SCHEMA", "SCHEMA"), ("long", "integer", "SCHEMA", "SCHEMA"),
    ("integer", "string", "SCHEMA", "SCHEMA"),
]


@pytest.mark.parametrize("frm,to,v33,v40", MEASURED)
@pytest.mark.parametrize("feature", ["typeWidening", "typeWidening-preview"])
def test_type_changes_follow_the_runtime_delta(frm, to, v33, v40, feature):
    from executor.metadata.readers.delta import check_type_changes

    schema = {"type": "struct", "fields": [{"name": "s", "type": {"type": "struct", "fields": [
        {"name": "v", "type": to, "nullable": True, "metadata": {"delta.typeChanges": [{"fromType": frm, "toType": to}]}}]},
        "nullable": True, "metadata": {}}]}
    protocol = {"minReaderVersion": 3, "readerFeatures": [feature]}
    for spark_version, expected in (("3.5", v33), ("4.0", v40)):
        if expected == "ok":
            check_type_changes(protocol, schema, spark_version)
            continue
        with pytest.raises(DeltaLogError, match=f"DELTA_UNSUPPORTED_TYPE_CHANGE_IN_{expected}") as info:
            check_type_changes(protocol, schema, spark_version)
        assert "Field s.v was changed from " in str(info.value)
    check_type_changes({"minReaderVersion": 3, "readerFeatures": ["columnMapping"]}, schema, "3.5")  # no feature: no check


def test_a_widened_table_is_ok_or_fails_with_deltas_reason(tmp_path):
    from deltalake import write_deltalake

    path = tmp_path / "lake" / "t"
    write_deltalake(str(path), pa.table({"id": pa.array([1, 2], pa.int32())}))
    log = path / "_delta_log" / "00000000000000000000.json"
    actions = [json.loads(line) for line in log.read_text().splitlines()]
    for a in actions:
        if "protocol" in a:
            a["protocol"] = {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["typeWidening"],
                             "writerFeatures": ["typeWidening"]}
        if "metaData" in a:
            a["metaData"]["schemaString"] = json.dumps({"type": "struct", "fields": [
                {"name": "id", "type": "long", "nullable": True,
                 "metadata": {"delta.typeChanges": [{"fromType": "integer", "toType": "long"}]}}]})
    log.write_text("".join(json.dumps(a) + "\n" for a in actions))
    on_35 = extract(tmp_path / "lake")["t"]  # no Spark: the 3.5 rules (Delta 3.3)
    assert on_35.status == "failed"
    assert "DELTA_UNSUPPORTED_TYPE_CHANGE_IN_PREVIEW" in on_35.error_message
    assert "Field id was changed from INT to BIGINT" in on_35.error_message

    from executor.metadata.readers.delta import read_delta_log
    from executor.sources.base import FileInfo

    infos = [FileInfo(f"t/_delta_log/{log.name}", str(log), log.stat().st_size)]
    on_40 = read_delta_log(infos, lambda uri: open(uri, "rb"), spark_version="4.0")  # Delta 4.0 reads it
    assert on_40.columns == [("id", "bigint", True)] and on_40.row_count() == 2
    with pytest.raises(DeltaLogError, match="IN_PREVIEW"):
        read_delta_log(infos, lambda uri: open(uri, "rb"), spark_version="3.5")


def test_deletion_vector_key_includes_its_offset():
    from executor.metadata.readers.delta import _key

    a = {"path": "f.parquet", "deletionVector": {"storageType": "u", "pathOrInlineDv": "ab", "offset": 4}}
    b = {"path": "f.parquet", "deletionVector": {"storageType": "u", "pathOrInlineDv": "ab", "offset": 9}}
    assert _key(a) != _key(b) and _key({"path": "f.parquet"}) != _key(a)


# ----------------------------------------------------------------------------- profile reads


def _counting_extract(lake: Path, **settings):
    """Extract `lake` through a LocalFileStore that records every open(), and the opens."""
    from executor.metadata.extractor import MetadataExtractor
    from executor.sources.local import LocalFileStore

    opened: list[str] = []

    class Recording(LocalFileStore):
        def open(self, uri):
            opened.append(uri)
            return super().open(uri)

    def factory(location, _settings):
        return Recording(location.local_path or location.display)

    result = MetadataExtractor(spark=None, settings=Settings(**settings), store_factory=factory).extract_metadata(
        str(lake))
    return {t.table_name: t for t in result.tables}, opened


def test_profile_data_files_are_read_ahead_once_and_no_further_than_needed(tmp_path):
    from deltalake import write_deltalake

    from executor.metadata.readers.delta import profile_file_limit

    path = tmp_path / "lake" / "t"
    for i in range(20):
        write_deltalake(str(path), pa.table({"id": pa.array(range(i * 100, i * 100 + 100), pa.int64())}),
                        mode="append")
    # every row profiled (20 files <= the limit for 5 threads): each opened once, the profile exact
    assert profile_file_limit(5) == 20
    tables, opened = _counting_extract(tmp_path / "lake", io_threads=5)
    data = [u for u in opened if u.endswith(".parquet")]
    assert len(data) == len(set(data)) == 20
    t = tables["t"]
    assert t.status == "ok" and t.row_count == 2000
    assert {c.column_name: c.profile_scope for c in t.columns} == {"id": "exact"}
    # a 250-row budget: the profile needs 3 files; the read-ahead fetches at most one window more
    tables, opened = _counting_extract(tmp_path / "lake", io_threads=3, profile_max_rows=250)
    data = [u for u in opened if u.endswith(".parquet")]
    assert 3 <= len(data) <= 3 + 3 and len(data) == len(set(data))
    # 2 threads: at most 16 files are read; beyond them the log's statistics keep null count,
    # min and max exact (the distinct count is the sample's)
    tables, opened = _counting_extract(tmp_path / "lake", io_threads=2)
    data = [u for u in opened if u.endswith(".parquet")]
    assert len(data) == len(set(data)) == profile_file_limit(2) == 16
    t = tables["t"]
    assert t.row_count == 2000 and {c.column_name: c.profile_scope for c in t.columns} == {"id": "sampled"}
    cols = {c.column_name: c for c in t.columns}
    assert (cols["id"].min_value, cols["id"].max_value, cols["id"].null_count) == ("0", "1999", 0)
    assert cols["id"].distinct_count == 1600


@pytest.mark.parametrize("change,message", [
    (lambda a: a["metaData"].pop("schemaString"), "has no schemaString"),
    (lambda a: a["metaData"].update(schemaString='{"type": "struct", "fields": [{"type": "long"}]}'),
     "is not a Delta schema"),
    (lambda a: a["metaData"].update(schemaString="{not json"), "schemaString is not valid JSON"),
])
def test_a_corrupt_log_says_what_is_wrong(tmp_path, change, message):
    """Issue 21 point 10: not a raw Python error ('schemaString', NoneType...) but what is wrong."""
    from deltalake import write_deltalake

    path = tmp_path / "lake" / "t"
    write_deltalake(str(path), pa.table({"a": [1, 2]}))
    log = path / "_delta_log" / "00000000000000000000.json"
    actions = [json.loads(line) for line in log.read_text().splitlines()]
    for a in actions:
        if "metaData" in a:
            change(a)
    log.write_text("".join(json.dumps(a) + "\n" for a in actions))
    t = extract(tmp_path / "lake")["t"]
    assert t.status == "failed" and message in t.error_message


def test_a_commit_line_that_is_not_json_names_the_file_and_line(tmp_path):
    from deltalake import write_deltalake

    path = tmp_path / "lake" / "t"
    write_deltalake(str(path), pa.table({"a": [1, 2]}))
    (path / "_delta_log" / "00000000000000000001.json").write_text('{"add": {"path": "x.parquet"}}\n{oops\n')
    t = extract(tmp_path / "lake")["t"]
    assert t.status == "failed"
    assert "00000000000000000001.json: line 2 is not valid JSON" in t.error_message


def test_type_changes_are_read_as_spark_types():
    """fromType/toType are Delta's JSON types read into the algebra: spacing inside a decimal does
    not matter, a missing or malformed type is Delta's SCHEMA error (never a Python error)."""
    from executor.metadata.readers.delta import check_type_changes, type_change_supported

    assert type_change_supported("decimal(5, 2)", "decimal(8,3)", "4.0") is True
    assert type_change_supported(" integer", "long ", "3.3") is None
    protocol = {"minReaderVersion": 3, "readerFeatures": ["typeWidening"]}
    for change, printed in (({"toType": "integer"}, "from NONE to INT"),
                            ({"fromType": "integer", "toType": {"type": "array"}}, "from INT to {'TYPE': 'ARRAY'}")):
        schema = {"type": "struct", "fields": [{"name": "v", "type": "integer", "nullable": True,
                                                "metadata": {"delta.typeChanges": [change]}}]}
        with pytest.raises(DeltaLogError, match="DELTA_UNSUPPORTED_TYPE_CHANGE_IN_SCHEMA") as info:
            check_type_changes(protocol, schema, "4.0")
        assert printed in str(info.value)
