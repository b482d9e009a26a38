"""Issue 21 on the job's own command line: a folder holding the Parquet file that aborts pyarrow in
process, next to good CSV, Parquet, ORC and Delta tables. The job (`metadata_extraction <path> auto
default --write-to-db`, run in this process on the lane's Spark: the crash happens in a reader
worker, never here) writes the good tables, fails the bad one with the sandbox's message, records
the run `partial` with exit code 0 (README: partial is a success with failed tables), and leaves no
reader worker running."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq

from executor.main import main
from tests.hostile_files import write_contradicting_column_type
from tests.servers import wait_budget

CRASH = ("the Parquet reader crashed (SIGABRT) reading bad/part-0001.parquet; the file is corrupt or hostile "
         "(ColumnMetaData type does not match ColumnDescriptor physical type: BYTE_ARRAY vs. INT64)")


def reader_workers() -> set[int]:
    """This process's children that are reader sandbox workers (alive, not zombies)."""
    me = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z" and b"executor.sandbox.worker" in cmdline:
            found.add(int(entry))
    return found


def build_lake(root: Path, spark) -> Path:
    (root / "bad").mkdir(parents=True)
    write_contradicting_column_type(root / "bad" / "part-0001.parquet")
    (root / "people").mkdir()
    (root / "people" / "people.csv").write_text("id,name\n1,ann\n2,bob\n3,cid\n", encoding="utf-8")
    (root / "sales").mkdir()
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "amount": [1.5, 2.5, None, 4.0]}), root / "sales" / "part-0.parquet")
    (root / "stock").mkdir()
    orc.write_table(pa.table({"sku": ["a", "b"], "qty": [3, 4]}), root / "stock" / "part-0.orc")
    spark.range(6).selectExpr("id", "cast(id * 2 as string) as label").coalesce(1).write.format("delta").save(
        str(root / "events"))
    return root


def test_the_job_over_the_aborting_file_writes_the_good_tables_and_fails_the_bad_one(context, spark, tmp_path,
                                                                                     capsys):
    lake = build_lake(tmp_path / "lake", spark)
    before = reader_workers()
    env = {"NUVYN_JOB_PAYLOAD": json.dumps({"workflow_id": "wf_isolate", "source_id": "src_isolate"})}
    code = main(["metadata_extraction", str(lake), "auto", "default", "--write-to-db"], env=env, context=context)
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["status"] == "partial", report
    assert report["summary"]["failed"] == [{"table": "bad", "error": CRASH}]

    result = context.writer.query_metadata(workflow_id="wf_isolate")
    tables = {t["table_name"]: t for t in result["tables"]}
    assert {n: (t["status"], t["row_count"]) for n, t in tables.items()} == {
        "bad": ("failed", None), "people": ("ok", 3), "sales": ("ok", 4), "stock": ("ok", 2), "events": ("ok", 6)}
    assert tables["bad"]["error_message"] == CRASH
    samples = {(c["table_name"], c["column_name"]): c for c in result["columns"]}
    assert samples[("sales", "amount")]["max_value"] == "4.0"  # decoded in a worker, profiled here
    assert samples[("events", "label")]["sample_values"]  # Delta's data files sampled through the sandbox
    (run,) = result["runs"]
    assert run["status"] == "partial"

    deadline = time.monotonic() + wait_budget(10)  # the run's workers end with its extraction
    while reader_workers() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader_workers() - before == set()
    assert "sandbox" not in context.__dict__  # closed and forgotten: the next run makes its own
