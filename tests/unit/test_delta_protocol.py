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
    ({"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["v2Checkpoint", "columnMapping"],
      "writerFeatures": ["v2Checkpoint", "columnMapping"]}, "Delta reader features not supported: v2Checkpoint"),
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
