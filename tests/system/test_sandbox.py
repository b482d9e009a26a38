"""The reader sandbox (executor/sandbox): real worker processes that abort, segfault, hang, eat
memory or raise; concurrent callers; Parquet/ORC/Avro files read through the proxy compared with
in-process reads; and the Parquet file of issue 21 that aborts pyarrow in process."""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.errors import ExecutorError, SettingsError  # noqa: E402
from executor.redaction import Secret  # noqa: E402
from executor.sandbox.pool import (  # noqa: E402
    ReaderCrashed,
    ReaderOutOfMemory,
    ReaderSandbox,
    ReaderTimedOut,
    RemoteError,
    SandboxSettings,
    SandboxUnavailable,
    scrub_environment,
)
from executor.sandbox.protocol import load_result  # noqa: E402
from tests import sandbox_tasks as tasks  # noqa: E402
from tests.hostile_files import READ_STATISTICS, write_contradicting_column_type  # noqa: E402
from tests.servers import wait_budget  # noqa: E402


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_dead(pids: list[int], seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + wait_budget(seconds)
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


@pytest.fixture(scope="module")
def sandbox():
    box = ReaderSandbox(SandboxSettings(workers=2, timeout_seconds=wait_budget(60)), preload=())
    yield box
    pids = box.worker_pids()
    box.close()
    assert wait_dead(pids) == []


# ------------------------------------------------------------------------------ what kills a worker


@pytest.mark.parametrize(("task", "signal_name"), [(tasks.abort, "SIGABRT"), (tasks.segfault, "SIGSEGV")])
def test_a_worker_killed_by_a_signal_fails_that_call_with_the_signal_named(sandbox, task, signal_name):
    before = sandbox.stats().crashes
    with pytest.raises(ReaderCrashed) as info:
        sandbox.run(task, path="sales/part-0001.parquet", reader="Parquet reader")
    assert str(info.value) == (f"the Parquet reader crashed ({signal_name}) reading sales/part-0001.parquet; "
                               "the file is corrupt or hostile")
    assert info.value.signal_name == signal_name and info.value.path == "sales/part-0001.parquet"
    assert isinstance(info.value, ExecutorError)  # the extractor keeps its whole (redacted) message
    assert sandbox.stats().crashes == before + 1
    assert sandbox.run(tasks.echo, 7) == (7,)  # a new worker took its place


def test_a_worker_that_exits_is_reported_with_its_exit_code(sandbox):
    with pytest.raises(ReaderCrashed, match=r"the Avro reader crashed \(exit code 3\) reading a\.avro") as info:
        sandbox.run(tasks.exit_with, 3, path="a.avro", reader="Avro reader")
    assert info.value.exit_code == 3 and info.value.signal_name is None


@pytest.mark.parametrize("task", [tasks.hang, tasks.spin])
def test_a_worker_past_the_time_limit_is_killed(sandbox, task):
    pid = sandbox.run(tasks.whoami)  # idle workers are reused last-in first-out: the next call runs there
    with pytest.raises(ReaderTimedOut) as info:
        sandbox.run(task, path="big.orc", reader="ORC reader", timeout=0.5)
    assert str(info.value) == ("the ORC reader did not finish reading big.orc within 0.5 s and was stopped "
                               "(NUVYN_READER_TIMEOUT_SECONDS); the file may be corrupt or hostile")
    assert pid not in sandbox.worker_pids() and wait_dead([pid]) == []
    assert sandbox.run(tasks.echo, "next") == ("next",)


def test_time_waiting_for_storage_does_not_count_against_the_limit(sandbox):
    class SlowStorage:  # only read, seek and tell: the parent's fallback to read()
        def __init__(self, data):
            self._f = io.BytesIO(data)
            self.seek, self.tell, self.seekable = self._f.seek, self._f.tell, self._f.seekable

        def read(self, n=-1):
            time.sleep(0.6)
            return self._f.read(n)

    data = os.urandom(1000)
    before = sandbox.stats().reads
    assert sandbox.run(tasks.read_at, [(0, 10), (500, 10)], file=SlowStorage(data), timeout=0.5) == [
        data[:10], data[500:510]]
    assert sandbox.stats().reads == before + 2


def test_a_worker_that_allocates_without_bound_is_killed():
    with ReaderSandbox(SandboxSettings(workers=1, memory_mb=400, timeout_seconds=wait_budget(120)),
                       preload=()) as box:
        with pytest.raises(ReaderOutOfMemory) as info:
            box.run(tasks.allocate_forever, path="huge.parquet", reader="Parquet reader")
        assert str(info.value).startswith("the Parquet reader used more than 400 MiB of memory reading huge.parquet (")
        assert str(info.value).endswith("MiB) and was stopped (NUVYN_READER_MEMORY_MB); the file may be corrupt "
                                        "or hostile")
        assert box.stats().memory_kills == 1
        assert box.run(tasks.echo, 1) == (1,)


def test_a_read_larger_than_the_memory_bound_is_refused_before_it_is_read():
    class Endless(io.RawIOBase):  # 64 GiB of zeros that nobody should try to read at once
        def seekable(self):
            return True

        def seek(self, offset, whence=0):
            self.pos = (64 << 30) + offset if whence == 2 else offset
            return self.pos

        def read(self, n=-1):
            raise AssertionError("the parent must not read it")

    with ReaderSandbox(SandboxSettings(workers=1, memory_mb=300), preload=()) as box:
        with pytest.raises(ReaderOutOfMemory, match=r"asked for 2147483648 bytes at once reading z\.parquet"):
            box.run(tasks.read_at, [(0, 2 << 30)], file=Endless(), path="z.parquet", reader="Parquet reader")


# ------------------------------------------------------------------------------ task errors


def test_a_task_exception_comes_back_with_its_type_and_first_line_only(sandbox):
    pids = sandbox.worker_pids()
    with pytest.raises(ValueError) as info:
        sandbox.run(tasks.raise_error, "ValueError", "bad value sig=abcdef123 here\n  File /secret/path.py")
    assert str(info.value) == "bad value sig=*** here"
    with pytest.raises(KeyError):
        sandbox.run(tasks.raise_error, "KeyError", "k")
    with pytest.raises(pa.ArrowInvalid, match="^cannot decode$"):
        sandbox.run(tasks.raise_arrow_invalid, "cannot decode")
    assert sandbox.worker_pids() == pids  # an exception does not cost a worker


def test_registered_secrets_never_come_back_in_a_task_error(sandbox):
    Secret("hunter2-sandbox-secret")  # loaded as a Secret: known to the redactor
    with pytest.raises(OSError) as info:
        sandbox.run(tasks.raise_error, "OSError", "cannot open with hunter2-sandbox-secret")
    assert "hunter2" not in str(info.value)


def test_an_exception_whose_type_cannot_be_rebuilt_keeps_its_name(sandbox):
    with pytest.raises(RemoteError, match="^UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff") as info:
        sandbox.run(tasks.raise_unicode)
    assert info.value.type_name == "UnicodeDecodeError"


def test_a_result_naming_code_is_refused(sandbox):
    with pytest.raises(pickle.UnpicklingError, match="may not refer to posix.system"):
        sandbox.run(tasks.return_function)
    assert sandbox.run(tasks.echo, 2) == (2,)
    with pytest.raises(pickle.UnpicklingError):
        load_result(pickle.dumps(subprocess.Popen))


def test_a_storage_error_reaches_the_caller_as_itself(sandbox):
    class BlobGone(FileNotFoundError):
        pass

    class Vanishing(io.BytesIO):
        def read(self, n=-1):
            raise BlobGone("container/x.parquet disappeared after listing")

        readinto = read

    with pytest.raises(BlobGone, match="disappeared after listing"):
        sandbox.run(tasks.read_until_error, file=Vanishing(b"PAR1" * 10), path="x.parquet")


# ------------------------------------------------------------------------------ concurrency


def test_eight_threads_at_once_one_crash_does_not_touch_the_others(sandbox, tmp_path):
    paths = []
    for i in range(7):
        p = tmp_path / f"ok{i}.parquet"
        pq.write_table(pa.table({"id": list(range(i * 1000, (i + 1) * 1000)), "s": [f"v{j}" for j in range(1000)]}),
                       p, row_group_size=250)
        paths.append(p)

    def read(i: int):
        if i == 3:
            return sandbox.run(tasks.abort, path="bad.parquet", reader="Parquet reader")
        with open(paths[i if i < 3 else i - 1], "rb") as f:
            return sandbox.run(tasks.parquet_table, file=f, path=f.name, reader="Parquet reader")

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(read, i) for i in range(8)]
    outcomes = [f.exception() or f.result() for f in futures]
    assert isinstance(outcomes[3], ReaderCrashed) and "SIGABRT" in str(outcomes[3])
    for i, got in enumerate(outcomes):
        if i != 3:
            assert got.equals(pq.read_table(paths[i if i < 3 else i - 1]))


def test_workers_are_started_by_one_thread_that_outlives_the_callers(tmp_path):
    """PR_SET_PDEATHSIG fires when the thread that created a child ends: workers first used from
    a thread pool that then shuts down must survive it."""
    with ReaderSandbox(SandboxSettings(workers=2), preload=()) as box:
        with ThreadPoolExecutor(2) as pool:
            pids = set(pool.map(lambda _: box.run(tasks.whoami), range(2)))
        time.sleep(0.2)
        assert all(alive(p) for p in pids)
        assert box.run(tasks.whoami) in pids


# ------------------------------------------------------------------------------ the proxy


class Remote(io.RawIOBase):
    """A file object with no descriptor (like the Azure blob reader): its reads are served by the parent."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._f = open(path, "rb")  # noqa: SIM115 - closed with this object
        self.name = str(path)

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        return self._f.seek(offset, whence)

    def tell(self):
        return self._f.tell()

    def readinto(self, b):
        return self._f.readinto(b)

    def close(self):
        self._f.close()
        super().close()


@pytest.mark.parametrize("opener", [pytest.param(lambda p: open(p, "rb"), id="local-descriptor"),
                                    pytest.param(Remote, id="proxy")])
def test_parquet_orc_and_avro_read_in_a_worker_equal_in_process_reads(sandbox, tmp_path, opener):
    table = pa.table({"id": pa.array(range(5000), pa.int64()), "name": [f"n{i % 97}" for i in range(5000)],
                      "x": [i / 7 if i % 11 else None for i in range(5000)]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=1000)
    orc.write_table(table, tmp_path / "t.orc")
    schema = {"type": "record", "name": "r", "fields": [{"name": "id", "type": "long"},
                                                        {"name": "name", "type": "string"}]}
    with open(tmp_path / "t.avro", "wb") as f:
        fastavro.writer(f, schema, [{"id": i, "name": f"n{i}"} for i in range(5000)], sync_interval=4000)

    with opener(tmp_path / "t.parquet") as f:
        got = sandbox.run(tasks.parquet_table, file=f, path="t.parquet")
        assert got.equals(pq.read_table(tmp_path / "t.parquet"))
        assert sandbox.run(tasks.parquet_table, 1500, ["id"], file=f).equals(table.select(["id"]).slice(0, 1500))
        assert sandbox.run(tasks.parquet_statistics, file=f) == tasks.parquet_statistics(f)
        meta = sandbox.run(tasks.parquet_metadata, file=f)
        assert meta.num_rows == 5000 and meta.num_row_groups == 5
    with opener(tmp_path / "t.orc") as f:
        assert sandbox.run(tasks.orc_table, file=f, path="t.orc").equals(orc.ORCFile(tmp_path / "t.orc").read())
    with opener(tmp_path / "t.avro") as f:
        expected = list(fastavro.reader(f))
        assert sandbox.run(tasks.avro_records, file=f, read_ahead=65536) == expected
        assert sandbox.run(tasks.avro_records, file=f) == expected
    data = (tmp_path / "t.parquet").read_bytes()
    assert sandbox.run(tasks.parquet_table, file=data).equals(got)  # bytes the caller already holds


def test_a_local_file_is_read_by_the_worker_without_moving_the_callers_position(sandbox, tmp_path):
    data = os.urandom(100_000)
    (tmp_path / "f.bin").write_bytes(data)
    with open(tmp_path / "f.bin", "rb") as f:
        f.seek(10)
        before = sandbox.stats().reads
        assert sandbox.run(tasks.digest, file=f) == tasks.digest(io.BytesIO(data))
        assert sandbox.stats().reads == before  # no read went through the parent
        assert f.tell() == 10 and f.read(5) == data[10:15]
    with Remote(tmp_path / "f.bin") as f:
        f.seek(10)
        assert sandbox.run(tasks.digest, file=f) == tasks.digest(io.BytesIO(data))
        assert f.tell() == 10  # the reads served for the worker moved it; it is put back


def test_reads_larger_than_the_shared_window_are_served_in_parts_and_counted(sandbox):
    data = os.urandom(9 << 20)  # more than the shared window in one read: two parts
    before = sandbox.stats()
    assert sandbox.run(tasks.digest, file=io.BytesIO(data)) == tasks.digest(io.BytesIO(data))
    after = sandbox.stats()
    assert after.read_bytes - before.read_bytes == len(data)
    assert sandbox.run(tasks.read_at, [(len(data) - 5, 100), (len(data) + 10, 5)], file=io.BytesIO(data)) == [
        data[-5:], b""]
    assert sandbox.run(tasks.remote_reads, file=io.BytesIO(data), read_ahead=1 << 20) >= 1


def test_results_larger_than_the_shared_window_come_back_whole(sandbox):
    got = sandbox.run(tasks.big_table, 700_000)  # about 17 MB of Arrow buffers: three window parts
    assert got.equals(tasks.big_table(700_000))
    got.validate(full=True)
    assert sandbox.run(tasks.echo, b"x" * (9 << 20)) == (b"x" * (9 << 20),)  # one in-band pickle of 9 MiB


# ------------------------------------------------------------------------------ issue 21's file


def test_the_parquet_file_that_aborts_pyarrow_fails_cleanly_in_the_sandbox(sandbox, tmp_path):
    bad = write_contradicting_column_type(tmp_path / "part-0001.parquet")
    unprotected = subprocess.run([sys.executable, "-c", READ_STATISTICS, str(bad)], capture_output=True, text=True,
                                 timeout=wait_budget(60))
    assert unprotected.returncode == -signal.SIGABRT, unprotected  # it really kills a process
    with open(bad, "rb") as f, pytest.raises(ReaderCrashed) as info:
        sandbox.run(tasks.parquet_statistics, file=f, path="sales/part-0001.parquet", reader="Parquet reader")
    assert str(info.value) == ("the Parquet reader crashed (SIGABRT) reading sales/part-0001.parquet; the file is "
                               "corrupt or hostile (ColumnMetaData type does not match ColumnDescriptor physical "
                               "type: BYTE_ARRAY vs. INT64)")
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"id": [1, 2]}), good)
    with open(good, "rb") as f:
        assert sandbox.run(tasks.parquet_statistics, file=f) == [("id", 1, 2)]


# ------------------------------------------------------------------------------ life cycle


def test_close_stops_every_worker_and_later_calls_are_refused():
    box = ReaderSandbox(SandboxSettings(workers=2), preload=())
    box.start()
    pids = box.worker_pids()
    assert len(pids) == 2 and all(alive(p) for p in pids)
    box.close()
    assert wait_dead(pids) == []
    with pytest.raises(SandboxUnavailable, match="the reader sandbox is closed; a.parquet was not read"):
        box.run(tasks.echo, 1, path="a.parquet")
    box.close()


PARENT = """
import sys, time
sys.path[:0] = {path!r}
from executor.sandbox.pool import ReaderSandbox, SandboxSettings
box = ReaderSandbox(SandboxSettings(workers=2), preload=())
box.start()
print(" ".join(map(str, box.worker_pids())), flush=True)
time.sleep(600)
"""


def test_workers_die_with_their_parent():
    parent = subprocess.Popen([sys.executable, "-c", PARENT.format(path=sys.path)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
    finally:
        parent.kill()
        parent.wait()
    assert wait_dead(pids) == []


def test_workers_import_the_same_executor_as_the_parent(sandbox):
    import executor

    assert sandbox.run(tasks.executor_file) == executor.__file__


def test_isolation_off_runs_tasks_in_this_process():
    box = ReaderSandbox(SandboxSettings(isolation=False))
    assert box.run(tasks.whoami) == os.getpid()
    buf = io.BytesIO(b"abc")
    buf.seek(2)
    assert box.run(tasks.digest, file=buf)[0] == 3
    assert box.run(tasks.digest, file=b"abcd")[0] == 4
    assert box.worker_pids() == []


def test_a_missing_preload_module_is_skipped():
    with ReaderSandbox(SandboxSettings(workers=1), preload=("executor.no_such_module_for_the_test",)) as box:
        assert box.run(tasks.echo, 1) == (1,)


def test_workers_that_cannot_start_make_the_pool_unavailable_with_the_reason():
    box = ReaderSandbox(SandboxSettings(workers=1), preload=(), env={"PYTHONHOME": "/nonexistent-python-home"})
    with box:
        for _ in range(3):
            with pytest.raises(SandboxUnavailable, match=r"cannot start a worker: it ended at start \(exit code 1\)"):
                box.run(tasks.echo, 1, path="a.parquet")
        with pytest.raises(SandboxUnavailable, match="set NUVYN_READER_ISOLATION=false to read in process"):
            box.run(tasks.echo, 1)
        assert box.stats().workers_started == 3  # after three failures it stops trying


# ------------------------------------------------------------------------------ settings


def test_settings_from_the_environment():
    s = SandboxSettings.from_env({"NUVYN_READER_ISOLATION": "false", "NUVYN_READER_WORKERS": "3",
                                  "NUVYN_READER_TIMEOUT_SECONDS": "2.5", "NUVYN_READER_MEMORY_MB": "700"})
    assert (s.isolation, s.worker_count(), s.timeout_seconds, s.memory_bytes()) == (False, 3, 2.5, 700 << 20)
    d = SandboxSettings()
    assert d.isolation and 2 <= d.worker_count() <= 8 and (1024 << 20) <= d.memory_bytes() <= (8192 << 20)
    with pytest.raises(SettingsError, match="NUVYN_READER_TIMEOUT_SECONDS=0.0 must be > 0"):
        SandboxSettings.from_env({"NUVYN_READER_TIMEOUT_SECONDS": "0"})
    with pytest.raises(SettingsError, match="NUVYN_READER_WORKERS='x' is not an integer"):
        SandboxSettings.from_env({"NUVYN_READER_WORKERS": "x"})
    assert {env for env, _d, _t in SandboxSettings.describe()} == {
        "NUVYN_READER_ISOLATION", "NUVYN_READER_WORKERS", "NUVYN_READER_TIMEOUT_SECONDS", "NUVYN_READER_MEMORY_MB"}


def test_workers_get_an_environment_without_credentials():
    env = {"PATH": "/usr/bin", "AZURE_STORAGE_CONNECTION_STRING": "x", "AZURE_STORAGE_KEY": "k",
           "DATABRICKS_TOKEN": "t", "NUVYN_API_PASSWORD": "p", "AZURE_CLIENT_SECRET": "s", "HOME": "/root",
           "NUVYN_AZURE_SAS": "sv", "LD_LIBRARY_PATH": "/lib"}
    assert scrub_environment(env) == {"PATH": "/usr/bin", "HOME": "/root", "LD_LIBRARY_PATH": "/lib"}
    worker_env = {**scrub_environment({**os.environ, "AZURE_STORAGE_KEY": "k"}), "NUVYN_MARK": "1"}
    with ReaderSandbox(SandboxSettings(workers=1), preload=(), env=worker_env) as box:
        names = box.run(tasks.environment_names)
    assert "NUVYN_MARK" in names and "AZURE_STORAGE_KEY" not in names


# ------------------------------------------------------------------------------ the run

EXTRACT = """
import sys
sys.path[:0] = {path!r}
from executor.metadata.extractor import MetadataExtractor
from executor.settings import Settings
result = MetadataExtractor(spark=None, settings=Settings(io_threads=2)).extract_metadata(sys.argv[1])
for t in sorted(result.tables, key=lambda t: t.table_name):
    print(t.table_name, t.status, t.error_message or "", sep="|")
"""


def test_a_run_over_the_aborting_file_fails_its_table_and_writes_the_others(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "good").mkdir()
    write_contradicting_column_type(tmp_path / "bad" / "part-0001.parquet")
    pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / "good" / "part-0001.parquet")
    run = subprocess.run([sys.executable, "-c", EXTRACT.format(path=sys.path), str(tmp_path)], capture_output=True,
                         text=True, timeout=wait_budget(120))
    assert run.returncode == 0, f"the run died ({run.returncode}): {run.stderr[-500:]}"
    rows = dict(line.split("|", 1) for line in run.stdout.splitlines())
    assert rows["good"].startswith("ok|")
    assert rows["bad"] == ("failed|the Parquet reader crashed (SIGABRT) reading bad/part-0001.parquet; the file is "
                           "corrupt or hostile (ColumnMetaData type does not match ColumnDescriptor physical type: "
                           "BYTE_ARRAY vs. INT64)")


def _lake(root: Path) -> Path:
    (root / "sales").mkdir(parents=True)
    pq.write_table(pa.table({"id": pa.array(range(3000), pa.int64()), "name": [f"n{i % 37}" for i in range(3000)],
                             "at": pa.array(range(3000), pa.timestamp("us", tz="UTC"))}), root / "sales" / "p0.parquet",
                   row_group_size=700)
    (root / "stock").mkdir()
    orc.write_table(pa.table({"sku": ["a", "b", None], "qty": [3, 4, 5]}), root / "stock" / "s.orc")
    (root / "clicks").mkdir()
    with open(root / "clicks" / "c.avro", "wb") as f:
        fastavro.writer(f, {"type": "record", "name": "r", "fields": [{"name": "id", "type": "long"},
                                                                     {"name": "page", "type": "string"}]},
                        [{"id": i, "page": f"p{i % 7}"} for i in range(500)])
    (root / "people.csv").write_text("id,name\n1,ann\n2,bob\n", encoding="utf-8")
    return root


def _facts(result) -> dict:
    return {t.table_name: (t.status, t.error_message, t.row_count, t.column_notes,
                           [(c.column_name, c.data_type, c.sample_values, c.null_count, c.distinct_count, c.min_value,
                             c.max_value, c.profile_scope) for c in t.columns]) for t in result.tables}


def test_a_run_decoded_in_workers_equals_one_decoded_in_process(sandbox, tmp_path):
    from executor.metadata.extractor import MetadataExtractor
    from executor.settings import Settings

    lake = _lake(tmp_path)
    settings = Settings(io_threads=2, profile_max_rows=2000)
    before = sandbox.stats().calls
    isolated = MetadataExtractor(None, settings, sandbox=sandbox).extract_metadata(str(lake))
    assert sandbox.stats().calls - before == 5  # Parquet and ORC facts; Parquet, ORC and Avro samples
    here = MetadataExtractor(None, settings, sandbox=ReaderSandbox(SandboxSettings(isolation=False))
                             ).extract_metadata(str(lake))
    assert _facts(isolated) == _facts(here)
    assert {t.table_name: t.status for t in isolated.tables} == dict.fromkeys(
        ["clicks", "people", "sales", "stock"], "ok")


def test_a_crash_while_sampling_fails_the_table_instead_of_becoming_column_notes(sandbox, tmp_path):
    from concurrent.futures import ThreadPoolExecutor as Pool

    from executor.metadata.readers.arrow import arrow_profile
    from executor.metadata.readers.base import TableContext
    from executor.settings import Settings
    from executor.sources.local import LocalFileStore

    pq.write_table(pa.table({"a": [1], "b": ["x"]}), tmp_path / "t.parquet")
    store = LocalFileStore(str(tmp_path))
    notes: dict[str, str] = {}
    with Pool(2) as pool:
        ctx = TableContext(store, Settings(), None, "3.5", pool, 2, sandbox=sandbox)
        with pytest.raises(ReaderCrashed, match=r"^the Arrow reader crashed \(SIGABRT\) reading .*t\.parquet; "):
            arrow_profile(ctx, "t", [str(tmp_path / "t.parquet")], tasks.abort_batches, [("a", "int"), ("b", "string")],
                          1, notes)
    assert notes == {}  # not retried column by column


def test_when_no_worker_can_start_the_tables_that_need_one_fail_and_the_others_are_extracted(tmp_path):
    from executor.metadata.extractor import MetadataExtractor
    from executor.settings import Settings

    lake = _lake(tmp_path)
    broken = ReaderSandbox(SandboxSettings(workers=1), preload=(), env={"PYTHONHOME": "/nonexistent-python-home"})
    with broken:
        result = MetadataExtractor(None, Settings(io_threads=2), sandbox=broken).extract_metadata(str(lake))
    tables = {t.table_name: t for t in result.tables}
    assert tables["people"].status == "ok" and tables["people"].row_count == 2
    for name in ("clicks", "sales", "stock"):
        assert tables[name].status == "failed", name
        assert "the reader sandbox cannot start a worker" in tables[name].error_message
        assert tables[name].error_message.endswith("set NUVYN_READER_ISOLATION=false to read in process")
    assert result.status == "partial"


def _window_files(root: Path, names: list[str], hostile: str | None = None):
    """Small Parquet files of 20 rows (one holding the marker of tasks.abort_on_marker_batches) and a
    store whose cache holds their bytes (as the facts step leaves them): the store and the files' uris."""
    from executor.sources.local import LocalFileStore
    from executor.sources.ranges import WholeFileCache

    store = LocalFileStore(str(root))
    store.cache = WholeFileCache(1 << 24)  # type: ignore[attr-defined]
    uris = []
    for k, name in enumerate(names):
        text = ["HOSTILE-MARKER" if name == hostile else f"v{k}-{i % 7}" for i in range(20)]
        pq.write_table(pa.table({"id": pa.array(range(k * 100, k * 100 + 20), pa.int64()), "s": text}),
                       root / name)
        uris.append(str(root / name))
        store.cache.put(uris[-1], (root / name).read_bytes())
    return store, uris


def test_a_windows_small_files_are_decoded_in_one_task_equal_to_file_by_file(sandbox, tmp_path):
    """The window's small files whose bytes are kept and rows known are decoded in one sandbox task
    (one call, not one a file), with the profiles and samples of files read one by one in process."""
    from concurrent.futures import ThreadPoolExecutor as Pool

    from executor.metadata.readers.arrow import arrow_profile
    from executor.metadata.readers.base import TableContext
    from executor.metadata.readers.parquet import parquet_batches
    from executor.settings import Settings

    store, uris = _window_files(tmp_path, [f"p{k}.parquet" for k in range(5)])
    names_types = [("id", "bigint"), ("s", "string")]
    settings = Settings(profile_max_rows=70)  # the first four files: 20 + 20 + 20 + 10 rows
    with Pool(2) as pool:
        before = sandbox.stats().calls
        ctx = TableContext(store, settings, None, "3.5", pool, 2, sandbox=sandbox)
        batched = arrow_profile(ctx, "t", uris, parquet_batches, names_types, 100, {}, rows=[20] * 5)
        assert sandbox.stats().calls - before == 1
        here = ReaderSandbox(SandboxSettings(isolation=False))
        ctx = TableContext(store, settings, None, "3.5", pool, 2, sandbox=here)
        one_by_one = arrow_profile(ctx, "t", uris, parquet_batches, names_types, 100, {}, rows=[20] * 5)
    assert batched == one_by_one
    assert batched[0]["id"].distinct_count == 70 and batched[0]["id"].max_value == "309"


def test_a_crash_in_a_batch_is_read_again_file_by_file_and_names_the_file(sandbox, tmp_path):
    """A file that kills the decoder among a window's small files: the batch's task crashes, the files
    are read again one by one, and the table's error names the hostile file (its worker crashed)."""
    from concurrent.futures import ThreadPoolExecutor as Pool

    from executor.metadata.readers.arrow import arrow_profile
    from executor.metadata.readers.base import TableContext
    from executor.settings import Settings

    store, uris = _window_files(tmp_path, ["a.parquet", "b.parquet", "c.parquet"], hostile="b.parquet")
    before = sandbox.stats().crashes
    with Pool(2) as pool:
        ctx = TableContext(store, Settings(), None, "3.5", pool, 2, sandbox=sandbox)
        with pytest.raises(ReaderCrashed, match=r"^the Arrow reader crashed \(SIGABRT\) reading .*b\.parquet; "):
            arrow_profile(ctx, "t", uris, tasks.abort_on_marker_batches, [("id", "bigint"), ("s", "string")], 60, {},
                          rows=[20, 20, 20])
    assert sandbox.stats().crashes - before == 2  # the batch's task, then the file's own


def test_a_hang_in_an_early_batch_costs_two_timeouts_and_names_the_file(tmp_path):
    """A file that hangs the decoder among a window's small files, read early (the facts step's
    early_window): the batch's task times out once and is not read again file by file there; its
    bytes leave the cache, and the table step reads the files one by one from storage, where the
    hostile file times out a second time and is named. Two timeouts, as before windows were batched."""
    from concurrent.futures import ThreadPoolExecutor as Pool

    from executor.metadata.grouping import PlannedFile, TablePlan
    from executor.metadata.readers.arrow import arrow_profile, early_window
    from executor.metadata.readers.base import TableContext
    from executor.settings import Settings
    from executor.sources.base import FileInfo, cached_bytes

    store, uris = _window_files(tmp_path, ["a.parquet", "b.parquet", "c.parquet"], hostile="b.parquet")
    plan = TablePlan("", "parquet", (), [PlannedFile(FileInfo(u.rsplit("/", 1)[-1], u, 1)) for u in uris], name="t")
    names_types = [("id", "bigint"), ("s", "string")]
    with ReaderSandbox(SandboxSettings(workers=2, timeout_seconds=wait_budget(1.5)), preload=()) as box, Pool(2) as pool:
        ctx = TableContext(store, Settings(), None, "3.5", pool, 2, sandbox=box)
        work = early_window(ctx, plan, uris, tasks.hang_on_marker_batches, names_types, 60, {}, [20, 20, 20])
        with pytest.raises(ReaderTimedOut, match=r"reading 3 files of a table.s window within"):
            work()
        assert box.stats().timeouts == 1
        assert [cached_bytes(store, u) for u in uris] == [None, None, None]  # the table step reads from storage
        with pytest.raises(ReaderTimedOut, match=r"reading .*b\.parquet within"):
            arrow_profile(ctx, "t", uris, tasks.hang_on_marker_batches, names_types, 60, {}, rows=[20, 20, 20])
        assert box.stats().timeouts == 2


# ------------------------------------------------------------------------------ grouped calls


def _grouped(sandbox: ReaderSandbox, values: list[str]) -> tuple[list[object], int, int]:
    """`values` brought by their own threads while a slow first item holds the only leader slot: they
    are sent as one group after it. Each caller's outcome (result or exception), and the sandbox
    calls and crashes it took."""
    from executor.sandbox.grouped import GroupedCalls

    calls = GroupedCalls(sandbox, tasks.items, tasks.item, "test reader", leaders=1)
    before = sandbox.stats()
    with ThreadPoolExecutor(len(values) + 1) as pool:
        first = pool.submit(calls, ("first", 1.0), "first.bin")
        time.sleep(0.3)  # the first call is in the worker: the others queue behind it
        futures = [pool.submit(calls, (v,), f"{v}.bin") for v in values]
        assert first.result()[0] == "first"
        outcomes = [f.exception() or f.result() for f in futures]
    after = sandbox.stats()
    return outcomes, after.calls - before.calls, after.crashes - before.crashes


def test_items_that_arrive_while_the_sandbox_is_busy_go_as_one_call_each_with_its_own_result(sandbox):
    values = [f"v{i}" for i in range(8)]
    outcomes, calls, _ = _grouped(sandbox, values)
    assert [o[0] for o in outcomes] == values  # type: ignore[index]
    assert calls == 2  # the first alone, then the eight together


def test_a_group_with_a_hostile_item_is_sent_again_item_by_item_and_only_that_item_fails(sandbox):
    """The group's worker aborts: each item runs again alone, so the item that kills a worker fails
    with the verdict naming it, a task error stays its item's own, and the others get their results."""
    outcomes, calls, crashes = _grouped(sandbox, ["a", "abort", "b", "error", "c"])
    assert [o[0] for i, o in enumerate(outcomes) if i in (0, 2, 4)] == ["a", "b", "c"]  # type: ignore[index]
    assert isinstance(outcomes[1], ReaderCrashed)
    assert str(outcomes[1]).startswith("the test reader crashed (SIGABRT) reading abort.bin;")
    assert isinstance(outcomes[3], ValueError) and str(outcomes[3]) == "no value in error"
    assert (calls, crashes) == (1 + 1 + 5, 2)  # the first; the group (crashed); each item alone (one crash)
