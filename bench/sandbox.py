"""What the reader sandbox (executor/sandbox) costs: worker start, a call's round trip, a read
served by the parent, and realistic Parquet sample reads through the sandbox vs in process.

    PYTHONPATH=$PWD .venv/bin/python -m bench.sandbox [--files 200] [--rows-per-file 2000]
        [--max-rows 100000] [--threads 8] [--workers 0] [--repeat 3] [--json]

Local disk, files generated under a temp dir (bench.lake's 7 columns) and removed after. Each
timed figure is the best of --repeat runs (the machine is shared); workers are started before
the reads are timed (a run pays the start once per worker, reported apart).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench import sandbox_tasks as tasks
from bench.lake import _columns
from executor.sandbox.pool import ReaderSandbox, SandboxSettings


def best(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def write_files(root: Path, files: int, rows: int) -> list[Path]:
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    paths = []
    for i in range(files):
        p = root / f"part-{i:04d}.parquet"
        pq.write_table(_columns(rng, rows, i * rows), p)
        paths.append(p)
    return paths


def extract_lake(path: str, repeat: int, workers: int) -> dict[str, Any]:
    """The extractor over a folder (no Spark: Parquet facts and samples), decoders in process vs in
    a run's own sandbox (workers started inside the timed run, as a run pays them), alternated,
    best and median of `repeat` runs each."""
    from executor.metadata.extractor import MetadataExtractor
    from executor.sandbox.pool import READER_PRELOAD
    from executor.settings import Settings

    times: dict[str, list[float]] = {"in_process": [], "sandbox": []}
    calls = 0
    for _ in range(repeat):
        for mode in times:
            box = ReaderSandbox(SandboxSettings(isolation=mode == "sandbox", workers=workers), preload=READER_PRELOAD)
            t0 = time.perf_counter()
            try:
                result = MetadataExtractor(None, Settings(), sandbox=box).extract_metadata(path)
            finally:
                box.close()
            times[mode].append(time.perf_counter() - t0)
            calls = box.stats().calls or calls
            assert not result.failed_tables, [t.error_message for t in result.failed_tables]
    return {"path": path, "tables": len(result.tables), "files": result.files_found, "sandbox_calls": calls,
            **{f"{mode}_s": {"best": round(min(ts), 3), "median": round(statistics.median(ts), 3)}
               for mode, ts in times.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.sandbox")
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--rows-per-file", type=int, default=2000)
    ap.add_argument("--max-rows", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--extract", metavar="FOLDER",
                    help="instead: time the extractor over FOLDER (e.g. python -m bench's lake, its parquet/ "
                         "folder) with decoders in process vs in a run's sandbox")
    args = ap.parse_args(argv)
    if args.extract:
        print(json.dumps(extract_lake(args.extract, args.repeat, args.workers)))
        return 0
    out: dict[str, Any] = {}
    settings = SandboxSettings(workers=args.workers)

    # worker start: a new pool, one worker, until it has imported pyarrow and said hello
    starts = []
    for _ in range(max(args.repeat, 3)):
        with ReaderSandbox(SandboxSettings(workers=1)) as box:
            t0 = time.perf_counter()
            box.start()
            starts.append(time.perf_counter() - t0)
    out["worker_start_s"] = {"median": round(statistics.median(starts), 3), "min": round(min(starts), 3)}

    root = Path(tempfile.mkdtemp(prefix="nuvyn-bench-sandbox-"))
    try:
        paths = write_files(root, args.files, args.rows_per_file)
        out["files"] = {"count": len(paths), "rows_per_file": args.rows_per_file,
                        "mb": round(sum(p.stat().st_size for p in paths) / 1e6, 1)}
        with ReaderSandbox(settings) as box:
            box.start()
            out["workers"] = box.size
            n = 2000
            rt = best(args.repeat, lambda: [box.run(tasks.noop, i) for i in range(n)]) / n
            out["call_round_trip_us"] = round(rt * 1e6, 1)
            blob = root / "blob.bin"
            blob.write_bytes(np.random.default_rng(1).bytes(64 << 20))
            for size, count in ((4096, 2000), (1 << 20, 64)):
                with open(blob, "rb") as f:
                    here = best(args.repeat, partial(tasks.read_chunks, f, size, count))
                    local = best(args.repeat, partial(box.run, tasks.read_chunks, size, count, file=f))
                    proxied = best(args.repeat, partial(box.run, tasks.read_chunks, size, count,
                                                        file=tasks.Proxied(f)))
                out[f"read_{size}_bytes_us"] = {"in_process": round(here / count * 1e6, 1),
                                                "sandbox_local_fd": round((local - rt) / count * 1e6, 1),
                                                "sandbox_proxied": round((proxied - rt) / count * 1e6, 1)}

            def each_file(fn: Callable[..., Any], mode: str, *extra: Any) -> Callable[[], None]:
                def read(p: Path) -> Any:
                    with open(p, "rb") as f:
                        if mode == "in_process":
                            return fn(f, *extra)
                        return box.run(fn, *extra, file=f if mode == "sandbox_local_fd" else tasks.Proxied(f),
                                       path=p.name, reader="Parquet reader")

                def go() -> None:
                    with ThreadPoolExecutor(args.threads) as pool:
                        list(pool.map(read, paths))
                return go

            for label, fn, extra in (("sample_read", tasks.first_rows, (args.max_rows,)),
                                     ("footer_stats", tasks.footer_facts, ())):
                row = {mode: round(best(args.repeat, each_file(fn, mode, *extra)), 3)
                       for mode in ("in_process", "sandbox_local_fd", "sandbox_proxied")}
                row["overhead_ms_per_file"] = [round((row[m] - row["in_process"]) / len(paths) * 1e3, 2)
                                               for m in ("sandbox_local_fd", "sandbox_proxied")]
                out[f"{label}_{args.files}_files_{args.threads}_threads_s"] = row

            def one_table(mode: str) -> Callable[[], None]:
                def go() -> None:
                    left = args.max_rows
                    for p in paths:
                        with open(p, "rb") as f:
                            t = (tasks.first_rows(f, left) if mode == "in_process" else
                                 box.run(tasks.first_rows, left,
                                         file=f if mode == "sandbox_local_fd" else tasks.Proxied(f)))
                        left -= t.num_rows
                        if left <= 0:
                            return
                return go

            row = {mode: round(best(args.repeat, one_table(mode)), 3)
                   for mode in ("in_process", "sandbox_local_fd", "sandbox_proxied")}
            row["files_read"] = min(len(paths), -(-args.max_rows // args.rows_per_file))
            out[f"one_table_first_{args.max_rows}_rows_s"] = row
            out["stats"] = {k: v for k, v in vars(box.stats()).items() if k != "start_seconds"}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:45s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
