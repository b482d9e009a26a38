"""python -m bench [--json] [--quick] [...]: ours vs naive Spark vs DuckDB on one synthetic lake."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.lake import LakeSpec, generate, table_files

REPO = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    d = LakeSpec()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--quick", action="store_true", help="a small lake (smoke test)")
    p.add_argument("--csv-tables", type=int, default=d.csv_tables)
    p.add_argument("--parquet-tables", type=int, default=d.parquet_tables)
    p.add_argument("--files-per-table", type=int, default=d.files_per_table)
    p.add_argument("--files-scale", type=int, default=1, metavar="K",
                   help="multiply the number of files (files per table and the partitioned table's days)")
    p.add_argument("--only-ours", action="store_true",
                   help="time only our extractor (growth runs: --files-scale 1 vs 10)")
    p.add_argument("--rows-per-file", type=int, default=d.rows_per_file)
    p.add_argument("--big-csv-mb", type=int, default=d.big_csv_mb)
    p.add_argument("--naive-max-files", type=int, default=150,
                   help="run the naive loop on at most this many files (spread over every table) and "
                        "extrapolate to all files; 0 = every file")
    p.add_argument("--cache-dir", default=str(REPO / ".bench"))
    p.add_argument("--master", default="local[2]")
    return p


def _jvm_peak_mb(spark) -> float | None:
    try:
        pid = spark.sparkContext._gateway.proc.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except Exception:  # noqa: BLE001 - not local, or no /proc
        return None
    return None


SANDBOX_STATS: dict[str, int] = {"calls": 0, "workers_started": 0, "crashes": 0}


def run_ours(spark, settings, root: Path):
    """One extraction as a run does it: its own reader sandbox (NUVYN_READER_* from the environment;
    NUVYN_READER_ISOLATION=false measures the in-process decoders), workers started within the timed
    extraction and stopped after it."""
    from executor.metadata.extractor import MetadataExtractor
    from executor.sandbox.pool import READER_PRELOAD, ReaderSandbox, scrub_environment
    from executor.settings import SandboxSettings
    from executor.spark_jobs import job_group

    with job_group(spark, "bench-ours", "bench: ours") as jobs:
        t0 = time.perf_counter()
        sandbox = ReaderSandbox(SandboxSettings.from_env(os.environ), env=scrub_environment(os.environ),
                                preload=READER_PRELOAD)
        try:
            result = MetadataExtractor(spark, settings, sandbox=sandbox).extract_metadata(str(root))
        finally:
            sandbox.close()
        seconds = time.perf_counter() - t0
        n_jobs = jobs.count
    stats = sandbox.stats()
    for k in SANDBOX_STATS:
        SANDBOX_STATS[k] += getattr(stats, k)
    return result, seconds, n_jobs


def run_delta_write(spark, settings, result) -> float:
    from executor.storage.databricks_writer import DatabricksWriter

    writer = DatabricksWriter(spark, settings)
    writer.ensure_tables()  # table creation is setup, not the write being measured
    t0 = time.perf_counter()
    writer.write_metadata(result, "bench-workflow", "bench-source")
    return time.perf_counter() - t0


def naive_file(spark, path: Path, fmt: str) -> int:
    """The naive way: read one file with inference, count it, take 5 samples of every column."""
    if fmt == "csv":
        df = spark.read.csv(str(path), header=True, inferSchema=True, multiLine=True, escape='"')
    else:
        df = spark.read.parquet(str(path))
    rows = df.count()
    for c in df.columns:
        df.select(c).where(df[c].isNotNull()).limit(5).collect()
    return rows


def run_naive(spark, root: Path, manifest: dict, max_files: int):
    from executor.spark_jobs import job_group

    every = [(p, t["format"]) for name, t in manifest["tables"].items() for p in table_files(root, name)]
    if max_files and len(every) > max_files:
        step = len(every) / max_files
        chosen = [every[int(i * step)] for i in range(max_files)]
        # the big CSV and the quoted CSV are always measured (they are not like the others)
        for name in ("big", "quoted"):
            for p in table_files(root, name):
                if (p, "csv") not in chosen:
                    chosen.append((p, "csv"))
    else:
        chosen = every
    with job_group(spark, "bench-naive", "bench: naive") as jobs:
        t0 = time.perf_counter()
        timed: dict[Path, float] = {}
        for p, fmt in chosen:
            t1 = time.perf_counter()
            naive_file(spark, p, fmt)
            timed[p] = time.perf_counter() - t1
        measured = time.perf_counter() - t0
        n_jobs = jobs.count
    special = {p for name in ("big", "quoted") for p in table_files(root, name)}
    ordinary = [s for p, s in timed.items() if p not in special]
    n_ordinary = sum(1 for p, _ in every if p not in special)
    per_file = sum(ordinary) / len(ordinary) if ordinary else 0.0
    estimate = per_file * n_ordinary + sum(s for p, s in timed.items() if p in special)
    jobs_estimate = round(n_jobs * estimate / measured) if measured else n_jobs
    return {"seconds": estimate, "measured_seconds": measured, "files_measured": len(chosen),
            "files_total": len(every), "extrapolated": len(chosen) < len(every),
            "jobs_measured": n_jobs, "jobs": jobs_estimate}


def run_duckdb(root: Path, manifest: dict):
    import duckdb

    con = duckdb.connect()
    counts: dict[str, int] = {}
    big_seconds = 0.0
    t0 = time.perf_counter()
    for name, t in manifest["tables"].items():
        t1 = time.perf_counter()
        files = [str(p) for p in table_files(root, name)]
        if t["format"] == "csv":
            src = f"read_csv_auto({files!r}, header=true)"
        else:
            src = f"read_parquet({files!r}, hive_partitioning={'true' if t.get('partitioned') else 'false'})"
        con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
        counts[name] = con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
        if name == "big":
            big_seconds = time.perf_counter() - t1
    return counts, time.perf_counter() - t0, big_seconds


def manifest_counts(manifest) -> dict[str, int]:
    return {name: t["rows"] for name, t in manifest["tables"].items()}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    spec = LakeSpec.quick() if args.quick else LakeSpec(
        csv_tables=args.csv_tables, parquet_tables=args.parquet_tables, files_per_table=args.files_per_table * args.files_scale,
        hive_days=LakeSpec().hive_days * args.files_scale,
        rows_per_file=args.rows_per_file, big_csv_mb=args.big_csv_mb)
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    root, manifest = generate(spec, cache)
    gen_seconds = time.perf_counter() - t0

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from executor.settings import SandboxSettings, Settings
    from executor.spark_session import build_spark_session

    warehouse = tempfile.mkdtemp(prefix="bench-warehouse-", dir=str(cache))
    settings = Settings(warehouse_dir=warehouse, spark_master=args.master, schema="bench_meta")
    spark = build_spark_session(settings, os.environ, app_name="nuvyn-bench")
    spark.range(1).count()  # JVM warm: session start is not timed

    result, ours_s, ours_jobs = run_ours(spark, settings, root)
    # the big CSV alone, to compare with DuckDB on it
    _, big_ours_s, _ = run_ours(spark, settings, root / "big")
    delta_s = run_delta_write(spark, settings, result)
    if args.only_ours:
        naive = {"seconds": float("nan"), "jobs": 0, "extrapolated": False, "files_measured": 0}
        duck_counts, duck_s, duck_big_s = dict(manifest_counts(manifest)), float("nan"), 0.0
    else:
        naive = run_naive(spark, root, manifest, 8 if args.quick else args.naive_max_files)
        duck_counts, duck_s, duck_big_s = run_duckdb(root, manifest)

    ours_counts = {t.table_name: t.row_count for t in result.tables}
    expected = {name: t["rows"] for name, t in manifest["tables"].items()}
    counts_agree = ours_counts == expected and duck_counts == expected
    jvm = _jvm_peak_mb(spark)
    py = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "lake": {"tables": len(manifest["tables"]), "files": manifest["files"],
                 "size_mb": round(manifest["bytes"] / 2**20, 1), "spec": manifest["spec"],
                 "generate_seconds": round(gen_seconds, 2), "path": str(root)},
        "seconds": {"ours": round(ours_s, 3),
                    "naive_spark": None if args.only_ours else round(naive["seconds"], 3),
                    "duckdb": None if args.only_ours else round(duck_s, 3), "ours_delta_write": round(delta_s, 3),
                    "big_csv_ours": round(big_ours_s, 3), "big_csv_duckdb": round(duck_big_s, 3)},
        "ratios": {"naive_spark_over_ours": None if args.only_ours else round(naive["seconds"] / ours_s, 2),
                   "duckdb_over_ours": None if args.only_ours else round(duck_s / ours_s, 2),
                   "big_csv_ours_over_duckdb": round(big_ours_s / duck_big_s, 2) if duck_big_s else None},
        "spark_jobs": {"ours": ours_jobs, "naive_spark": naive["jobs"]},
        "naive": naive,
        "counts": {"agree": counts_agree, "tables_ok": sum(t.status == "ok" for t in result.tables),
                   "tables_failed": [t.table_name for t in result.tables if t.status != "ok"],
                   "mismatched": {k: {"expected": expected.get(k), "ours": ours_counts.get(k),
                                      "duckdb": duck_counts.get(k)}
                                  for k in set(expected) | set(ours_counts)
                                  if not (expected.get(k) == ours_counts.get(k) == duck_counts.get(k))}},
        "peak_rss_mb": round(py + (jvm or 0), 1),
        "peak_rss_mb_detail": {"python": round(py, 1), "jvm": round(jvm, 1) if jvm else None},
        "machine": {"cpus": os.cpu_count(), "spark_master": args.master, "spark": spark.version},
        # the reader sandbox over both extractions (docs/ARCHITECTURE.md, "Native readers run isolated")
        "sandbox": {"isolation": SandboxSettings.from_env(os.environ).isolation, **SANDBOX_STATS,
                    "largest_worker_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)},
    }
    spark.stop()
    if args.json:
        print(json.dumps(out))
    else:
        s, r = out["seconds"], out["ratios"]
        print(f"lake: {out['lake']['tables']} tables, {out['lake']['files']} files, {out['lake']['size_mb']} MB "
              f"({root})")
        print(f"{'':24}{'seconds':>10}{'spark jobs':>12}")
        print(f"{'ours (extract)':24}{s['ours']:>10.2f}{ours_jobs:>12}")
        print(f"{'ours (delta write)':24}{s['ours_delta_write']:>10.2f}")
        est = " (est.)" if naive["extrapolated"] else ""
        if not args.only_ours:
            print(f"{'naive spark' + est:24}{s['naive_spark']:>10.2f}{naive['jobs']:>12}")
            print(f"{'duckdb':24}{s['duckdb']:>10.2f}")
        print(f"big csv: ours {s['big_csv_ours']:.2f}s, duckdb {s['big_csv_duckdb']:.2f}s")
        print(f"naive/ours {r['naive_spark_over_ours']}  duckdb/ours {r['duckdb_over_ours']}  "
              f"big csv ours/duckdb {r['big_csv_ours_over_duckdb']}")
        print(f"row counts agree: {counts_agree}  peak RSS {out['peak_rss_mb']} MB")
        print(f"reader sandbox: {out['sandbox']}")
    return 0 if counts_agree else 1
