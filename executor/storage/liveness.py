"""Is a `running` run still alive? How a run whose process died (SIGKILL, the OOM killer, a native
abort) is told from a live one, and the `abandoned` row that records it.

A run is open while executor_runs holds only `running` rows for it (one per attempt: each process
that runs it records itself). It is found dead, with the reason that becomes its `error_message`:

- **local** (`run_mode` local): every attempt's process is gone on this host. An attempt records
  `host`, `pid` and `process_start` (Linux: boot id, pid namespace and the start tick from
  /proc/<pid>/stat), so a pid the kernel gave to another process since is not taken for the run.
  Gone means: no such pid, an exited (zombie) process, or a pid that now belongs to a process that
  started at another tick. An attempt on another host, or recorded under another boot or pid
  namespace (a container with the same host name, or the machine restarted), cannot be checked
  from here: the run is left alone (`unknown`), never guessed dead.
- **Databricks** (`run_mode` databricks; the run id is the job run id, `--run-id={{job.run_id}}`):
  the newest attempt started more than NUVYN_RUN_TIMEOUT_S ago (the job's timeout, 4 h in the
  bundle), whatever the Jobs API says; else the Jobs API (`jobs.get_run`, behind `JobRunStates`)
  says the run ended (life cycle TERMINATED, SKIPPED or INTERNAL_ERROR). A run the API does not
  know (another workspace, a purged run) or cannot be asked about is left alone until the age rule.

A run found dead is read again before it is reported or marked (`RunLiveness.abandoned`): a run
that recorded its end between the first read and the check (it wrote its final row and exited) is
not marked. The work is bounded: at most `limit` runs judged and `api_checks` Jobs API calls per
call. Pure: no Spark; databricks-sdk is imported only by SdkJobRunStates, at first use.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from executor.metadata.model import RUN_ABANDONED, RUN_RUNNING
from executor.redaction import SECRETS
from executor.storage.rows import RunRecord, naive_utc

logger = logging.getLogger(__name__)

Row = dict[str, Any]

ALIVE = "alive"
DEAD = "dead"
UNKNOWN = "unknown"
NEVER_ENDED = "the run never recorded its end"
TERMINAL_LIFE_CYCLE_STATES = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
_EXITED_STATES = frozenset({"Z", "X", "x"})  # zombie, dead: the process has ended, only not reaped


# ---------------------------------------------------------------------- who runs it


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as executor_runs records it: host name, pid and `start` (Linux:
    `linux:<boot id>:<pid namespace inode>:<start tick>`; None where the OS gives no start time)."""

    host: str
    pid: int
    start: str | None = None

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def _stat(proc: Path, pid: int) -> tuple[str, int] | None:
    """(state, start tick) of a process from /proc/<pid>/stat; None when there is no such process.
    The command name (field 2) may hold spaces and parentheses: the fields after its last ')' are
    state (3) ... starttime (22)."""
    text = _read(proc / str(pid) / "stat")
    if text is None:
        return None
    fields = text[text.rfind(")") + 1:].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _pid_namespace(proc: Path) -> str | None:
    try:
        link = os.readlink(proc / "self" / "ns" / "pid")  # "pid:[4026531836]"
    except OSError:
        return None
    return link.partition("[")[2].rstrip("]") or None


def _boot_and_namespace(proc: Path) -> tuple[str, str] | None:
    boot = (_read(proc / "sys" / "kernel" / "random" / "boot_id") or "").strip()
    ns = _pid_namespace(proc)
    return (boot, ns) if boot and ns else None


def process_identity(pid: int, proc: str = "/proc", host: str | None = None) -> ProcessIdentity:
    """A process of this host as executor_runs records it: host name (socket.gethostname), pid, and
    its start where /proc gives it (the pid namespace is this process's: pids are seen through it)."""
    root = Path(proc)
    name = host or socket.gethostname()
    where = _boot_and_namespace(root)
    stat = _stat(root, pid)
    if where is None or stat is None:
        return ProcessIdentity(name, pid)
    return ProcessIdentity(name, pid, f"linux:{where[0]}:{where[1]}:{stat[1]}")


def current_process(proc: str = "/proc", host: str | None = None) -> ProcessIdentity:
    """This process (process_identity of os.getpid())."""
    return process_identity(os.getpid(), proc, host)


@dataclass(frozen=True)
class Verdict:
    """alive, dead (then `reason` is the abandoned row's error_message) or unknown (left alone)."""

    state: str
    reason: str = ""

    @property
    def dead(self) -> bool:
        return self.state == DEAD


def process_verdict(host: str | None, pid: int | None, start: str | None, here: ProcessIdentity,
                    proc: str = "/proc") -> Verdict:
    """Whether the process recorded as (host, pid, start) still runs, asked from `here`."""
    if not host or pid is None:
        return Verdict(UNKNOWN, "no process recorded (a row of an older executor)")
    who = f"the process (pid {pid} on host {host})"
    if host != here.host:
        return Verdict(UNKNOWN, f"{who} runs on another host than this one ({here.host})")
    root = Path(proc)
    if start is None or here.start is None:
        if start is not None or here.start is not None:
            return Verdict(UNKNOWN, f"{who} was recorded in another way than this host records processes")
        return _pid_only(int(pid), who)  # no /proc on either side: whether the pid exists at all
    kind, _, rest = start.partition(":")
    boot, ns, tick = (rest.split(":") + ["", "", ""])[:3]
    here_boot, here_ns = (here.start.split(":") + ["", "", ""])[1:3]
    if kind != "linux" or (boot, ns) != (here_boot, here_ns):
        return Verdict(UNKNOWN, f"{who} was recorded under another boot or pid namespace of host {host}")
    stat = _stat(root, int(pid))
    if stat is None:
        return Verdict(DEAD, f"{who} is gone; {NEVER_ENDED}")
    state, now_tick = stat
    if state in _EXITED_STATES:
        return Verdict(DEAD, f"{who} has exited; {NEVER_ENDED}")
    if str(now_tick) != tick:
        return Verdict(DEAD, f"{who} is gone (the pid now belongs to another process); {NEVER_ENDED}")
    return Verdict(ALIVE)


def _pid_only(pid: int, who: str) -> Verdict:
    if sys.platform == "win32":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return Verdict(UNKNOWN, f"{who} cannot be checked on this platform")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return Verdict(DEAD, f"{who} is gone; {NEVER_ENDED}")
    except PermissionError:  # exists, another user's
        return Verdict(ALIVE)
    return Verdict(ALIVE)


# ---------------------------------------------------------------------- Databricks runs


@dataclass(frozen=True)
class JobRunState:
    """What the Jobs API says of a run: life cycle state, result state and state message."""

    life_cycle_state: str
    result_state: str | None = None
    state_message: str | None = None

    @property
    def ended(self) -> bool:
        return self.life_cycle_state in TERMINAL_LIFE_CYCLE_STATES


class JobRunStates(Protocol):
    """The Jobs API as the liveness check uses it (SdkJobRunStates; a local HTTP double in tests)."""

    def run_state(self, run_id: int) -> JobRunState | None:
        """The run's state; None when the API does not know the run. Raises when it cannot be asked."""
        ...


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", None) or value)


class SdkJobRunStates:
    """JobRunStates over databricks-sdk's `WorkspaceClient().jobs.get_run(run_id)` (GET
    /api/2.2/jobs/runs/get). `client_factory` builds the client at first use; when it cannot (no
    databricks-sdk, no Databricks configuration) the failure is remembered and every later call
    raises it again at once."""

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self.client_factory = client_factory
        self._client: Any = None
        self._unavailable: Exception | None = None

    @property
    def client(self) -> Any:
        if self._unavailable is not None:
            raise self._unavailable
        if self._client is None:
            try:
                self._client = self.client_factory()
            except Exception as exc:  # noqa: BLE001 - kept: the check is then unknown, not an error
                self._unavailable = exc
                raise
        return self._client

    def run_state(self, run_id: int) -> JobRunState | None:
        client = self.client
        from databricks.sdk.errors import InvalidParameterValue, NotFound

        try:
            run = client.jobs.get_run(run_id=run_id)
        except (NotFound, InvalidParameterValue):  # "Run 123 does not exist." (400) or 404
            return None
        state = getattr(run, "state", None)
        life = _name(getattr(state, "life_cycle_state", None))
        if life is not None:
            return JobRunState(life, _name(getattr(state, "result_state", None)),
                               getattr(state, "state_message", None) or None)
        status = getattr(run, "status", None)  # the newer RunStatus, when `state` is absent
        life = _name(getattr(status, "state", None))
        if life is None:
            return None
        details = getattr(status, "termination_details", None)
        return JobRunState(life, _name(getattr(details, "code", None)), getattr(details, "message", None) or None)


# The liveness check is best effort: a slow or rate-limited Jobs API must not hold up a run's start
# or a read (the SDK's default retries 429/503 for 300 s); an unanswered check is `unknown`.
API_TIMEOUT_S = 15


def workspace_client() -> Any:
    """databricks-sdk's WorkspaceClient with the SDK's own configuration (the runtime's credentials
    in a Databricks job; DATABRICKS_HOST/TOKEN or a profile elsewhere), retries bounded by API_TIMEOUT_S."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    return WorkspaceClient(config=Config(retry_timeout_seconds=API_TIMEOUT_S, http_timeout_seconds=API_TIMEOUT_S))


def databricks_reason(run_id: str, state: JobRunState) -> str:
    """`Databricks run 456 ended TERMINATED/FAILED: <state message>; the run never recorded its end`."""
    text = f"Databricks run {run_id} ended {state.life_cycle_state}"
    if state.result_state:
        text += f"/{state.result_state}"
    message = (state.state_message or "").strip()
    if message:
        text += f": {message.splitlines()[0]}"
    return SECRETS.redact(f"{text}; {NEVER_ENDED}")[:2000]


# ---------------------------------------------------------------------- runs


def group_runs(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """executor_runs rows by run_id."""
    out: dict[str, list[Row]] = {}
    for r in rows:
        out.setdefault(str(r.get("run_id")), []).append(r)
    return out


def is_open(events: Sequence[Row]) -> bool:
    """True when the run has `running` rows and no final row (its current state is running)."""
    return bool(events) and all(e.get("status") == RUN_RUNNING for e in events)


def _started(r: Row) -> datetime:
    ts = r.get("started_at")
    return naive_utc(ts) if isinstance(ts, datetime) else datetime.min


def newest_attempt(events: Sequence[Row]) -> Row:
    """The newest `running` row of a run (started last; then the largest id)."""
    running = [e for e in events if e.get("status") == RUN_RUNNING] or list(events)
    return max(running, key=lambda e: (_started(e), e.get("id") or 0))


def _attempts(events: Sequence[Row]) -> frozenset[tuple[Any, ...]]:
    return frozenset((e.get("host"), e.get("pid"), e.get("process_start"), e.get("started_at"))
                     for e in events if e.get("status") == RUN_RUNNING)


@dataclass(frozen=True)
class Abandoned:
    """A run found dead: its newest attempt's `running` row and why."""

    attempt: Row
    reason: str


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class _Budget:
    api_checks: int


@dataclass
class RunLiveness:
    """Tells open runs dead or alive from this process (`here`). `jobs` answers for Databricks runs
    (None: only the age rule); `max_age_s` is NUVYN_RUN_TIMEOUT_S; `clock` gives naive UTC."""

    here: ProcessIdentity
    max_age_s: float = 14400.0
    jobs: JobRunStates | None = None
    proc: str = "/proc"
    clock: Callable[[], datetime] = field(default=_utcnow)

    def verdict(self, events: Sequence[Row], budget: _Budget | None = None) -> Verdict:
        """The verdict on one open run from its `running` rows (one per attempt)."""
        newest = newest_attempt(events)
        if newest.get("run_mode") == "databricks":
            return self._databricks(newest, budget or _Budget(1))
        # every attempt must be gone: a retry still running in another process keeps the run alive
        verdicts = {id(e): process_verdict(e.get("host"), e.get("pid"), e.get("process_start"), self.here, self.proc)
                    for e in events if e.get("status") == RUN_RUNNING}
        if any(v.state == ALIVE for v in verdicts.values()):
            return Verdict(ALIVE)
        unknown = [v for v in verdicts.values() if v.state == UNKNOWN]
        if unknown:
            return unknown[0]
        return verdicts.get(id(newest), Verdict(UNKNOWN, "no running row"))

    def _databricks(self, newest: Row, budget: _Budget) -> Verdict:
        run_id = str(newest.get("run_id"))
        started = newest.get("started_at")
        if isinstance(started, datetime):
            age = (self.clock() - naive_utc(started)).total_seconds()
            if age > self.max_age_s:
                return Verdict(DEAD, f"the run started at {naive_utc(started):%Y-%m-%d %H:%M:%S} UTC, more than "
                                     f"NUVYN_RUN_TIMEOUT_S={self.max_age_s:g} s (the job's timeout) ago; {NEVER_ENDED}")
        if self.jobs is None:
            return Verdict(UNKNOWN, "no Jobs API client to ask about the Databricks run")
        if not run_id.isdigit():
            return Verdict(UNKNOWN, f"run id {run_id!r} is not a Databricks job run id")
        if budget.api_checks <= 0:
            return Verdict(UNKNOWN, "Jobs API checks of this pass used up")
        budget.api_checks -= 1
        try:
            state = self.jobs.run_state(int(run_id))
        except Exception as exc:  # noqa: BLE001 - cannot ask: the run is left alone
            logger.info("cannot ask the Jobs API about run %s: %s", run_id, SECRETS.redact(f"{type(exc).__name__}: "
                                                                                            f"{exc}")[:300])
            return Verdict(UNKNOWN, "the Jobs API could not be asked")
        if state is None:
            return Verdict(UNKNOWN, f"the Jobs API does not know run {run_id}")
        if state.ended:
            return Verdict(DEAD, databricks_reason(run_id, state))
        return Verdict(ALIVE)

    def abandoned(self, runs: Mapping[str, Sequence[Row]], reread: Callable[[list[str]], list[Row]], *,
                  exclude: Iterable[str | None] = (), limit: int | None = None,
                  api_checks: int = 20) -> dict[str, Abandoned]:
        """The runs of `runs` (run_id -> its rows) that are open and dead, confirmed on a fresh read
        (`reread(run_ids)` gives every row of those runs): a run that recorded its end meanwhile is
        dropped, one with a new attempt is judged again. Oldest first, at most `limit` runs judged and
        `api_checks` Jobs API calls."""
        skip = {str(r) for r in exclude if r}
        candidates = sorted(((rid, ev) for rid, ev in runs.items() if rid not in skip and is_open(ev)),
                            key=lambda item: _started(newest_attempt(item[1])))
        budget = _Budget(api_checks)
        found: dict[str, tuple[Sequence[Row], Verdict]] = {}
        for rid, events in candidates[:limit]:
            v = self.verdict(events, budget)
            if v.dead:
                found[rid] = (events, v)
        if not found:
            return {}
        fresh = group_runs(reread(sorted(found)))
        out: dict[str, Abandoned] = {}
        for rid, (events, v) in found.items():
            now = fresh.get(rid, [])
            if not is_open(now):
                logger.info("run %s recorded its end meanwhile: not abandoned", rid)
                continue
            if _attempts(now) != _attempts(events):
                v = self.verdict(now, budget)
                if not v.dead:
                    continue
            out[rid] = Abandoned(newest_attempt(now), v.reason)
        return out


def abandoned_view(row: Row, reason: str) -> Row:
    """A read's current row of a run found dead but not marked yet: status abandoned, the reason;
    finished_at stays NULL (the end was never recorded; the marker row sets when it was found)."""
    return {**row, "status": RUN_ABANDONED, "error_message": reason, "finished_at": None}


def abandoned_record(found: Abandoned, marked_by: str, now: datetime) -> RunRecord:
    """The final row a marker appends for a dead run: its ids and process from the attempt's
    `running` row, status abandoned, finished_at = when it was found, the reason, who marked it."""
    a = found.attempt
    started = a.get("started_at")
    return RunRecord(
        run_id=str(a.get("run_id")), workflow_id=str(a.get("workflow_id")), source_id=a.get("source_id"),
        source_path=a.get("source_path"), run_mode=str(a.get("run_mode") or "local"),
        started_at=started if isinstance(started, datetime) else now, finished_at=now, status=RUN_ABANDONED,
        error_message=found.reason, summary={"marked_by": marked_by}, host=a.get("host"), pid=a.get("pid"),
        process_start=a.get("process_start"))
