"""python -m bench --remote [--quick] [--json]: extraction from Azure Blob storage with real latency.

Starts Azurite (`.tools/node_modules/.bin/azurite-blob`) and a latency proxy (bench/proxy.py) on
127.0.0.1, uploads a lake once (cached under <cache-dir>/remote-<key>/), then times each part in
a fresh process (so that its peak RSS is its own) through the proxy, with the proxy's counters;
ours and the part's anchor run alternately `--repeat` times (3; the scale part once), and the run of
median time is shown (on a machine shared with Azurite and the proxy one run moves by 25%):

  parquet   Parquet files in many tables          anchor: pyarrow's AzureFileSystem footer scan
  csv       CSV folders                           anchor: every file downloaded whole (compared per file with Parquet too)
  big_csv   one big CSV                           anchor: the blob downloaded with parallel ranges
  delta     Delta tables with many commits        anchor: delta-rs (deltalake) log replay + row counts
  scale     one table of many Parquet files       (compared with the Parquet part: time, RSS)

Every part checks that the row counts equal the generated ones. The limit printed per part is
requests x RTT / threads: the time the requests would take if every one cost one round trip and
the threads never waited for anything else.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
AZURITE_BIN = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"
# Preloaded into Azurite unless --azurite-stock: blobs looked up by their indexed name (the emulator's
# own query walks every blob it holds on each GET; see the file's comment)
AZURITE_LOOKUP = REPO / "bench" / "azurite_lookup.js"
AZURITE_LOOKUP_SAYS = b"looked up by name first"  # its line in azurite.log
ACCOUNT = "devstoreaccount1"
# The emulator's well-known development key (public).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
PARTS = ("parquet", "csv", "big_csv", "delta", "scale")


@dataclass(frozen=True)
class RemoteSpec:
    parquet_tables: int = 50
    parquet_files_per_table: int = 40
    parquet_rows: int = 150  # ~7 KB files
    csv_tables: int = 10
    csv_files_per_table: int = 20
    csv_rows: int = 9000  # ~720 KB files
    big_csv_mb: int = 200
    delta_commits: tuple[int, ...] = (20, 50, 100, 150, 200)  # one table per entry, one file per commit
    delta_rows: int = 200
    scale_files: int = 20000
    scale_rows: int = 150
    seed: int = 11

    @classmethod
    def quick(cls) -> RemoteSpec:
        return cls(parquet_tables=5, parquet_files_per_table=8, csv_tables=2, csv_files_per_table=4, csv_rows=2000,
                   big_csv_mb=16, delta_commits=(5, 12), scale_files=400)

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


# ------------------------------------------------------------------------------------------ the lake


def _frame(rng: Any, n: int, offset: int) -> Any:
    import numpy as np
    import pyarrow as pa

    base = np.datetime64("2020-01-01T00:00:00")
    return pa.table({
        "id": pa.array(np.arange(offset, offset + n, dtype=np.int64)),
        "qty": pa.array(rng.integers(0, 1000, n, dtype=np.int32)),
        "amount": pa.array(np.round(rng.random(n) * 1000, 2)),
        "name": pa.array(np.char.add("name_", rng.integers(0, 10_000, n).astype(str)).astype(object)),
        "created": pa.array((base + rng.integers(0, 3 * 365, n).astype("timedelta64[D]")).astype("datetime64[D]")),
        "updated_at": pa.array((base + rng.integers(0, 10**8, n).astype("timedelta64[s]")).astype("datetime64[us]")),
        "active": pa.array(rng.random(n) < 0.5),
    })


def generate(spec: RemoteSpec, root: Path) -> dict[str, Any]:
    """The lake under root/lake and its manifest {part: {table: rows}} (built if missing)."""
    import numpy as np
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())
    lake = root / "lake"
    shutil.rmtree(lake, ignore_errors=True)
    rng = np.random.default_rng(spec.seed)
    parts: dict[str, dict[str, int]] = {p: {} for p in PARTS}
    offset = 0
    for t in range(spec.parquet_tables):
        folder = lake / "parquet" / f"p{t:03d}"
        folder.mkdir(parents=True)
        for f in range(spec.parquet_files_per_table):
            pq.write_table(_frame(rng, spec.parquet_rows, offset), folder / f"part-{f:04d}.parquet")
            offset += spec.parquet_rows
        parts["parquet"][f"p{t:03d}"] = spec.parquet_files_per_table * spec.parquet_rows
    for t in range(spec.csv_tables):
        folder = lake / "csv" / f"c{t:03d}"
        folder.mkdir(parents=True)
        for f in range(spec.csv_files_per_table):
            pacsv.write_csv(_frame(rng, spec.csv_rows, offset), folder / f"part-{f:04d}.csv")
            offset += spec.csv_rows
        parts["csv"][f"c{t:03d}"] = spec.csv_files_per_table * spec.csv_rows
    (lake / "big_csv").mkdir(parents=True)
    chunk = _frame(rng, 100_000, 0)
    rows = 0
    with open(lake / "big_csv" / "big.csv", "wb") as fh, pacsv.CSVWriter(fh, chunk.schema) as w:
        while fh.tell() < spec.big_csv_mb * 1024 * 1024:
            w.write_table(chunk)
            rows += chunk.num_rows
            fh.flush()
    parts["big_csv"]["big"] = rows  # a one-file table takes the file's name
    from deltalake import write_deltalake

    for t, commits in enumerate(spec.delta_commits):
        path = lake / "delta" / f"d{t:02d}"
        path.mkdir(parents=True)
        for _ in range(commits):
            write_deltalake(str(path), _frame(rng, spec.delta_rows, offset), mode="append")
            offset += spec.delta_rows
        parts["delta"][f"d{t:02d}"] = commits * spec.delta_rows
    folder = lake / "scale" / "events"
    folder.mkdir(parents=True)
    small = _frame(rng, spec.scale_rows, 0)
    for f in range(spec.scale_files):
        pq.write_table(small, folder / f"part-{f:05d}.parquet")
    parts["scale"]["events"] = spec.scale_files * spec.scale_rows
    files = {p: sum(1 for x in (lake / p).rglob("*") if x.is_file() and "_delta_log" not in x.parts) for p in PARTS}
    size = {p: sum(x.stat().st_size for x in (lake / p).rglob("*") if x.is_file()) for p in PARTS}
    manifest = {"spec": asdict(spec), "rows": parts, "files": files, "bytes": size}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


# ------------------------------------------------------------------------------------------ servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class Servers:
    """Azurite (data kept under `data_dir`, so the upload survives runs) and the latency proxy."""

    def __init__(self, data_dir: Path, delay_ms: float, stock: bool = False) -> None:
        self.data_dir = data_dir
        self.delay_ms = delay_ms
        self.stock = stock
        self.procs: list[subprocess.Popen] = []
        self.azurite_port = 0
        self.proxy_port = 0
        self.control_port = 0

    def __enter__(self) -> Servers:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.azurite_port = _free_port()
        log_path = self.data_dir / "azurite.log"
        log_start = log_path.stat().st_size if log_path.exists() else 0
        log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
        env = dict(os.environ)
        if not self.stock:
            env["NODE_OPTIONS"] = f"{env.get('NODE_OPTIONS', '')} --require {json.dumps(str(AZURITE_LOOKUP))}".strip()
        az = subprocess.Popen([str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(self.azurite_port),
                               "--location", str(self.data_dir / "db"), "--skipApiVersionCheck", "--loose", "--silent"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.procs.append(az)
        _wait_port(self.azurite_port, az, "azurite")
        if not self.stock:  # the preload says so before the server listens; figures are never the stock's unsaid
            with open(log_path, "rb") as f:
                f.seek(log_start)
                if AZURITE_LOOKUP_SAYS not in f.read():
                    self.__exit__()
                    raise RuntimeError(f"Azurite started without {AZURITE_LOOKUP.name} (see {log_path}); "
                                       "run the bench with --azurite-stock to time the emulator as shipped")
        proxy = subprocess.Popen([sys.executable, "-m", "bench.proxy", "--upstream", f"127.0.0.1:{self.azurite_port}",
                                  "--delay-ms", str(self.delay_ms)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                                 start_new_session=True)
        self.procs.append(proxy)
        assert proxy.stdout is not None
        words = proxy.stdout.readline().split()  # "listening <port> control <port>"
        if len(words) != 4:
            raise RuntimeError("the latency proxy did not start")
        self.proxy_port, self.control_port = int(words[1]), int(words[3])
        return self

    def __exit__(self, *exc: object) -> None:
        for p in reversed(self.procs):
            _stop(p)

    def endpoint(self, direct: bool = False) -> str:
        return f"http://127.0.0.1:{self.azurite_port if direct else self.proxy_port}/{ACCOUNT}"

    def connection_string(self, direct: bool = False) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.endpoint(direct)};")

    def control(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.control_port}{path}", timeout=30) as r:
            return json.loads(r.read())


def container_of(part: str) -> str:
    """Each part in its own container (Azurite lists a container in time that grows with all its blobs)."""
    return part.replace("_", "-")


def upload(servers: Servers, lake: Path, threads: int = 16) -> float:
    """Upload each part of the lake into its own container, directly to Azurite (not through the
    proxy), once: a part whose container already holds every file is skipped."""
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient.from_connection_string(servers.connection_string(direct=True))
    t0 = time.perf_counter()
    for part in PARTS:
        cc = svc.get_container_client(container_of(part))
        local = sorted(p for p in (lake / part).rglob("*") if p.is_file())
        if cc.exists() and sum(1 for _ in cc.list_blobs()) == len(local):
            continue
        if not cc.exists():
            cc.create_container()

        def put(path: Path, cc: Any = cc, part: str = part) -> None:
            with open(path, "rb") as fh:
                cc.upload_blob(path.relative_to(lake / part).as_posix(), fh, overwrite=True, max_concurrency=4)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, local))
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------ workers
# Each runs in its own process (`python -m bench.remote --worker '<json>'`) and prints one JSON line.


def _rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not carry the parent's peak over a fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_ours(job: dict[str, Any]) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from executor.metadata.extractor import MetadataExtractor
    from executor.settings import Settings

    settings = Settings(azure_connection_string=job["connection_string"], io_threads=job["threads"],
                        **job.get("settings", {}))
    url = f"{job['endpoint']}/{job['container']}"
    # the libraries the run uses (numpy, pandas, pyarrow, the Azure SDK), imported before the clock
    # starts as each anchor's are (the executor imports them lazily, on first use: pandas comes with
    # pyarrow's first array); a job process has them loaded once, for all its sources
    import azure.storage.blob  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.compute  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import urllib3  # noqa: F401

    from executor.sandbox.pool import READER_PRELOAD, ReaderSandbox, scrub_environment
    from executor.settings import SandboxSettings

    t0, c0 = time.perf_counter(), _cpu_seconds()
    # as a run: its own reader sandbox (NUVYN_READER_ISOLATION=false: decoders in process), started inside the timing
    sandbox = ReaderSandbox(SandboxSettings.from_env(os.environ), env=scrub_environment(os.environ),
                            preload=READER_PRELOAD)
    try:
        result = MetadataExtractor(None, settings, sandbox=sandbox).extract_metadata(url)
    finally:
        sandbox.close()
    seconds = time.perf_counter() - t0
    return {"cpu_seconds": _cpu_seconds() - c0, "seconds": seconds, "rows": {t.table_name: t.row_count for t in result.tables},
            "sandbox_calls": sandbox.stats().calls,
            "failed": {t.table_name: t.error_message for t in result.tables if t.status != "ok"},
            "files": result.files_found, "peak_rss_mb": _rss_mb()}


def worker_pyarrow(job: dict[str, Any]) -> dict[str, Any]:
    """pyarrow's AzureFileSystem: list, then every footer in `threads` threads (pyarrow.dataset
    fragments carry the listing's sizes, so each footer is one ranged GET)."""
    import pyarrow.dataset as ds
    from pyarrow.fs import AzureFileSystem

    fs = AzureFileSystem(ACCOUNT, account_key=ACCOUNT_KEY, blob_storage_authority=job["authority"],
                         blob_storage_scheme="http", dfs_storage_authority=job["authority"],
                         dfs_storage_scheme="http")
    t0, c0 = time.perf_counter(), _cpu_seconds()
    dataset = ds.dataset(job["container"], filesystem=fs, format="parquet")
    fragments = list(dataset.get_fragments())

    def rows(fragment: Any) -> int:
        fragment.ensure_complete_metadata()
        return int(fragment.metadata.num_rows)

    with ThreadPoolExecutor(job["threads"]) as pool:
        counts = list(pool.map(rows, fragments))
    seconds = time.perf_counter() - t0
    return {"cpu_seconds": _cpu_seconds() - c0, "seconds": seconds, "total_rows": sum(counts), "files": len(fragments), "peak_rss_mb": _rss_mb()}


def worker_download(job: dict[str, Any]) -> dict[str, Any]:
    """The transfer time of one blob: azure-storage-blob's parallel ranged download into memory
    chunks that are dropped (the bandwidth the proxy gives with `threads` connections)."""
    from azure.storage.blob import BlobClient

    blob = BlobClient.from_connection_string(job["connection_string"], job["container"], job["blob"],
                                             max_single_get_size=4 * 1024 * 1024, max_chunk_get_size=8 * 1024 * 1024)

    class Sink:  # counts the bytes and drops them (the SDK seeks to each chunk's offset)
        n = 0
        pos = 0

        def write(self, data: bytes) -> int:
            self.n += len(data)
            self.pos += len(data)
            return len(data)

        def seekable(self) -> bool:
            return True

        def seek(self, pos: int, whence: int = 0) -> int:
            self.pos = pos
            return pos

        def tell(self) -> int:
            return self.pos

    sink = Sink()
    t0, c0 = time.perf_counter(), _cpu_seconds()
    blob.download_blob(max_concurrency=job["threads"]).readinto(sink)
    return {"cpu_seconds": _cpu_seconds() - c0, "seconds": time.perf_counter() - t0, "bytes": sink.n, "peak_rss_mb": _rss_mb()}


def worker_download_all(job: dict[str, Any]) -> dict[str, Any]:
    """The transfer time of a container's blobs: listed, then each downloaded whole (one GET) in
    `threads` threads, the bytes dropped (what the CSV folders cost before any parsing)."""
    from azure.storage.blob import ContainerClient

    container = ContainerClient.from_connection_string(job["connection_string"], job["container"],
                                                       max_single_get_size=64 * 1024 * 1024)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    names = [b.name for b in container.list_blobs()]

    def fetch(name: str) -> int:
        return len(container.download_blob(name).readall())

    with ThreadPoolExecutor(job["threads"]) as pool:
        total = sum(pool.map(fetch, names))
    return {"cpu_seconds": _cpu_seconds() - c0, "seconds": time.perf_counter() - t0, "bytes": total, "files": len(names), "peak_rss_mb": _rss_mb()}


def worker_deltars(job: dict[str, Any]) -> dict[str, Any]:
    """delta-rs: each table's log replayed (schema, files) and its rows summed from the add actions."""
    from deltalake import DeltaTable

    options = {"account_name": ACCOUNT, "account_key": ACCOUNT_KEY, "endpoint": job["endpoint"],
               "allow_http": "true"}
    t0, c0 = time.perf_counter(), _cpu_seconds()
    rows: dict[str, int] = {}
    for name in job["tables"]:
        dt = DeltaTable(f"az://{job['container']}/{name}", storage_options=options)
        dt.schema()
        actions = dt.get_add_actions(flatten=True)
        rows[name] = int(sum(x or 0 for x in actions.column("num_records").to_pylist()))
    return {"cpu_seconds": _cpu_seconds() - c0, "seconds": time.perf_counter() - t0, "rows": rows, "peak_rss_mb": _rss_mb()}


WORKERS = {"ours": worker_ours, "pyarrow": worker_pyarrow, "download": worker_download,
           "download_all": worker_download_all, "deltars": worker_deltars}


def _tree_cpu_seconds(roots: list[int]) -> float:
    """CPU seconds (user + system) used so far by the processes under `roots` (them included)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    total = 0.0
    for pid, (_ppid, cpu) in stats.items():
        p, seen = pid, 0
        while p and p not in roots and seen < 64:
            p, seen = stats.get(p, (0, 0.0))[0], seen + 1
        if p in roots:
            total += cpu
    return total


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its children that ended (ours: the reader sandbox's
    workers, stopped and waited for inside the timing)."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def run_worker(servers: Servers, job: dict[str, Any]) -> dict[str, Any]:
    """One worker process; the proxy's counters for exactly its run, and the CPU seconds Azurite
    and the proxy used meanwhile (on this machine they share the cores with the worker), and
    Azurite's alone (the server's own work for the run's requests)."""
    servers.control("/reset")
    server_cpu = _tree_cpu_seconds([p.pid for p in servers.procs])
    azurite_cpu = _tree_cpu_seconds([servers.procs[0].pid])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUVYN_", "AZURE_"))}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-m", "bench.remote", "--worker", json.dumps(job)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=3600, check=False)
    stats = servers.control("/stats")
    server_cpu = _tree_cpu_seconds([p.pid for p in servers.procs]) - server_cpu
    azurite_cpu = _tree_cpu_seconds([servers.procs[0].pid]) - azurite_cpu
    if proc.returncode != 0:
        raise RuntimeError(f"worker {job['kind']} failed: {proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["proxy"] = {"requests": stats["requests"], "kinds": stats["kinds"], "connections": stats["connections"],
                    "peak_open": stats["peak_open"], "mb_down": round(stats["bytes_s2c"] / 2**20, 2),
                    "range_sizes": stats["range_sizes"]}
    out["server_cpu_seconds"] = server_cpu
    out["azurite_cpu_seconds"] = azurite_cpu
    return out


# ------------------------------------------------------------------------------------------ the run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench --remote", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--remote", action="store_true", help="(this benchmark)")
    p.add_argument("--quick", action="store_true", help="a small lake (smoke test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--threads", type=int, default=32, help="NUVYN_IO_THREADS of ours, threads of the anchors")
    p.add_argument("--rtt-ms", type=float, default=20.0, help="round trip added by the proxy")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--no-anchors", action="store_true", help="time only ours")
    p.add_argument("--profile-rows", type=int, default=None,
                   help="NUVYN_PROFILE_MAX_ROWS of ours (default: the setting's, 100,000 rows a table)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of ours and of its anchor per part, alternated; the median run's figures are shown "
                        "(the scale part runs once: about 90 s a run)")
    p.add_argument("--azurite-stock", action="store_true",
                   help="Azurite as shipped, without bench/azurite_lookup.js (its CPU per GET grows with the "
                        "blobs it holds)")
    p.add_argument("--no-compile", action="store_true",
                   help="leave the executor's modules as they are (by default they are byte-compiled first, as "
                        "pip compiles an installed wheel)")
    p.add_argument("--cache-dir", default=str(REPO / ".bench"))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p


def compile_executor() -> bool:
    """Byte-compile the executor's modules, as pip does when it installs the wheel: a run then
    loads them as a job does, where a machine with PYTHONDONTWRITEBYTECODE set (this one) had every
    worker, and each of its sandbox's workers, compile the modules it imported (0.15 s of CPU a
    sandbox worker) while the anchors' libraries loaded compiled. True when every module compiled."""
    return bool(compileall.compile_dir(str(REPO / "executor"), quiet=1))


def _summary(part: str, ours: dict[str, Any], files: int, rtt_ms: float, threads: int,
             cpus: int | None = None) -> dict[str, Any]:
    """One run's figures. Two lower bounds of its time: `limit_seconds`, its requests' round trips
    spread over the threads (the link), and `cpu_floor_seconds`, the CPU it took (the worker's, and
    Azurite's and the proxy's, which share this machine's cores) spread over the cores they may run
    on (`cpus`, default: this bench's, which the servers and workers it starts inherit): the
    machine's bound, which no overlap of the work can beat (on a real store the server's share is
    not on the client's cores)."""
    from executor.settings import cores  # the cores this process may run on (its CPU affinity)

    px = ours["proxy"]
    cpu = ours.get("cpu_seconds", 0.0) + ours.get("server_cpu_seconds", 0.0)
    return {"seconds": round(ours["seconds"], 2), "files": files, "requests": px["requests"],
            "requests_per_file": round(px["requests"] / max(files, 1), 2), "kinds": px["kinds"],
            "connections": px["connections"], "peak_open": px["peak_open"], "mb_down": px["mb_down"],
            "peak_rss_mb": round(ours["peak_rss_mb"], 1),
            "cpu_seconds": round(ours.get("cpu_seconds", 0.0), 2),
            "azurite_and_proxy_cpu_seconds": round(ours.get("server_cpu_seconds", 0.0), 2),
            "azurite_cpu_seconds": round(ours.get("azurite_cpu_seconds", 0.0), 2),
            "limit_seconds": round(px["requests"] * rtt_ms / 1000 / threads, 2),
            "cpu_floor_seconds": round(cpu / (cpus or cores()), 2)}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose seconds are the median of `runs` (the lower middle one of an even number), its
    figures as they are (requests, connections, RSS of that run), with every run's seconds in
    `runs_seconds`; a run that counted rows wrong is the one shown, whatever its time."""
    wrong = [r for r in runs if r.get("rows_exact") is False]
    ordered = sorted(runs, key=lambda r: r["seconds"])
    chosen = wrong[0] if wrong else ordered[(len(ordered) - 1) // 2]
    return {**chosen, "runs_seconds": [r["seconds"] for r in runs]}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        job = json.loads(args.worker)
        print(json.dumps(WORKERS[job["kind"]](job)))
        return 0
    if not AZURITE_BIN.exists():
        print(f"bench --remote: skipped, azurite is not installed at {AZURITE_BIN} (scripts/bootstrap.sh installs it)",
              file=sys.stderr)
        return 2
    from executor.settings import cores

    spec = RemoteSpec.quick() if args.quick else RemoteSpec()
    if not args.no_compile:
        compile_executor()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        print(f"unknown part(s) {sorted(unknown)}; expected some of {', '.join(PARTS)}", file=sys.stderr)
        return 2
    root = Path(args.cache_dir) / f"remote-{spec.key()}"
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    manifest = generate(spec, root)
    gen_s = time.perf_counter() - t0
    threads, rtt = args.threads, args.rtt_ms
    out: dict[str, Any] = {"spec": asdict(spec), "threads": threads, "rtt_ms": rtt, "profile_rows": args.profile_rows,
                           "azurite": "stock" if args.azurite_stock else "blobs looked up by name (bench/azurite_lookup.js)",
                           "generate_seconds": round(gen_s, 1),
                           "parts": {}, "targets": {}, "machine": {"cpus": cores(),
                                                                   "load": os.getloadavg()[0]}}
    with Servers(root / "azurite", rtt / 2, stock=args.azurite_stock) as servers:
        out["upload_seconds"] = round(upload(servers, root / "lake"), 1)
        base = {"connection_string": servers.connection_string(), "endpoint": servers.endpoint(), "threads": threads}
        settings = {} if args.profile_rows is None else {"profile_max_rows": args.profile_rows}  # ours only
        for part in parts:
            expected = manifest["rows"][part]
            # Azurite answers its first requests after a start slower (Node's JIT): every blob of
            # the part is fetched once, untimed, so that ours and the anchor after it meet the same server
            warm = run_worker(servers, {**base, "kind": "download_all", "container": container_of(part)})
            files = manifest["files"][part]
            runs: list[dict[str, Any]] = []
            anchors: list[dict[str, Any]] = []
            anchor_error = None
            # ours and its anchor alternately: a machine whose speed drifts (shared cores) moves both
            for _ in range(1 if part == "scale" else max(1, args.repeat)):
                ours = run_worker(servers, {**base, "kind": "ours", "container": container_of(part), "settings": settings})
                run = _summary(part, ours, files, rtt, threads)
                run["rows_exact"] = ours["rows"] == expected and not ours["failed"]
                if not run["rows_exact"]:
                    run["mismatch"] = {"expected": expected, "ours": ours["rows"], "failed": ours["failed"]}
                runs.append(run)
                if not args.no_anchors and anchor_error is None:
                    try:
                        anchor = _anchor(servers, base, part, files, expected, rtt, threads)
                        if anchor is not None:
                            anchors.append(anchor)
                    except RuntimeError as exc:  # an anchor that fails (Azurite times out) is reported, not fatal
                        anchor_error = str(exc)[-500:]
            summary = median_run(runs)
            summary["rows_exact"] = all(r["rows_exact"] for r in runs)
            summary["mb"] = round(manifest["bytes"][part] / 2**20, 1)
            summary["warmup_seconds"] = round(warm["seconds"], 2)
            if anchors:
                summary["anchor"] = median_run(anchors)
            if anchor_error is not None:
                summary["anchor_error"] = anchor_error
            out["parts"][part] = summary
            (root / "last-run.json").write_text(json.dumps(out))  # what is measured so far
            print(f"{part}: {summary['seconds']} s, {summary['requests_per_file']} requests/file", file=sys.stderr)
    out["targets"] = _targets(out["parts"])
    if args.json:
        print(json.dumps(out))
    else:
        print(render(out))
    return 0 if all(p.get("rows_exact") for p in out["parts"].values()) else 1


def _anchor(servers: Servers, base: dict[str, Any], part: str, files: int, expected: dict[str, int], rtt: float,
            threads: int) -> dict[str, Any] | None:
    """The plain library's run of the same part on the same proxy (None: no anchor for this part)."""
    if part in ("parquet", "scale"):
        anchor = run_worker(servers, {**base, "kind": "pyarrow", "container": container_of(part),
                                      "authority": f"127.0.0.1:{servers.proxy_port}"})
        return {"name": "pyarrow AzureFileSystem footer scan", **_summary(part, anchor, files, rtt, threads),
                "rows_exact": anchor["total_rows"] == sum(expected.values())}
    if part == "big_csv":
        anchor = run_worker(servers, {**base, "kind": "download", "container": container_of(part), "blob": "big.csv"})
        return {"name": "parallel ranged download (transfer time)", **_summary(part, anchor, files, rtt, threads),
                "mb_per_s": round(anchor["bytes"] / 2**20 / anchor["seconds"], 1)}
    if part == "csv":
        anchor = run_worker(servers, {**base, "kind": "download_all", "container": container_of(part)})
        return {"name": "every file downloaded whole (transfer time)", **_summary(part, anchor, files, rtt, threads),
                "mb_per_s": round(anchor["bytes"] / 2**20 / anchor["seconds"], 1)}
    if part == "delta":
        anchor = run_worker(servers, {**base, "kind": "deltars", "container": container_of(part),
                                      "tables": sorted(expected)})
        return {"name": "delta-rs log replay + add-action row counts", **_summary(part, anchor, files, rtt, threads),
                "rows_exact": anchor["rows"] == expected}
    return None


def _targets(parts: dict[str, Any]) -> dict[str, Any]:
    t: dict[str, Any] = {}
    pq_ = parts.get("parquet")
    if pq_ and "anchor" in pq_:
        t["parquet_over_pyarrow"] = round(pq_["seconds"] / pq_["anchor"]["seconds"], 2)  # <= 1.5
    if pq_:
        t["parquet_connections_over_threads"] = pq_["connections"]  # <= threads + 4
    csv, big, delta, scale = parts.get("csv"), parts.get("big_csv"), parts.get("delta"), parts.get("scale")
    if csv and pq_:
        def per_parquet_file(seconds: float) -> float:  # CSV seconds a file over Parquet seconds a file
            return round((seconds / csv["files"]) / (pq_["seconds"] / pq_["files"]), 2)

        t["csv_per_file_over_parquet_per_file"] = per_parquet_file(csv["seconds"])  # <= 2
        # information: the same ratio were the CSV part to end at its CPU floor (see _summary): above 2,
        # the target is out of this machine's reach whatever the overlap
        if csv.get("cpu_floor_seconds"):
            t["csv_cpu_floor_per_file_over_parquet_per_file"] = per_parquet_file(csv["cpu_floor_seconds"])
    if csv and "anchor" in csv:
        t["csv_over_download"] = round(csv["seconds"] / csv["anchor"]["seconds"], 2)  # (information: the transfer alone)
    if big and "anchor" in big:
        t["big_csv_over_transfer"] = round(big["seconds"] / big["anchor"]["seconds"], 2)  # <= 2
    if delta and "anchor" in delta:
        t["delta_over_deltars"] = round(delta["seconds"] / delta["anchor"]["seconds"], 2)  # <= 2
    if scale and pq_:
        t["scale_time_ratio"] = round(scale["seconds"] / pq_["seconds"], 2)  # <= 11 for 10x the files
        t["scale_rss_ratio"] = round(scale["peak_rss_mb"] / pq_["peak_rss_mb"], 2)  # <= 1.5
        # information: how much the server's own work grew for ten times the requests (Azurite's CPU
        # per ranged GET rises with the number of blobs in the container), and the anchor's growth
        if scale.get("azurite_cpu_seconds") and pq_.get("azurite_cpu_seconds"):
            t["scale_azurite_cpu_ratio"] = round(scale["azurite_cpu_seconds"] / pq_["azurite_cpu_seconds"], 2)
        if "anchor" in scale and "anchor" in pq_:
            t["scale_anchor_time_ratio"] = round(scale["anchor"]["seconds"] / pq_["anchor"]["seconds"], 2)
    return t


def render(out: dict[str, Any]) -> str:
    lines = [f"threads {out['threads']}, RTT {out['rtt_ms']:g} ms, {out['machine']['cpus']} cpus, "
             f"load {out['machine']['load']:.1f}, Azurite: {out.get('azurite', 'stock')}", "",
             "| part | who | seconds (median, runs' range) | CPU s (worker / Azurite+proxy / Azurite) | requests/file | connections | MB down | "
             "peak RSS MB | limit s | CPU floor s | rows exact |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for part, s in out["parts"].items():
        rows = [("ours", s)] + ([(s["anchor"]["name"], s["anchor"])] if "anchor" in s else [])
        for who, r in rows:
            spread = r.get("runs_seconds", [])
            seconds = f"{r['seconds']} ({min(spread)}-{max(spread)})" if len(spread) > 1 else f"{r['seconds']}"
            lines.append(f"| {part} ({s['files']} files, {s['mb']} MB) | {who} | {seconds} | "
                         f"{r['cpu_seconds']} / {r['azurite_and_proxy_cpu_seconds']} / {r.get('azurite_cpu_seconds', '')} | {r['requests_per_file']} | {r['connections']} | {r['mb_down']} | {r['peak_rss_mb']} | "
                         f"{r['limit_seconds']} | {r.get('cpu_floor_seconds', '')} | {r.get('rows_exact', '')} |")
    lines += [f"{part}: anchor failed: {s['anchor_error']}" for part, s in out["parts"].items() if "anchor_error" in s]
    lines += ["", "targets: " + ", ".join(f"{k} {v}" for k, v in out["targets"].items())]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
