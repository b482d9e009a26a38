"""python -m bench --cli | --api [--json]: metadata reads on the demo lake (issues 13 and 14).

--cli  wall time of `nuvyn-executor query --format json` and `runs` (fresh processes, as a user types
       them), and the time the job takes to fail on a missing source path.
--api  a warm `nuvyn-executor serve` on the demo lake: GET /workflows/{id}/metadata p50/p99 over
       200 requests at 20 concurrent, and /health p99 while 50 metadata GETs run.

The demo lake is `make demo`'s: samples/lake extracted by the job (Spark) into
<cache-dir>/demo-warehouse, once; that setup is not timed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO_PAYLOAD = '{"workflow_id":"demo_workflow","source_id":"demo_source"}'
WORKFLOW, SOURCE = "demo_workflow", "demo_source"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench --cli|--api", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", action="store_true", help="time the CLI reads and the missing-path failure")
    p.add_argument("--api", action="store_true", help="time the API's metadata reads and /health under load")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--cache-dir", default=str(REPO / ".bench"))
    p.add_argument("--repeat", type=int, default=5, help="--cli: runs of each command (median reported)")
    p.add_argument("--requests", type=int, default=200, help="--api: metadata GETs timed")
    p.add_argument("--concurrency", type=int, default=20, help="--api: metadata GETs in flight")
    p.add_argument("--load", type=int, default=50, help="--api: metadata GETs running while /health is timed")
    p.add_argument("--skip-missing-path", action="store_true", help="--cli: do not time the missing-path failure")
    return p


def _env(warehouse: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUVYN_")}
    env.update(NUVYN_WAREHOUSE_DIR=str(warehouse), PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable)
    return env


def demo_warehouse(cache: Path) -> tuple[Path, float | None]:
    """<cache>/demo-warehouse with the demo run in it (built by the real job when missing)."""
    wh = cache / "demo-warehouse"
    if (wh / "_executor_metadata.db" / "executor_runs" / "_delta_log").is_dir():
        return wh, None
    wh.mkdir(parents=True, exist_ok=True)
    env = {**_env(wh), "NUVYN_JOB_PAYLOAD": DEMO_PAYLOAD}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "executor.main", "metadata_extraction", str(REPO / "samples" / "lake"),
                        "auto", "default", "--write-to-db"], env=env, cwd=str(REPO), capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"building the demo lake failed (exit {p.returncode}):\n{p.stderr[-2000:]}")
    return wh, time.perf_counter() - t0


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=str(REPO), capture_output=True, text=True)
    return time.perf_counter() - t0, p.returncode, p.stdout


def bench_cli(warehouse: Path, repeat: int, missing_path: bool) -> dict:
    env = _env(warehouse)
    cli = [sys.executable, "-m", "executor.cli"]
    commands = {
        "query_json": cli + ["query", "--workflow-id", WORKFLOW, "--source-id", SOURCE, "--format", "json"],
        "runs": cli + ["runs", "--workflow-id", WORKFLOW],
    }
    out: dict = {}
    for name, cmd in commands.items():
        times = []
        for _ in range(repeat):
            seconds, code, _stdout = _timed(cmd, env)
            if code != 0:
                raise SystemExit(f"{' '.join(cmd[2:])} exited {code}")
            times.append(seconds)
        out[name] = {"seconds_median": round(statistics.median(times), 3), "seconds_min": round(min(times), 3),
                     "seconds_max": round(max(times), 3), "runs": repeat,
                     "command": "nuvyn-executor " + " ".join(cmd[3:])}
    query = json.loads(_timed(commands["query_json"], env)[2])
    out["query_json"]["tables"] = len(query["tables"])
    out["query_json"]["columns"] = len(query["columns"])
    if missing_path:
        cmd = [sys.executable, "-m", "executor.main", "metadata_extraction", "/no/such/path", "auto", "default"]
        seconds, code, _ = _timed(cmd, {**env, "NUVYN_JOB_PAYLOAD": '{"workflow_id":"bench_missing"}'})
        out["missing_path"] = {"seconds": round(seconds, 3), "exit_code": code,
                               "command": "python -m executor.main metadata_extraction /no/such/path auto default"}
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Client(threading.local):
    """One keep-alive connection per thread."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token, self.conn = port, token, None

    def get(self, path: str) -> tuple[int, float, int]:
        t0 = time.perf_counter()
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self.conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
                resp = self.conn.getresponse()
                body = resp.read()
                return resp.status, time.perf_counter() - t0, len(body)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def bench_api(warehouse: Path, requests: int, concurrency: int, load: int) -> dict:
    port = _free_port()
    token = secrets.token_urlsafe(24)
    env = {**_env(warehouse), "NUVYN_API_TOKEN": token, "NUVYN_API_JOBS_DB": str(warehouse / "_api" / "bench.sqlite3")}
    proc = subprocess.Popen([sys.executable, "-m", "executor.api_server", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "WARNING"], env=env, cwd=str(REPO),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    client = _Client(port, token)
    metadata = f"/workflows/{WORKFLOW}/metadata?source_id={SOURCE}"
    try:
        t0 = time.perf_counter()
        while True:
            try:
                if client.get("/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.perf_counter() - t0 > 120:
                raise SystemExit(f"the API server did not start: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
            time.sleep(0.1)
        startup = time.perf_counter() - t0
        code, first, size = client.get(metadata)  # warm: first read (imports, first table open)
        if code != 200:
            raise SystemExit(f"GET {metadata} answered {code}")
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda _: client.get(metadata), range(concurrency)))  # warm every connection
            t1 = time.perf_counter()
            answers = list(pool.map(lambda _: client.get(metadata), range(requests)))
            wall = time.perf_counter() - t1
        codes = sorted({c for c, _, _ in answers})
        lat = [s for _, s, _ in answers]

        health: list[float] = []
        with ThreadPoolExecutor(load) as pool:
            futures = [pool.submit(client.get, metadata) for _ in range(load)]
            while not all(f.done() for f in futures):
                c, s, _ = client.get("/health")
                if c == 200:
                    health.append(s)
            load_codes = sorted({f.result()[0] for f in futures})
        rss = None
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) // 1024
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        jvm = "libjvm" in Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "server_start_seconds": round(startup, 2),
        "first_metadata_seconds": round(first, 3), "metadata_bytes": size,
        "metadata": {"requests": requests, "concurrency": concurrency, "status_codes": codes,
                     "p50_seconds": round(_pct(lat, 50), 4), "p99_seconds": round(_pct(lat, 99), 4),
                     "max_seconds": round(max(lat), 4), "requests_per_second": round(requests / wall, 1)},
        "health_under_load": {"metadata_in_flight": load, "metadata_status_codes": load_codes,
                              "health_requests": len(health),
                              "p50_seconds": round(_pct(health, 50), 4) if health else None,
                              "p99_seconds": round(_pct(health, 99), 4) if health else None},
        "server": {"peak_rss_mb": rss, "child_processes": len(children), "jvm_in_process": jvm},
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not (args.cli or args.api):
        raise SystemExit("give --cli and/or --api")
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    warehouse, setup = demo_warehouse(cache)
    out: dict = {"warehouse": str(warehouse), "demo_setup_seconds": None if setup is None else round(setup, 1),
                 "machine": {"cpus": os.cpu_count()}}
    if args.cli:
        out["cli"] = bench_cli(warehouse, args.repeat, not args.skip_missing_path)
    if args.api:
        out["api"] = bench_api(warehouse, args.requests, args.concurrency, args.load)
    bars = {}
    if args.cli:
        bars["query_under_3s"] = out["cli"]["query_json"]["seconds_median"] < 3
        if "missing_path" in out["cli"]:
            bars["missing_path_under_2s"] = out["cli"]["missing_path"]["seconds"] < 2
    if args.api:
        bars["metadata_p50_under_0.5s"] = out["api"]["metadata"]["p50_seconds"] < 0.5
        hp = out["api"]["health_under_load"]["p99_seconds"]
        bars["health_p99_under_0.2s"] = hp is not None and hp < 0.2
    out["bars"] = bars
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))
    return 0
