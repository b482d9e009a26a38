"""Dry run planning and rendering: no JVM, no Spark session, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from executor.ops.dry_run import plan_extraction, render_dry_run

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "lake"


def make_tree(root: Path, folders: int = 30, per_folder: int = 100) -> int:
    """folders x per_folder small CSV files, plus hidden, marker, unsupported and excludable files."""
    n = 0
    for i in range(folders):
        d = root / f"t{i:02d}"
        d.mkdir(parents=True)
        for j in range(per_folder):
            (d / f"part-{j:05d}.csv").write_text("id,name\n1,a\n2,b\n")
            n += 1
    (root / "t00" / ".hidden.csv").write_text("id\n1\n")
    (root / "t00" / "_SUCCESS").write_text("")
    (root / "notes.txt").write_text("hello")
    (root / "tmp").mkdir()
    (root / "tmp" / "scratch.csv").write_text("x\n1\n")
    return n


def test_sample_lake_plan_matches_the_real_table_names():
    report = plan_extraction(str(SAMPLES))
    names = [t.name for t in report.tables]
    assert names == ["customers", "events", "legacy", "orders", "products", "sales", "stores_semicolon"]
    sales = next(t for t in report.tables if t.name == "sales")
    assert (sales.file_format, sales.files, sales.partition_columns) == ("parquet", 6, ["year", "month"])
    reasons = {s["path"]: s["reason"] for s in report.skipped}
    assert reasons == {"README.txt": "unsupported format", "events/.hidden.csv": "hidden file",
                       "sales/_SUCCESS": "marker file"}
    assert report.schema_split and report.files_found == 14


def test_include_exclude_reasons_and_rendering():
    report = plan_extraction(str(SAMPLES), include=["*.csv", "*.parquet"], exclude=["legacy/*"])
    reasons = {s["path"]: s["reason"] for s in report.skipped}
    assert reasons["legacy/labels_latin1.csv"] == "excluded by pattern"
    assert reasons["orders.tsv"] == "not matched by include patterns"
    assert "legacy" not in [t.name for t in report.tables]
    text = render_dry_run(report)
    assert "DRY RUN" in text and "excluded by pattern" in text and "Spark not started" in text
    assert "\x1b" not in text  # plain text, safe in any log
    d = report.to_dict()
    assert json.loads(json.dumps(d))["skipped_by_reason"]["excluded by pattern"] == 1


def test_unreadable_file_is_shown_as_would_fail(tmp_path):
    (tmp_path / "good.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty.csv").write_text("")
    report = plan_extraction(str(tmp_path))
    problems = {t.name: t.problem for t in report.tables}
    assert problems["good"] is None and "empty" in problems["empty"]
    assert "would_fail" in render_dry_run(report)


def test_without_headers_says_it_is_the_pre_split_plan():
    report = plan_extraction(str(SAMPLES), read_headers=False)
    assert not report.schema_split
    assert "headers/footers not read" in render_dry_run(report)


def test_three_thousand_files_in_seconds_without_spark(tmp_path):
    """Runs the console script's code in a fresh interpreter: pyspark must never be imported."""
    lake = tmp_path / "lake"
    n = make_tree(lake)
    assert n == 3000
    code = (
        "import sys, json\n"
        "from executor.cli import main\n"
        f"rc = main(['extract', {str(lake)!r}, '--dry-run', '--format', 'json', '--exclude', 'tmp/*'])\n"
        "print('PYSPARK_LOADED=%s' % any(m == 'pyspark' or m.startswith('pyspark.') or m == 'py4j' "
        "for m in sys.modules), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NUVYN_JOB_PAYLOAD", None)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=120)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert "PYSPARK_LOADED=False" in proc.stderr
    out = json.loads(proc.stdout)
    assert out["dry_run"] is True and out["table_count"] == 30 and out["files_found"] == 3000
    assert all(t["files"] == 100 for t in out["tables"])
    assert out["skipped_by_reason"] == {"excluded by pattern": 1, "hidden file": 1, "marker file": 1,
                                        "unsupported format": 1}
    assert elapsed < 60, elapsed  # typically ~1-2 s; generous for a shared 2-core machine


def test_missing_path_is_an_error_exit(tmp_path, capsys):
    from executor.cli import main

    assert main(["extract", str(tmp_path / "nope"), "--dry-run"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_bad_pattern_type_is_bad_input(capsys):
    from executor.cli import main

    rc = main(["extract", str(SAMPLES), "--dry-run", "--payload", '{"include": 5}'])
    assert rc == 2 and "include" in capsys.readouterr().err
