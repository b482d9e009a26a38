"""Issue 21, the API item 1: a path the API checked is checked again by the job, which opens local
files relative to the allowed root without following links (executor.sources.local.ConfinedRoot).

The attacks: a folder swapped for a symlink out of the root between the API's check and the job's
read (and between the job's listing and its reads); a single file swapped the same way; a hard link
placed in the root to a file outside it. The job's side is driven with exactly the environment the
API's LocalLauncher gives its children (LocalLauncher.command), and once end to end: the real
launcher runs the real `python -m executor.main` (it refuses before any JVM starts)."""

from __future__ import annotations

import os
import pickle
import sys
import time
from pathlib import Path

import pytest

from executor.api.launchers import LocalLauncher
from executor.api.sources import SourceGate
from executor.api.store import JobRecord, JobStore
from executor.api.validation import build_job_payload
from executor.context import ExecutorContext
from executor.errors import ExecutorError, SourceError
from executor.metadata.grouping import prune_listing
from executor.settings import Settings
from executor.sources.location import parse_location
from executor.sources.policy import SourceNotAllowed
from tests.api_helpers import AUTH, RecordingLauncher, api_settings, make_app
from tests.servers import wait_budget

SECRET = "id,password\n1,hunter2-outside-the-root\n"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def lake(tmp_path):
    """root/ (the allowed root) with root/data/a.csv, root/one.csv and root/other/b.csv; outside/ with a
    secret folder and a secret file."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "data").mkdir(parents=True)
    (root / "other").mkdir()
    (root / "data" / "a.csv").write_text("id,name\n1,alpha\n")
    (root / "one.csv").write_text("id,name\n2,beta\n")
    (root / "other" / "b.csv").write_text("id,name\n3,gamma\n")
    (outside / "secret").mkdir(parents=True)
    (outside / "secret" / "a.csv").write_text(SECRET)
    (outside / "secret.csv").write_text(SECRET)
    return root, outside


def _job(path: str, n: int = 0) -> JobRecord:
    payload = build_job_payload({"job_type": "metadata_extraction", "data_source_path": path, "workflow_id": "wf"})
    return JobRecord(job_id=f"job_{n:032x}", status="created", job_type="metadata_extraction", workflow_id="wf",
                     source_id=None, data_source_path=path, payload=payload, launcher="local", run_id=f"run_{n}")


def _child_context(tmp_path, roots: str, path: str) -> ExecutorContext:
    """An ExecutorContext on the environment the API's LocalLauncher gives the job of `path`."""
    launcher = LocalLauncher(JobStore(tmp_path / "jobs.sqlite3"), logs_dir=tmp_path / "logs", env={},
                             source_roots=roots)
    _cmd, env = launcher.command(_job(path))
    return ExecutorContext(env=env)


def _store(context: ExecutorContext, path: str):
    return context.store_factory(parse_location(path), context.settings)


def _swap_for_link(path: Path, target: Path) -> None:
    path.rename(path.with_name(path.name + ".moved"))
    path.symlink_to(target)


def test_a_folder_swapped_after_the_api_check_is_not_read(tmp_path, lake):
    root, outside = lake
    path = str(root / "data")
    SourceGate(str(root), Settings())({"data_source_path": path})  # the API's check passes
    _swap_for_link(root / "data", outside / "secret")  # ... and a minute later the job starts
    context = _child_context(tmp_path, str(root), path)
    with pytest.raises(SourceNotAllowed, match="NUVYN_API_SOURCE_ROOTS"):
        context.check_source(path)
    with pytest.raises(SourceNotAllowed):
        list(_store(context, path).list_files(prune_listing))


def test_a_folder_swapped_after_the_listing_is_not_read(tmp_path, lake):
    root, outside = lake
    context = _child_context(tmp_path, str(root), str(root))
    store = _store(context, str(root))
    files = {f.relative: f for f in store.list_files(prune_listing)}
    assert {"data/a.csv", "one.csv", "other/b.csv"} <= set(files)
    _swap_for_link(root / "data", outside / "secret")  # between the listing and the read
    uri = files["data/a.csv"].uri
    with pytest.raises(SourceError, match="out of the allowed root"):
        store.open(uri)
    with pytest.raises(SourceError, match="out of the allowed root"):
        store.spark_uri(uri)  # what Spark would be given: checked, never the link
    with store.open(files["other/b.csv"].uri) as fh:  # the rest of the source still reads
        assert fh.read() == b"id,name\n3,gamma\n"
    # a fresh listing reports the link and does not follow it
    skipped = {f.relative: f.skip_reason for f in store.list_files(prune_listing) if f.skip_reason}
    assert skipped["data"] == "symlink out of the source root"


def test_a_single_file_swapped_after_the_api_check_is_not_read(tmp_path, lake):
    root, outside = lake
    path = str(root / "one.csv")
    SourceGate(str(root), Settings())({"data_source_path": path})
    context = _child_context(tmp_path, str(root), path)
    store = _store(context, path)
    [info] = list(store.list_files(prune_listing))
    _swap_for_link(root / "one.csv", outside / "secret.csv")
    with pytest.raises(SourceError, match="out of the allowed root"):
        store.open(info.uri)
    with pytest.raises(ExecutorError):
        _child_context(tmp_path, str(root), path).check_source(path)


def test_a_relative_link_climbing_out_and_a_hard_link_into_the_root_are_refused(tmp_path, lake):
    root, outside = lake
    (root / "data" / "climb.csv").symlink_to("../../outside/secret.csv")
    os.link(outside / "secret.csv", root / "data" / "hard.csv")  # a hard link in the root to a file outside it
    context = _child_context(tmp_path, str(root), str(root / "data"))
    store = _store(context, str(root / "data"))
    listed = {f.relative: f for f in store.list_files(prune_listing)}
    assert listed["climb.csv"].skip_reason == "symlink out of the source root"
    assert listed["hard.csv"].skip_reason.startswith("more than one hard link")
    assert listed["a.csv"].skip_reason is None
    for name in ("climb.csv", "hard.csv"):
        with pytest.raises(SourceError):
            store.open(str(root / "data" / name))
    with pytest.raises(ExecutorError, match="hard link"):  # the hard link given as the source itself
        _child_context(tmp_path, str(root), str(root / "data" / "hard.csv")).check_source(str(root / "data" / "hard.csv"))
    # a path a reader builds from the listing (a Delta log's file) cannot leave the source either
    with pytest.raises(SourceError, match="outside the source"):
        store.open(str(root / "data" / ".." / "one.csv"))


def test_links_inside_the_root_fifos_and_unconfined_runs(tmp_path, lake):
    root, outside = lake
    (root / "data" / "rel_link.csv").symlink_to("../other/b.csv")
    (root / "abs_link").symlink_to(root / "other")
    os.mkfifo(root / "data" / "pipe.csv")
    context = _child_context(tmp_path, str(root), str(root))
    store = _store(context, str(root))
    listed = {f.relative: f for f in store.list_files(prune_listing)}
    assert listed["data/pipe.csv"].skip_reason == "not a regular file"  # listed without blocking
    for rel in ("data/rel_link.csv", "abs_link/b.csv"):
        assert listed[rel].skip_reason is None and listed[rel].size == len(b"id,name\n3,gamma\n")
        with store.open(listed[rel].uri) as fh:
            assert fh.read() == b"id,name\n3,gamma\n"
    # Spark is given the path with no link on it
    assert store.spark_uri(listed["abs_link/b.csv"].uri) == f"file:{root}/other/b.csv"
    again = pickle.loads(pickle.dumps(store))  # a worker process opens the root again
    assert {f.relative for f in again.list_files(prune_listing)} == set(listed)
    # a run the API did not start (CLI, Databricks task) is not confined: nothing changes for it
    plain = ExecutorContext(env={})
    assert plain.source_guard is None
    (root / "data" / "pipe.csv").unlink()
    _swap_for_link(root / "data", outside / "secret")
    assert [f.relative for f in _store(plain, str(root / "data")).list_files(prune_listing)] == ["a.csv"]


def test_without_roots_the_job_refuses_local_paths_and_a_recovered_job_is_checked_again(tmp_path, lake):
    root, _outside = lake
    context = _child_context(tmp_path, "", str(root))  # a server without NUVYN_API_SOURCE_ROOTS
    with pytest.raises(SourceNotAllowed, match="no NUVYN_API_SOURCE_ROOTS"):
        context.check_source(str(root))
    context = _child_context(tmp_path, str(root / "other"), str(root / "data"))  # the roots changed since
    with pytest.raises(SourceNotAllowed, match="resolves outside"):
        context.check_source(str(root / "data"))


def test_end_to_end_the_launcher_runs_the_real_job_which_refuses_the_swapped_folder(tmp_path, lake):
    """The API accepts the path, the folder is swapped while the job waits in the queue, and the real
    `python -m executor.main` the LocalLauncher starts fails the job, before any JVM, without reading it."""
    root, outside = lake
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUVYN_", "DATABRICKS_"))}
    env.update({"NUVYN_WAREHOUSE_DIR": str(tmp_path / "warehouse"), "PYTHONPATH": str(REPO)})
    settings = api_settings(tmp_path, source_roots=str(root))
    store = JobStore(settings.jobs_db)
    app, recorder, _ = make_app(tmp_path, launcher=RecordingLauncher(), env={}, source_roots=str(root))
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        r = client.post("/jobs/create", headers=AUTH, json={
            "job_type": "metadata_extraction", "workflow_id": "wf", "data_source_path": str(root / "data")})
        assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    _swap_for_link(root / "data", outside / "secret")
    launcher = LocalLauncher(store, python=sys.executable, logs_dir=tmp_path / "logs", env=env, source_roots=str(root))
    launcher.start()
    try:
        launcher.submit(store.get(job_id))
        deadline = time.monotonic() + wait_budget(120)
        while (job := store.get(job_id)).status in ("created", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
    finally:
        launcher.stop()
    assert job.status == "failed" and job.exit_code == 1, job
    assert "NUVYN_API_SOURCE_ROOTS" in (job.error_message or "")
    out = (tmp_path / "logs" / f"{job_id}.stdout").read_text() + (tmp_path / "logs" / f"{job_id}.stderr").read_text()
    assert "hunter2" not in out and not (tmp_path / "warehouse" / "_executor_metadata.db").exists()
    assert recorder.submitted == [job_id]
