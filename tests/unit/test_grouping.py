"""How a listing becomes tables: skip rules, partitions, schema splits and names."""

from __future__ import annotations

from executor.metadata import grouping
from executor.metadata.grouping import assign_names, prune_dir, split_by_schema
from executor.metadata.readers.registry import READERS
from executor.sources.base import FileInfo


def plan_tables(files, **kwargs):
    """grouping.plan_tables with the formats of the reader registry."""
    return grouping.plan_tables(files, detect=READERS.detect, **kwargs)


def listing(*paths: str, size: int = 10):
    return [FileInfo(p, f"/root/{p}", size) for p in paths]


def names(plan_list):
    return {t.name: sorted(f.info.relative for f in t.files) for t in plan_list}


def test_skips_hidden_markers_and_unsupported():
    plan = plan_tables(listing("a.csv", ".hidden.csv", "_SUCCESS", "_committed_1", "_started_1",
                               "x/part.csv.crc", "notes.txt", "d/_tmp/x.csv"))
    reasons = {s.path: s.reason for s in plan.skipped}
    assert reasons[".hidden.csv"] == "hidden file"
    assert reasons["_SUCCESS"] == "marker file"
    assert reasons["_committed_1"] == "marker file"
    assert reasons["notes.txt"] == "unsupported format"
    assert "d/_tmp/x.csv" in reasons
    assert plan.files_found == 1 and plan.total_size_bytes == 10
    assert prune_dir("_delta_log") and prune_dir(".git") and prune_dir("checkpoint") and not prune_dir("sales")


def test_hive_partitions_make_one_table_with_partition_columns():
    plan = plan_tables(listing("sales/year=2024/month=1/p0.parquet", "sales/year=2024/month=2/p0.parquet",
                               "sales/year=2023/month=1/p1.parquet"))
    tables = assign_names(plan.tables, "lake")
    assert len(tables) == 1
    t = tables[0]
    assert t.name == "sales" and t.partition_keys == ("year", "month") and len(t.files) == 3
    assert t.files[0].partition_values == [("year", "2024"), ("month", "1")]


def test_folder_of_part_files_is_one_table_and_root_files_are_tables():
    plan = plan_tables(listing("events/part-0.csv", "events/part-1.csv", "customers.csv", "orders.tsv",
                               "products.parquet", "legacy/labels.csv"))
    assert names(assign_names(plan.tables, "lake")) == {
        "events": ["events/part-0.csv", "events/part-1.csv"],
        "customers": ["customers.csv"],
        "orders": ["orders.tsv"],
        "products": ["products.parquet"],
        "legacy": ["legacy/labels.csv"],
    }


def test_incompatible_schemas_split_never_merge():
    plan = plan_tables(listing("raw/a_1.csv", "raw/a_2.csv", "raw/b.csv"))
    sig = {"/root/raw/a_1.csv": ("x",), "/root/raw/a_2.csv": ("x",), "/root/raw/b.csv": ("y",)}
    tables = assign_names(split_by_schema(plan.tables, sig), "lake")
    assert names(tables) == {"raw/a": ["raw/a_1.csv", "raw/a_2.csv"], "raw/b": ["raw/b.csv"]}


def test_partitioned_table_with_disagreeing_files_fails_naming_them():
    plan = plan_tables(listing("t/k=1/a.parquet", "t/k=2/b.parquet"))
    sig = {"/root/t/k=1/a.parquet": ("x",), "/root/t/k=2/b.parquet": ("y",)}
    tables = split_by_schema(plan.tables, sig)
    assert len(tables) == 1 and "t/k=1/a.parquet" in tables[0].error and "t/k=2/b.parquet" in tables[0].error


def test_format_filter_and_patterns():
    plan = plan_tables(listing("a.csv", "b.parquet"), format_filter="parquet")
    assert [f.info.relative for t in plan.tables for f in t.files] == ["b.parquet"]
    assert any("data_source_type=parquet" in s.reason for s in plan.skipped)
    plan = plan_tables(listing("keep/a.csv", "drop/b.csv"), exclude=["drop/*"])
    assert [f.info.relative for t in plan.tables for f in t.files] == ["keep/a.csv"]
    plan = plan_tables(listing("keep/a.csv", "drop/b.csv"), include=["keep/*"])
    assert [f.info.relative for t in plan.tables for f in t.files] == ["keep/a.csv"]


def test_names_are_unique_and_stable():
    files = listing("x/a.csv", "x/a.tsv", "x/b.parquet")
    first = [t.name for t in assign_names(plan_tables(files).tables, "lake")]
    second = [t.name for t in assign_names(plan_tables(list(reversed(files))).tables, "lake")]
    assert first == second and len(set(first)) == 3


def test_source_path_that_is_a_file():
    plan = plan_tables([FileInfo("", "/root/data/orders.csv", 5)])
    assert [t.name for t in assign_names(plan.tables, "orders.csv")] == ["orders"]


def test_unreadable_file_fails_alone_unless_its_folder_is_one_table():
    plan = plan_tables(listing("customers.csv", "empty.csv", "events/p-0.csv", "events/p-1.csv", "events/p-2.csv"))
    sig = {"/root/customers.csv": ("c",), "/root/events/p-0.csv": ("e",), "/root/events/p-1.csv": ("e",)}
    tables = assign_names(split_by_schema(plan.tables, sig), "lake")
    assert names(tables) == {"customers": ["customers.csv"], "empty": ["empty.csv"],
                             "events": ["events/p-0.csv", "events/p-1.csv", "events/p-2.csv"]}


def test_a_delta_table_in_a_folder_named_checkpoint_is_a_table_and_streaming_checkpoints_are_skipped():
    """Issue 21: a folder holding _delta_log is a Delta table whatever its name; a streaming
    checkpoint folder (offsets/, commits/, metadata) is still skipped, reported once."""
    plan = plan_tables(listing(
        "checkpoint/_delta_log/00000000000000000000.json", "checkpoint/part-0.parquet",
        "sales/checkpoints/_delta_log/00000000000000000000.json", "sales/checkpoints/part-0.parquet",
        "sales/checkpoints/_delta_log/_sidecars/00000000000000000003.checkpoint.0000000001.0000000001.u.parquet",
        "stream/checkpoint/offsets/0", "stream/checkpoint/commits/0", "stream/checkpoint/metadata",
        "stream/checkpoint/sources/0/0", "stream/checkpoint/state/0/0/1.delta", "stream/out/part-0.parquet",
        "Checkpoints/a.csv"))
    by = {(t.folder, t.file_format): t for t in plan.tables}
    assert set(by) == {("checkpoint", "delta"), ("sales/checkpoints", "delta"), ("stream/out", "parquet")}
    assert [f.info.relative for f in by[("checkpoint", "delta")].files] == ["checkpoint/part-0.parquet"]
    assert len(by[("sales/checkpoints", "delta")].log_files) == 2  # the sidecar is the log reader's
    assert {s.path: s.reason for s in plan.skipped} == {
        "stream/checkpoint/": grouping.CHECKPOINT_REASON, "Checkpoints/": grouping.CHECKPOINT_REASON}
    assert plan.files_found == 3
    # the listing descends into such folders (the rule above decides); '_' folders stay pruned
    assert grouping.prune_listing("checkpoint") is None and grouping.prune_listing("checkpoints") is None
    assert grouping.prune_listing("_sidecars") is None and grouping.prune_listing("_checkpoint")
    assert grouping.prune_listing("_temporary") and grouping.prune_listing(".git")


def test_early_format_is_what_the_grouping_makes_of_a_file_its_path_tells():
    """plan.EarlyReads starts a file's facts while the listing goes on when this gives its format:
    (format, compression) for a data file, (None, None) for one to sniff, None for a skipped one."""
    def early(path, **kw):
        return grouping.early_format(FileInfo(path, f"/root/{path}", 10), READERS.detect, **kw)

    assert early("t/part-0.parquet") == ("parquet", None)
    assert early("t/a.csv.gz") == ("csv", "gzip")
    assert early("t/noext") == (None, None)
    for skipped in ("t/_SUCCESS", "t/.hidden.csv", "t/_tmp/a.csv", "t/notes.txt", "t/a.csv.crc"):
        assert early(skipped) is None, skipped
    assert early("t/a.csv", format_filter="parquet") is None
    assert early("t/a.csv", exclude=["*.csv"]) is None


def test_data_columns_leave_out_the_partition_columns_in_order():
    plan = grouping.TablePlan(folder="events", file_format="parquet", partition_keys=("year", "day"))
    assert plan.data_columns([("id", "bigint", True), ("year", "int", True), ("v", "string", False),
                              ("day", "date", True)]) == [("id", "bigint"), ("v", "string")]
    assert plan.data_columns([("a", "int")]) == [("a", "int")]
