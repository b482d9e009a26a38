"""The incremental case (bench/README.md, "Incremental runs"): a lake of 10x the files per table, a
first run that reads everything, 1% of the files changed (a row appended to each), then a second run
with the first run's record (refresh: incremental) and a full run of the changed lake: time and bytes
of each, and whether the incremental result equals the full one.

  python -m bench --incremental [--json] [--csv-tables N --parquet-tables N --files-per-table F
                                 --files-scale K --rows-per-file R --changed-percent P
                                 --changed-layout clustered|spread --profile-max-rows N]

No Spark: extraction with the ported rules needs none (0 Spark jobs); the record goes through the rows
the writer appends (storage.rows), not through Delta, so the times are the extraction's alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench.lake import LakeSpec, generate

REPO = Path(__file__).resolve().parents[1]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench --incremental", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--incremental", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv-tables", type=int, default=10)
    p.add_argument("--parquet-tables", type=int, default=10)
    p.add_argument("--files-per-table", type=int, default=20)
    p.add_argument("--files-scale", type=int, default=10, metavar="K", help="files per table x K (default 10)")
    p.add_argument("--rows-per-file", type=int, default=200)
    p.add_argument("--changed-percent", type=float, default=1.0)
    p.add_argument("--changed-layout", choices=("clustered", "spread"), default="clustered",
                   help="clustered: the changed files are the first ones in path order (a few tables: new data "
                        "where it arrives); spread: every n-th file (most tables change)")
    p.add_argument("--profile-max-rows", type=int, default=None,
                   help="NUVYN_PROFILE_MAX_ROWS of the runs (default: the executor's); below a table's rows, "
                        "its profile is sampled and a change after its window reads only the changed files")
    p.add_argument("--cache-dir", default=str(REPO / ".bench"))
    return p


def change_files(root: Path, percent: float, layout: str) -> list[Path]:
    """Append one row (a copy of the last) to `percent` of the CSV files and rewrite as many Parquet
    files with one more row: the first ones in path order (clustered) or every n-th (spread)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".csv", ".parquet"))
    step = max(1, round(100 / percent))
    changed = files[::step] if layout == "spread" else files[:len(files[::step])]
    for p in changed:
        if p.suffix == ".csv":
            last = p.read_text().rstrip("\n").rsplit("\n", 1)[-1]
            with p.open("a") as fh:
                fh.write(last + "\n")
        else:
            t = pq.read_table(p)
            pq.write_table(pa.concat_tables([t, t.slice(t.num_rows - 1)]), p)
    return changed


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    spec = LakeSpec(csv_tables=args.csv_tables, parquet_tables=args.parquet_tables,
                    files_per_table=args.files_per_table * args.files_scale, rows_per_file=args.rows_per_file,
                    hive_days=LakeSpec().hive_days * args.files_scale, big_csv_mb=1)
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    source, manifest = generate(spec, cache)
    sys.path.insert(0, str(REPO))
    from executor.metadata.extractor import MetadataExtractor
    from executor.settings import Settings
    from executor.storage import rows as R
    from executor.storage import schema as S

    def record(result, run_id):
        out = R.metadata_rows(result, "bench", None, run_id)
        return R.prior_run(run_id, [asdict(r) for r in out[S.TABLES]], [asdict(r) for r in out[S.COLUMNS]],
                           [asdict(r) for r in out.get(S.FILE_FACTS, [])])

    work = Path(tempfile.mkdtemp(prefix="bench-incremental-", dir=str(cache)))
    try:
        lake = work / "lake"
        shutil.copytree(source, lake)  # the cached lake stays as generated
        ex = MetadataExtractor(None, Settings() if args.profile_max_rows is None
                               else Settings(profile_max_rows=args.profile_max_rows))
        first, first_s = _timed(ex.extract_metadata, str(lake))
        unchanged, unchanged_s = _timed(ex.extract_metadata, str(lake), prior=record(first, "r1"))
        changed = change_files(lake, args.changed_percent, args.changed_layout)
        second, second_s = _timed(ex.extract_metadata, str(lake), prior=record(first, "r1"))
        full, full_s = _timed(ex.extract_metadata, str(lake))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    same = [asdict(t) for t in second.tables] == [asdict(t) for t in full.tables]
    out = {
        "lake": {"tables": len(manifest["tables"]), "files": first.files_found,
                 "size_mb": round(first.total_size_bytes / 2**20, 1), "files_changed": len(changed),
                 "changed_layout": args.changed_layout},
        "first": {"seconds": round(first_s, 3), "bytes_read": first.reads["bytes_read"]},
        "unchanged": {"seconds": round(unchanged_s, 3), **{k: unchanged.reads[k] for k in (
            "bytes_read", "files_read", "files_reused", "tables_reused")}},
        "second": {"seconds": round(second_s, 3), **{k: second.reads[k] for k in (
            "bytes_read", "files_read", "files_reused", "tables_reused", "windows_reused")},
            "tables_changed": len(second.reads["tables_changed"])},
        "full_after_change": {"seconds": round(full_s, 3), "bytes_read": full.reads["bytes_read"]},
        "ratios": {"second_over_first_seconds": round(second_s / first_s, 3),
                   "second_over_first_bytes": round(second.reads["bytes_read"] / first.reads["bytes_read"], 4),
                   "unchanged_over_first_bytes": round(unchanged.reads["bytes_read"] / first.reads["bytes_read"], 4)},
        "incremental_equals_full": same,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:>18}: {value}")
    return 0 if same else 1
