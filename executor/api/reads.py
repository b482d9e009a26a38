"""Metadata reads of the API, off the event loop: a bounded thread pool with a per-read timeout.

The routes of /workflows/{id}/metadata and /changes await `ReadPool.run(...)`: at most `workers`
reads run at once, at most `max_pending` wait; more answer 503 at once (ReadsBusy), a read slower
than `timeout_s` answers 504 (ReadsTimeout). /health never touches the pool.
The readers come from executor.storage.queries (delta-rs locally: no JVM in the server).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeVar

from executor.errors import ExecutorError
from executor.settings import ReadPoolSettings

if TYPE_CHECKING:
    from executor.storage.queries import MetadataReads

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ReadsBusy(ExecutorError):
    """Too many metadata reads are running or waiting (HTTP 503)."""


class ReadsTimeout(ExecutorError):
    """A metadata read took longer than its timeout (HTTP 504)."""


class ReadPool:
    """A bounded pool for blocking reads. A slot is taken before a read is queued and given back
    when the read really ends (a timed-out read still holds its slot until its thread returns),
    so the bound holds even when reads hang."""

    def __init__(self, settings: ReadPoolSettings | None = None) -> None:
        self.settings = settings or ReadPoolSettings()
        self._executor: ThreadPoolExecutor | None = None  # made on the first read after each start
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _release(self, _future: Future[T] | None) -> None:
        with self._lock:
            self._in_flight -= 1

    async def run(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._in_flight >= self.settings.max_pending:
                raise ReadsBusy(f"too many metadata reads in progress ({self.settings.max_pending}, "
                                "NUVYN_API_READ_MAX_PENDING): retry in a moment")
            self._in_flight += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="nuvyn-read")
            executor = self._executor
        try:
            future = executor.submit(fn)
        except RuntimeError:  # shut down
            self._release(None)
            raise ReadsBusy("the server is shutting down: retry in a moment") from None
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=self.settings.timeout_s)
        except asyncio.TimeoutError:  # noqa: UP041 - not the builtin on Python 3.10
            future.cancel()  # still queued: never runs; running: ends on its own, then frees its slot
            logger.warning("metadata read timed out after %.1fs", self.settings.timeout_s)
            raise ReadsTimeout(f"the metadata read took longer than {self.settings.timeout_s:g} s "
                               "(NUVYN_API_READ_TIMEOUT_S): retry later or narrow it with source_id/run_id") from None

    def shutdown(self) -> None:
        """End the app's reads (lifespan shutdown); an app started again gets a new pool."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _encode(value: object) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def json_body(result: object) -> bytes:
    """A read's answer as JSON bytes, built in the worker thread (not on the event loop): the bytes
    JSONResponse(jsonable_encoder(result)) would send (datetimes in ISO 8601) for the plain rows the
    reads return."""
    return json.dumps(result, default=_encode, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


class ReadsMetadataReader:
    """The API's MetadataReader (executor.api.ports) over an executor.storage.queries reader built
    once, on first use (delta-rs on the local tables, the SQL Statement API, or Spark on Databricks)."""

    def __init__(self, make_reads: Callable[[], MetadataReads]) -> None:
        self._make_reads = make_reads
        self._reads: MetadataReads | None = None
        self._lock = threading.Lock()

    def reads(self) -> MetadataReads:
        with self._lock:
            if self._reads is None:
                self._reads = self._make_reads()
            return self._reads

    def metadata(self, workflow_id: str | None, source_id: str | None,
                 run_id: str | None) -> Mapping[str, object]:
        result: Mapping[str, object] = self.reads().query_metadata(workflow_id=workflow_id, source_id=source_id,
                                                                   run_id=run_id)
        return result

    def changes(self, workflow_id: str, source_id: str | None, from_run: str | None,
                to_run: str | None) -> Mapping[str, object]:
        result: Mapping[str, object] = self.reads().schema_changes(workflow_id, source_id, from_run, to_run)
        return result
