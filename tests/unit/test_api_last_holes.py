"""Issue 21, the API's last holes, tried against real servers: the queue bound under a concurrent
burst, slow clients (body timeout, /health under the connection limit, the head size bound),
X-Forwarded-For only from configured proxies, the Host check, credentials bound to an endpoint."""

from __future__ import annotations

import multiprocessing
import threading

import httpx
from api_helpers import AUTH, SEED_PATH, SERVER_ENV, FakeReader, RecordingLauncher, ThreadServer, api_settings

from executor.api import store as job_store
from executor.api.store import JobRecord, JobStore
from executor.api_server import build_app

BODY = {"job_type": "metadata_extraction", "data_source_path": SEED_PATH, "workflow_id": "w1"}


def _app(tmp_path, settings, env=None):
    launcher = RecordingLauncher()  # records, never starts: every accepted job stays 'created'
    return build_app(settings, SERVER_ENV if env is None else env, launcher=launcher,
                     metadata_reader=FakeReader()), launcher


# ------------------------------------------------------------------ 3. the queue bound, atomically

def test_a_concurrent_burst_over_http_gets_exactly_the_queue_bound(tmp_path):
    """The bug: count, then insert, no lock: 30 concurrent creates got 30 queued jobs with a bound of 2."""
    settings = api_settings(tmp_path, max_queued_jobs=2)
    app, launcher = _app(tmp_path, settings)
    barrier = threading.Barrier(30)
    codes: list[int] = []

    with ThreadServer(app, settings) as server:
        def create() -> None:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
                barrier.wait()
                codes.append(client.post("/jobs/create", json=BODY).status_code)

        threads = [threading.Thread(target=create) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert sorted(codes) == [200] * 2 + [429] * 28, codes
    assert len(launcher.submitted) == 2
    assert JobStore(settings.jobs_db).count("created") == 2


def _insert_many(path: str, start, results) -> None:
    store = JobStore(path)
    start.wait()
    for n in range(10):
        job = JobRecord(job_id=f"job_{multiprocessing.current_process().pid}_{n}", status="created",
                        job_type="metadata_extraction", workflow_id="w", source_id=None, data_source_path="/x",
                        payload={}, launcher="local", run_id=f"run_{n}")
        try:
            store.insert(job, max_waiting=3)
            results.put("ok")
        except job_store.QueueBoundReached:
            results.put("full")


def test_the_queue_bound_holds_across_processes(tmp_path):
    path = str(tmp_path / "jobs.sqlite3")
    JobStore(path)
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_insert_many, args=(path, start, results)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in range(40)]
    for p in procs:
        p.join(60)
    assert outcomes.count("ok") == 3 and JobStore(path).count("created") == 3
