"""Incremental runs without a JVM: the reuse decisions (executor.metadata.incremental), the record's
round trip through the file_facts / tables / columns rows (executor.storage.rows), and extractions over
a lake that changes in every way, each compared with a full extraction of the same lake."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from executor import __version__
from executor.metadata import incremental as inc
from executor.metadata.extractor import MetadataExtractor
from executor.metadata.model import ROLE_LOG, FileRecord, MetadataResult, TableFacts
from executor.metadata.readers.base import FileFacts
from executor.metadata.readers.csv import CsvFacts
from executor.settings import Settings
from executor.sources.base import FileInfo
from executor.storage import rows as R
from executor.storage import schema as S

RULES = inc.Rules(__version__, "f" * 16)


def record(path: str = "t/a.csv", size: int = 10, modified: float = 1000.5, etag: str | None = None,
           **over: object) -> FileRecord:
    base = dict(table_name="t", path=path, size=size, modified_us=round(modified * 1_000_000), etag=etag,
                file_format="csv", compression=None, rule_version=1, executor_version=RULES.executor_version,
                settings_fingerprint=RULES.settings_fingerprint,
                facts={"format": inc.RECORD_FORMAT, "signature": ["csv", [",", "utf-8", True], ["a", "b"]],
                       "rows": None})
    base.update(over)
    facts = base.pop("facts")
    return FileRecord(**base, facts_json=None if facts is None else inc.dump_facts(facts))  # type: ignore[arg-type]


def info(path: str = "t/a.csv", size: int = 10, modified: float = 1000.5, etag: str | None = None) -> FileInfo:
    return FileInfo(path, "/lake/" + path, size, modified, etag)


def prior_of(*records: FileRecord, tables: dict[str, TableFacts] | None = None) -> inc.PriorRun:
    tables = tables if tables is not None else {"t": TableFacts("t", "/lake/t", "csv", len(records), 10)}
    return inc.PriorRun("run_old", tables=tables, files={r.path: r for r in records}, table_names=set(tables))


# ---------------------------------------------------------------------- the decisions


def test_an_unchanged_file_is_restored_with_its_signature():
    facts = inc.restorable(prior_of(record()), info(), "csv", None, 1, RULES)
    assert isinstance(facts, inc.RestoredFacts)
    assert facts.signature == ("csv", (",", "utf-8", True), ("a", "b"))  # tuples again: hashable, equal
    assert inc.needs_read(None) and inc.needs_read(facts)  # a plan-only restore: read before extracting


@pytest.mark.parametrize("change", [
    {"size": 11}, {"modified": 1000.500001}, {"etag": '"0x2"'}, {"path": "t/b.csv"},
])
def test_any_change_of_identity_reads_the_file(change):
    listed = info(**{"path": "t/a.csv", **change})  # type: ignore[arg-type]
    assert inc.restorable(prior_of(record(etag=None)), listed, "csv", None, 1, RULES) is None


def test_an_etag_change_alone_reads_the_file():
    old = record(etag='"0x1"')
    assert inc.restorable(prior_of(old), info(etag='"0x1"'), "csv", None, 1, RULES) is not None
    assert inc.restorable(prior_of(old), info(etag='"0x2"'), "csv", None, 1, RULES) is None


@pytest.mark.parametrize("what", ["rule_version", "executor_version", "settings", "format", "compression"])
def test_other_rules_read_the_file(what):
    old = record()
    args = {"file_format": "csv", "compression": None, "rule_version": 1, "rules": RULES}
    if what == "rule_version":
        args["rule_version"] = 2
    elif what == "executor_version":
        args["rules"] = inc.Rules("9.9.9", RULES.settings_fingerprint)
    elif what == "settings":
        args["rules"] = inc.Rules(RULES.executor_version, "0" * 16)
    elif what == "format":
        args["file_format"] = "tsv"
    else:
        args["compression"] = "gzip"
    assert inc.restorable(prior_of(old), info(), args["file_format"], args["compression"],  # type: ignore[arg-type]
                          args["rule_version"], args["rules"]) is None  # type: ignore[arg-type]


def test_a_record_without_facts_or_of_a_delta_log_is_not_restored():
    assert inc.restorable(prior_of(record(facts=None)), info(), "csv", None, 1, RULES) is None
    assert inc.restorable(prior_of(record(role=ROLE_LOG)), info(), "csv", None, 1, RULES) is None
    assert inc.restorable(None, info(), "csv", None, 1, RULES) is None


def test_a_table_is_reused_only_with_exactly_its_files_unchanged():
    a, b = record("t/a.csv"), record("t/b.csv")
    prior = prior_of(a, b)
    files = {"t/a.csv": info("t/a.csv"), "t/b.csv": info("t/b.csv")}
    comp = {p: None for p in files}
    assert inc.reusable_table(prior, "t", files, "csv", 1, RULES, comp) is prior.tables["t"]
    # a file added, a file removed, a file changed, another name, another format: extracted again
    assert inc.reusable_table(prior, "t", {**files, "t/c.csv": info("t/c.csv")}, "csv", 1, RULES, comp) is None
    assert inc.reusable_table(prior, "t", {"t/a.csv": files["t/a.csv"]}, "csv", 1, RULES, comp) is None
    assert inc.reusable_table(prior, "t", {**files, "t/b.csv": info("t/b.csv", size=11)}, "csv", 1, RULES,
                              comp) is None
    assert inc.reusable_table(prior, "u", files, "csv", 1, RULES, comp) is None
    assert inc.reusable_table(prior, "t", files, "parquet", 1, RULES, comp) is None


def test_a_failed_table_is_never_reused():
    failed = TableFacts("t", "/lake/t", "csv", 1, 10, status="failed", error_message="boom")
    prior = prior_of(record(), tables={"t": failed})
    assert inc.reusable_table(prior, "t", {"t/a.csv": info()}, "csv", 1, RULES, {"t/a.csv": None}) is None
    # and the rows of a failed table give no records (storage.rows.prior_run)
    rows = R.metadata_rows(MetadataResult("/lake", "local", tables=[failed], file_records=[record()]), "wf", None, "r1")
    back = R.prior_run("r1", [asdict(r) for r in rows[S.TABLES]], [], [asdict(r) for r in rows[S.FILE_FACTS]])
    assert back.tables == {} and back.files == {} and back.table_names == {"t"}


def test_csv_facts_round_trip_through_json():
    from executor.metadata.csv_scan import CsvCount, CsvDialect

    fut = inc._done(CsvCount(records=11, data_rows=10, bytes_read=99, exact_path="vectorized"))
    dialect = CsvDialect(delimiter=";", encoding="iso-8859-1", header=True, bom=False, header_reason="types differ")
    facts = CsvFacts(signature=("csv", (";", "iso-8859-1", True), ("a", "b")), dialect=dialect, header=["a", "b"],
                     count=fut)
    data = inc.facts_to_json(facts)
    assert data is not None
    back = inc.restore(record(facts=data))
    assert isinstance(back, CsvFacts) and not inc.needs_read(back)
    assert back.signature == facts.signature and back.header == ["a", "b"]
    assert back.dialect == dialect and back.dialect.header_reason == "types differ"
    assert back.count is not None and back.count.result().data_rows == 10


def test_facts_that_are_not_plain_data_or_failed_are_not_recorded():
    assert inc.facts_to_json(FileFacts(error="corrupt")) is None
    assert inc.facts_to_json(FileFacts(signature=("x", object()))) is None
    assert inc.facts_to_json(FileFacts(signature=("parquet", (("a", "int"),)), rows=3)) == {
        "format": inc.RECORD_FORMAT, "signature": ["parquet", [["a", "int"]]], "rows": 3}


def test_the_settings_fingerprint_follows_the_settings_that_shape_results():
    s = Settings()
    base = inc.settings_fingerprint(s, "3.5", "auto", "auto")
    assert base == inc.settings_fingerprint(dataclasses.replace(s, io_threads=3), "3.5", "auto", "auto")
    assert base != inc.settings_fingerprint(dataclasses.replace(s, profile_max_rows=5), "3.5", "auto", "auto")
    assert base != inc.settings_fingerprint(s, "4.0", "auto", "auto")
    assert base != inc.settings_fingerprint(s, "3.5", "true", "auto")


# ---------------------------------------------------------------------- extraction over a changing lake


def write_csv(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def build_lake(root: Path) -> None:
    write_csv(root / "sales" / "part-0.csv", ["id,amount,city"] + [f"{i},{i * 3},c{i % 4}" for i in range(40)])
    write_csv(root / "sales" / "part-1.csv", ["id,amount,city"] + [f"{i},{i * 5},c{i % 3}" for i in range(40, 70)])
    write_csv(root / "wide" / "a.csv", ["k,v"] + [f"{i},{i}" for i in range(20)])
    write_csv(root / "gone" / "x.csv", ["q"] + [str(i) for i in range(5)])
    for day in ("2024-01-01", "2024-01-02"):
        write_parquet(root / "events" / f"day={day}" / "p.parquet",
                      pa.table({"n": pa.array(range(8), pa.int64()), "s": [f"s{i}" for i in range(8)]}))
    (root / "logs").mkdir()
    (root / "logs" / "l.json").write_text("".join(json.dumps({"a": i, "b": f"x{i}"}) + "\n" for i in range(12)))


def mutate(root: Path) -> None:
    """Every kind of change the issue lists that a non-Delta lake can have."""
    write_csv(root / "sales" / "part-2.csv", ["id,amount,city"] + [f"{i},{i},c9" for i in range(70, 75)])  # added
    p = root / "sales" / "part-0.csv"  # rewritten in place, same size
    text = p.read_text()
    p.write_text(text.replace("c1\n", "c7\n"))
    assert len(p.read_text()) == len(text)
    write_csv(root / "wide" / "b.csv", ["k,v"] + [f"{i},{i}.5" for i in range(3)])  # a schema change: int -> double
    shutil.rmtree(root / "gone")  # a folder removed
    write_parquet(root / "events" / "day=2024-01-03" / "p.parquet",  # a partition added
                  pa.table({"n": pa.array(range(4), pa.int64()), "s": ["z"] * 4}))
    os.remove(root / "events" / "day=2024-01-01" / "p.parquet")  # a file removed
    j = root / "logs" / "l.json"  # modified time changed, same bytes
    st = j.stat()
    os.utime(j, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def comparable(result: MetadataResult) -> list[dict[str, object]]:
    """What the tables and columns rows hold, without run ids."""
    out = []
    for t in sorted(result.tables, key=lambda t: t.table_name):
        d = asdict(t)
        out.append(d)
    return out


def prior_from(result: MetadataResult, run_id: str) -> inc.PriorRun:
    """The PriorRun a later run reads back: through the rows each table gets (as the writer appends them)."""
    rows = R.metadata_rows(result, "wf", None, run_id)
    return R.prior_run(run_id, [asdict(r) for r in rows[S.TABLES]], [asdict(r) for r in rows[S.COLUMNS]],
                       [asdict(r) for r in rows.get(S.FILE_FACTS, [])])


@pytest.fixture()
def extractor():
    return MetadataExtractor(None, Settings(io_threads=2))


def test_an_unchanged_lake_reads_nothing_and_gives_the_same_result(tmp_path, extractor):
    build_lake(tmp_path)
    full = extractor.extract_metadata(str(tmp_path))
    assert full.reads["bytes_read"] > 0 and full.reads["files_reused"] == 0
    assert all(t.status == "ok" for t in full.tables), [(t.table_name, t.error_message) for t in full.tables]
    again = extractor.extract_metadata(str(tmp_path), prior=prior_from(full, "r1"))
    assert comparable(again) == comparable(full)
    assert again.reads["bytes_read"] == 0
    assert again.reads["files_read"] == 0 and again.reads["files_reused"] == full.files_found
    assert again.reads["tables_reused"] == len(full.tables) and again.reads["tables_changed"] == []
    # the record carries forward: a third run reuses the second's
    third = extractor.extract_metadata(str(tmp_path), prior=prior_from(again, "r2"))
    assert comparable(third) == comparable(full) and third.reads["bytes_read"] == 0


def test_each_unchanged_file_is_restored_once(tmp_path, extractor, monkeypatch):
    """The listing asks whether a file is unchanged (so as not to read it early), the facts step
    again: a record's facts are JSON text, parsed once per file, not at each question."""
    build_lake(tmp_path)
    full = extractor.extract_metadata(str(tmp_path))
    restores: list[str] = []
    real = inc.restore
    monkeypatch.setattr(inc, "restore", lambda record: (restores.append(record.path), real(record))[1])
    again = extractor.extract_metadata(str(tmp_path), prior=prior_from(full, "r1"))
    assert again.reads["files_reused"] == full.files_found > 0
    assert sorted(restores) == sorted(set(restores)) and len(restores) == full.files_found


def test_a_changed_lake_gives_what_a_full_run_gives_and_reads_only_what_changed(tmp_path, extractor):
    build_lake(tmp_path)
    first = extractor.extract_metadata(str(tmp_path))
    mutate(tmp_path)
    incremental = extractor.extract_metadata(str(tmp_path), prior=prior_from(first, "r1"))
    full = extractor.extract_metadata(str(tmp_path))
    assert comparable(incremental) == comparable(full)
    by_name = {t.table_name: t for t in full.tables}
    assert by_name["wide"].columns[1].data_type == "double"  # widened over the old and the new file
    assert by_name["sales"].row_count == 75
    r = incremental.reads
    assert r["tables_removed"] == ["gone"] and r["tables_added"] == []
    assert set(r["tables_changed"]) == {"sales", "wide", "events", "logs"}
    # sales/part-1.csv and wide/a.csv: counts and header decisions from the record; events/day=2024-01-02:
    # its footer's facts (statistics, nullability, Spark columns) from the record
    assert r["files_reused"] == 3
    assert r["bytes_read"] < full.reads["bytes_read"] * 2  # the changed tables' samples and new files
    # the incremental run's record is complete: the next run over the same lake reads nothing
    after = extractor.extract_metadata(str(tmp_path), prior=prior_from(incremental, "r2"))
    assert comparable(after) == comparable(full) and after.reads["bytes_read"] == 0


def test_a_csv_table_with_an_appended_file_keeps_the_old_counts_without_counting_them(tmp_path, extractor):
    big = ["id,name"] + [f"{i},name{i}" for i in range(60_000)]
    write_csv(tmp_path / "t" / "a.csv", big)
    write_csv(tmp_path / "t" / "b.csv", ["id,name"] + [f"{i},n{i}" for i in range(3)])
    settings = Settings(io_threads=2, infer_sample_files=1, infer_sample_records=100, profile_max_rows=100)
    ex = MetadataExtractor(None, settings)
    first = ex.extract_metadata(str(tmp_path))
    write_csv(tmp_path / "t" / "c.csv", ["id,name"] + [f"{i},m{i}" for i in range(4)])
    incremental = ex.extract_metadata(str(tmp_path), prior=prior_from(first, "r1"))
    full = ex.extract_metadata(str(tmp_path))
    assert comparable(incremental) == comparable(full) and full.tables[0].row_count == 60_007
    size_a = (tmp_path / "t" / "a.csv").stat().st_size
    # a.csv is not counted again: only its first records are read for the inference sample
    assert incremental.reads["bytes_read"] < size_a // 2 < full.reads["bytes_read"]
    assert incremental.reads["files_reused"] == 2 and incremental.reads["files_read"] == 1


def test_file_records_cover_every_file_of_ok_tables_only(tmp_path, extractor):
    build_lake(tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    result = extractor.extract_metadata(str(tmp_path))
    ok = {t.table_name for t in result.tables if t.status == "ok"}
    assert "bad" not in ok and {r.table_name for r in result.file_records} == ok
    assert len(result.file_records) == sum(t.file_count for t in result.tables if t.status == "ok")
    rows = R.metadata_rows(result, "wf", "src", "r1")[S.FILE_FACTS]
    assert {type(r) for r in rows} == {S.FileFactRow}
    assert all(r.run_id == "r1" and r.workflow_id == "wf" and r.source_id == "src" for r in rows)
    assert len({r.id for r in rows}) == len(rows)
    assert "file_records" not in result.to_dict() and "reads" not in result.to_dict()


def test_the_summary_says_what_was_read_and_reused(tmp_path, extractor):
    from executor.ops.summary import render_summary
    from executor.run import summarize

    build_lake(tmp_path)
    first = extractor.extract_metadata(str(tmp_path))
    mutate(tmp_path)
    again = extractor.extract_metadata(str(tmp_path), prior=prior_from(first, "r1"))
    s = summarize(again, 1.0, 0, {"refresh": "incremental"})
    assert s["refresh"] == "incremental" and s["reused_from_run"] == "r1" and s["tables_removed"] == ["gone"]
    assert s["files_read"] + s["files_reused"] == s["files"] and s["bytes_read"] > 0
    text = render_summary({"run_id": "r2", "status": "succeeded", "summary": json.dumps(s)})
    assert "refresh:      incremental (from run r1:" in text and "- table gone" in text
    assert f"{s['bytes_read']:,} bytes fetched from storage" in text
    full = summarize(first, 1.0, 0, {"refresh": "full"})
    assert full["files_reused"] == 0 and full["files_read"] == full["files"] and "reused_from_run" not in full


def test_a_bad_refresh_exits_2_naming_the_field(tmp_path, capsys):
    from executor.cli import main as cli

    assert cli(["extract", str(tmp_path), "--workflow-id", "w", "--refresh", "sometimes"], env={}) == 2
    assert "refresh 'sometimes' is invalid; expected one of: full, incremental" in capsys.readouterr().err
    payload = json.dumps({"workflow_id": "w", "data_source_path": str(tmp_path), "refresh": 1})
    assert cli(["run", "--payload", payload], env={}) == 2
    assert "refresh '1' is invalid" in capsys.readouterr().err
