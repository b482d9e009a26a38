"""One run of the job: record its start, extract, append, record its end; its summary and exit code.

Used by executor.main (the Databricks job), `nuvyn-executor extract` (executor.ops.commands) and,
through `python -m executor.main`, the API's local launcher. Exit codes are defined here only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from executor.errors import ExecutorError
from executor.logging_setup import CONTEXT
from executor.metadata.incremental import PriorRun
from executor.metadata.model import RUN_FAILED, RUN_RUNNING, MetadataResult
from executor.metadata.readers.registry import READERS
from executor.payload import REFRESH_INCREMENTAL, JobRequest
from executor.redaction import SECRETS, strip_query
from executor.spark_jobs import job_group
from executor.storage.databricks_writer import DatabricksWriter, RunRecord

if TYPE_CHECKING:
    from executor.context import ExecutorContext
    from executor.metadata.extractor import ProgressCallback

logger = logging.getLogger("executor.main")  # the job's log lines name the module users run

EXIT_OK = 0  # succeeded, or partial (some tables failed)
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2  # nothing written


def _describe(file_format: str, details: Mapping[str, Any]) -> str | None:
    """The reader's one line about a table's format_details (None for a format no longer registered)."""
    try:
        return READERS.reader(file_format).describe(details)
    except ExecutorError:
        return None


def table_notes(result: MetadataResult, limit: int = 50) -> dict[str, Any]:
    """The summary's `notes` of a MetadataResult: each CSV table's header decision and reason, each
    other table's reader-owned results as its reader describes them (format_details), and
    each column whose samples/profile are empty and why (the same facts as tables.csv_header,
    csv_header_reason and column_notes), at most `limit` entries of each."""
    headers = [{"table": t.table_name, "header": t.csv_header, "reason": t.csv_header_reason}
               for t in result.tables if t.csv_header is not None]
    columns = [{"table": t.table_name, "column": c, "reason": why}
               for t in result.tables for c, why in sorted(t.column_notes.items())]
    formats = [{"table": t.table_name, "format": t.file_type, "details": text} for t in result.tables
               if t.csv_header is None and t.format_details and (text := _describe(t.file_type, t.format_details))]
    out: dict[str, Any] = {}
    if headers:
        out["csv_headers"] = headers[:limit]
    if formats:
        out["format_details"] = formats[:limit]
    if columns:
        out["column_notes"] = columns[:limit]
        out["column_notes_total"] = len(columns)
    return out


def summarize(result: MetadataResult | None, seconds: float, spark_jobs: int,
              refresh: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The run's summary (stored as JSON in executor_runs.summary; executor.ops.summary renders it).
    `refresh`: the refresh mode and, for an incremental run, what it reused (prior_run)."""
    if result is None:
        return {"seconds": round(seconds, 3), "spark_jobs": spark_jobs, **(refresh or {})}
    failed = result.failed_tables
    return {
        "tables": len(result.tables),
        "tables_failed": len(failed),
        "failed": [{"table": t.table_name, "error": t.error_message} for t in failed[:20]],
        "rows": sum(t.row_count or 0 for t in result.tables),
        "files": result.files_found,
        "files_skipped": len(result.skipped),
        "bytes": result.total_size_bytes,
        "spark_jobs": spark_jobs,
        "seconds": round(seconds, 3),
        **(refresh or {}),
        **result.reads,
        **table_notes(result),
    }


def prior_run(request: JobRequest, writer: DatabricksWriter | None, run: RunRecord,
              ) -> tuple[PriorRun | None, dict[str, Any]]:
    """The earlier run an incremental run reuses (DatabricksWriter.prior_run) and the summary's
    `refresh` fields. Never fails the run: without a record (no earlier completed run, no
    --write-to-db, an error reading it) every file is read, and refresh_note says why."""
    out: dict[str, Any] = {"refresh": request.refresh}
    if request.refresh != REFRESH_INCREMENTAL:
        return None, out
    if writer is None:
        return None, {**out, "refresh_note": "without --write-to-db there is no record to reuse: every file was read"}
    try:
        prior = writer.prior_run(request.workflow_id, request.source_id, run.source_path, exclude_run_id=run.run_id)
    except Exception as exc:  # noqa: BLE001 - reading everything is always correct
        logger.warning("incremental run: could not read the earlier run's record (%s); every file is read",
                       SECRETS.redact(f"{type(exc).__name__}: {exc}")[:500])
        return None, {**out, "refresh_note": "the earlier run's record could not be read: every file was read"}
    if prior is None:
        return None, {**out, "refresh_note": "no completed run of this workflow_id, source_id and source path: "
                                             "every file was read"}
    logger.info("incremental run: reusing the record of run %s (%d tables, %d files)", prior.run_id,
                len(prior.tables), len(prior.files))
    return prior, out


def first_line(exc: BaseException) -> str:
    """The first line of an error, secrets redacted, at most 2000 characters."""
    text = str(exc).strip()
    return SECRETS.redact(text.splitlines()[0] if text else type(exc).__name__)[:2000]


def failed_before_spark(run: RunRecord, exc: BaseException, seconds: float) -> dict[str, Any]:
    """The report of a run whose source could not be listed: Spark was never started and nothing
    was written (summary.recorded is false), the error is the one the run would have recorded."""
    return {"run_id": run.run_id, "workflow_id": run.workflow_id, "source_id": run.source_id,
            "status": RUN_FAILED, "error_message": first_line(exc),
            "summary": {"seconds": round(seconds, 3), "spark_jobs": 0, "recorded": False}}


def written(report: Mapping[str, Any]) -> bool:
    """False when the run failed before Spark started (nothing was written)."""
    return (report.get("summary") or {}).get("recorded", True) is not False


def mark_abandoned(writer: DatabricksWriter, run: RunRecord) -> list[str]:
    """At the start of a run: mark the runs this process can check that died without recording their
    end (DatabricksWriter.mark_abandoned). Never fails the run: an error is logged and the marks are
    left to a later run or read."""
    try:
        return writer.mark_abandoned(exclude_run_id=run.run_id,
                                     marked_by=f"run {run.run_id} (pid {run.pid} on host {run.host})")
    except Exception as exc:  # noqa: BLE001 - the run goes on; a later run marks them
        logger.warning("could not check for abandoned runs: %s", SECRETS.redact(f"{type(exc).__name__}: {exc}")[:500])
        return []


def run_job(request: JobRequest, context: ExecutorContext,
            progress: ProgressCallback | None = None) -> tuple[int, dict[str, Any]]:
    """Run one extraction: record the start, extract, append, record the end.

    Returns the exit code and the report (with the metadata itself unless it was written).
    `progress` (optional) is passed to the extractor."""
    CONTEXT.context.update(run_id=request.run_id, workflow_id=request.workflow_id, source_id=request.source_id)
    logger.debug("Extracted workflow_id: %s", request.workflow_id)
    logger.debug("Extracted source_id: %s", request.source_id)
    logger.info("run %s: workflow_id=%s source_id=%s path=%s type=%s", request.run_id, request.workflow_id,
                request.source_id, SECRETS.redact(request.data_source_path), request.data_source_type)
    here = context.liveness.here  # who runs it: how a later run tells this run dead or alive
    run = RunRecord(run_id=request.run_id, workflow_id=request.workflow_id, source_id=request.source_id,
                    source_path=strip_query(request.data_source_path),
                    run_mode="databricks" if context.databricks else "local",
                    host=here.host, pid=here.pid, process_start=here.start)
    t0 = time.monotonic()
    if not context.spark_running:  # fail fast, before a JVM starts, when the source cannot be listed
        try:
            context.check_source(request.data_source_path, request.data_source_type)
        except ExecutorError as exc:
            return EXIT_FAILED, failed_before_spark(run, exc, time.monotonic() - t0)
    writer = context.writer if request.write_to_db else None
    result: MetadataResult | None = None
    refresh: dict[str, Any] = {"refresh": request.refresh}
    with job_group(context.spark, f"nuvyn-{request.run_id}", f"nuvyn-executor {request.run_id}") as jobs:
        try:
            if writer is not None:
                writer.record_run(run)  # creates or migrates the tables first
                mark_abandoned(writer, run)
            prior, refresh = prior_run(request, writer, run)
            try:
                result = context.extractor.extract(request, progress=progress, prior=prior)
            finally:
                context.close_sandbox()  # the run's reader workers end with its extraction
            if writer is not None:
                writer.write_metadata(result, request.workflow_id, request.source_id, run_id=request.run_id)
            run.status = result.status
            if result.status == RUN_FAILED:
                run.error_message = "every table failed; first error: " + (result.tables[0].error_message or "")
        except Exception as exc:  # noqa: BLE001 - recorded as the run's failure below
            run.status = RUN_FAILED
            run.error_message = first_line(exc)
            if isinstance(exc, ExecutorError):  # the report carries the message: logged once, at debug
                logger.debug("run failed: %s", run.error_message)
            else:
                logger.exception("run failed: %s", run.error_message)
        run.finished_at = datetime.now(timezone.utc)
        run.summary = summarize(result, time.monotonic() - t0, jobs.count, refresh)
        if writer is not None and run.status != RUN_RUNNING:
            try:
                writer.record_run(run)
            except Exception as exc:  # noqa: BLE001 - nothing else can record it; say so loudly
                logger.error("could not record the end of run %s: %s", run.run_id, SECRETS.redact(str(exc)))
                run.status = RUN_FAILED
    report = {
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "source_id": run.source_id,
        "status": run.status,
        "error_message": run.error_message,
        "summary": run.summary,
    }
    if not request.write_to_db and result is not None:
        report["metadata"] = result.to_dict()
    return (EXIT_FAILED if run.status == RUN_FAILED else EXIT_OK), report
