"""Entry point of the Databricks job (and of local runs).

Forms:
  python -m executor.main metadata_extraction <data_source_path> <data_source_type> <tenant_id> --write-to-db
      with NUVYN_JOB_PAYLOAD supplying workflow_id / source_id (the v2 contract's form)
  python -m executor.main --payload '<json>' [--key=value ...] [--run-id R] --write-to-db
      the Databricks job form: the per-run `payload` job parameter wins over the env var
Named parameters --workflow_id=..., --source_id=..., --data_source_path=..., --data_source_type=...,
--tenant_id=..., --job_type=... set top-level payload fields (job_metadata.workflow_id still wins).

Exit codes: 0 succeeded or partial (some tables failed), 1 failed, 2 bad input (nothing written).
"""

from __future__ import annotations

import sys

if not __package__:  # run as a script (`python3 executor/main.py ...`, the seed's form)
    import pathlib

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import argparse
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from executor.errors import ExecutorError, PayloadError, SettingsError
from executor.metadata.model import RUN_FAILED, RUN_RUNNING, MetadataResult
from executor.ops.summary import table_notes
from executor.payload import (
    PAYLOAD_ENV,
    JobRequest,
    build_request,
    parse_payload_json,
    resolve_source_id,
    resolve_workflow_id,
)
from executor.redaction import SECRETS, strip_query

logger = logging.getLogger("executor.main")  # not "__main__" under `python -m executor.main`

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

NAMED_FIELDS = ("workflow_id", "source_id", "data_source_path", "data_source_type", "tenant_id", "job_type",
                "include", "exclude", "csv_header")


def get_workflow_id_from_environment(env: Mapping[str, str] | None = None) -> str | None:
    """Extract workflow_id from NUVYN_JOB_PAYLOAD environment variable."""
    env = os.environ if env is None else env
    return resolve_workflow_id(parse_payload_json(env.get(PAYLOAD_ENV), PAYLOAD_ENV))


def get_source_id_from_environment(env: Mapping[str, str] | None = None) -> str | None:
    """Extract source_id from NUVYN_JOB_PAYLOAD environment variable."""
    env = os.environ if env is None else env
    return resolve_source_id(parse_payload_json(env.get(PAYLOAD_ENV), PAYLOAD_ENV))


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 itself; we raise to keep one path
        raise PayloadError(f"{message} (see --help)")


def argument_parser() -> argparse.ArgumentParser:
    p = _ArgumentParser(prog="python -m executor.main", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job_type", nargs="?", help="metadata_extraction")
    p.add_argument("data_source_path", nargs="?", help="local path, dbfs:/..., Azure URL")
    p.add_argument("data_source_type", nargs="?", help="csv, tsv, parquet, local, dbfs, azure_blob, adls_gen2, auto")
    p.add_argument("tenant_id", nargs="?", help="tenant identifier (recorded, optional)")
    p.add_argument("--payload", default=None, help=f"job payload JSON; wins over {PAYLOAD_ENV}")
    p.add_argument("--run-id", "--run_id", dest="run_id", default=None, help="run id ({{job.run_id}} on Databricks)")
    p.add_argument("--write-to-db", "--write_to_db", dest="write_to_db", action="store_true",
                   help="append the metadata to the Delta tables (otherwise print it as JSON)")
    p.add_argument("--log-level", default=os.environ.get("NUVYN_LOG_LEVEL", "INFO"))
    p.add_argument("--log-format", choices=("text", "json"), default=os.environ.get("NUVYN_LOG_FORMAT", "text"))
    for name in NAMED_FIELDS:
        p.add_argument(f"--{name}", f"--{name.replace('_', '-')}", dest=f"named_{name}", default=None,
                       help=argparse.SUPPRESS)
    return p


PATTERN_ENV = {"include": "NUVYN_INCLUDE", "exclude": "NUVYN_EXCLUDE"}


def apply_pattern_settings(payload: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """NUVYN_INCLUDE / NUVYN_EXCLUDE (comma-separated globs) apply when the payload has no include/exclude."""
    for name, var in PATTERN_ENV.items():
        if payload.get(name) in (None, "", []) and env.get(var, "").strip():
            payload[name] = env[var]
    return payload


def resolve_request(argv: Sequence[str], env: Mapping[str, str]) -> JobRequest:
    """Arguments + payload (parameter or env var) -> JobRequest. Raises PayloadError."""
    args = argument_parser().parse_args(list(argv))
    if args.payload is not None and args.payload.strip():
        payload = parse_payload_json(args.payload, "--payload")
    else:
        payload = parse_payload_json(env.get(PAYLOAD_ENV), PAYLOAD_ENV)
    payload = dict(payload)
    apply_pattern_settings(payload, env)
    for name in NAMED_FIELDS:
        value = getattr(args, f"named_{name}")
        if value is not None and value != "":
            payload[name] = value
    return build_request(
        payload,
        job_type=args.job_type,
        data_source_path=args.data_source_path,
        data_source_type=args.data_source_type,
        tenant_id=args.tenant_id,
        run_id=args.run_id,
        write_to_db=args.write_to_db,
    )


def summarize(result: MetadataResult | None, seconds: float, spark_jobs: int) -> dict[str, Any]:
    if result is None:
        return {"seconds": round(seconds, 3), "spark_jobs": spark_jobs}
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
        **table_notes(result),
    }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return SECRETS.redact(text.splitlines()[0] if text else type(exc).__name__)[:2000]


def failed_before_spark(run: Any, exc: BaseException, seconds: float) -> dict[str, Any]:
    """The report of a run whose source could not be listed: Spark was never started and nothing
    was written (summary.recorded is false), the error is the one the run would have recorded."""
    return {"run_id": run.run_id, "workflow_id": run.workflow_id, "source_id": run.source_id,
            "status": RUN_FAILED, "error_message": _first_line(exc),
            "summary": {"seconds": round(seconds, 3), "spark_jobs": 0, "recorded": False}}


def run_job(request: JobRequest, context: Any, progress: Any = None) -> tuple[int, dict[str, Any]]:
    """Run one extraction: record the start, extract, append, record the end.

    `progress` (optional): a ProgressCallback passed to the extractor (executor.ops.progress)."""
    from executor.logging_setup import CONTEXT
    from executor.spark_jobs import job_group
    from executor.storage.databricks_writer import RunRecord

    CONTEXT.context.update(run_id=request.run_id, workflow_id=request.workflow_id, source_id=request.source_id)
    logger.debug("Extracted workflow_id: %s", request.workflow_id)
    logger.debug("Extracted source_id: %s", request.source_id)
    logger.info("run %s: workflow_id=%s source_id=%s path=%s type=%s", request.run_id, request.workflow_id,
                request.source_id, SECRETS.redact(request.data_source_path), request.data_source_type)
    run = RunRecord(run_id=request.run_id, workflow_id=request.workflow_id, source_id=request.source_id,
                    source_path=strip_query(request.data_source_path),
                    run_mode="databricks" if context.databricks else "local")
    t0 = time.monotonic()
    if not context.spark_running:  # fail fast, before a JVM starts, when the source cannot be listed
        try:
            context.check_source(request.data_source_path, request.data_source_type)
        except ExecutorError as exc:
            return EXIT_FAILED, failed_before_spark(run, exc, time.monotonic() - t0)
    writer = context.writer if request.write_to_db else None
    result: MetadataResult | None = None
    with job_group(context.spark, f"nuvyn-{request.run_id}", f"nuvyn-executor {request.run_id}") as jobs:
        try:
            if writer is not None:
                writer.record_run(run)  # creates or migrates the tables first
            result = (context.extractor.extract(request, progress=progress) if progress is not None
                      else context.extractor.extract(request))
            if writer is not None:
                writer.write_metadata(result, request.workflow_id, request.source_id, run_id=request.run_id)
            run.status = result.status
            if result.status == RUN_FAILED:
                run.error_message = "every table failed; first error: " + (result.tables[0].error_message or "")
        except Exception as exc:  # noqa: BLE001 - recorded as the run's failure below
            run.status = RUN_FAILED
            run.error_message = _first_line(exc)
            if isinstance(exc, ExecutorError):  # the report carries the message: logged once, at debug
                logger.debug("run failed: %s", run.error_message)
            else:
                logger.exception("run failed: %s", run.error_message)
        run.finished_at = datetime.now(timezone.utc)
        run.summary = summarize(result, time.monotonic() - t0, jobs.count)
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


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, context: Any = None) -> int:
    from executor.logging_setup import configure_logging

    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    try:
        pre = argument_parser().parse_known_args(list(argv))[0]
        configure_logging(pre.log_level, pre.log_format)
    except PayloadError:
        configure_logging()
    try:
        request = resolve_request(argv, env)
        if context is None:
            from executor.context import ExecutorContext

            context = ExecutorContext(env=env)
        from executor.ops.progress import LogProgress

        code, report = run_job(request, context, progress=LogProgress())
    except (PayloadError, SettingsError) as exc:  # printed once, here (not also logged)
        print(f"error: {SECRETS.redact(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ExecutorError as exc:  # e.g. NUVYN_TABLES_LOCATION refused before the run could start
        print(f"error: {SECRETS.redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(report, indent=2, default=str, ensure_ascii=False), flush=True)
    if request.write_to_db and written(report):
        print(context.tables_line(), file=sys.stderr)
    return code


def written(report: Mapping[str, Any]) -> bool:
    """False when the run failed before Spark started (nothing was written)."""
    return (report.get("summary") or {}).get("recorded", True) is not False


class JobFailedError(ExecutorError):
    """Raised by job_main when a run ends with a non-zero exit code."""

    def __init__(self, code: int) -> None:
        self.code = code
        what = "bad input, nothing written" if code == EXIT_BAD_INPUT else "the run failed"
        super().__init__(f"nuvyn-executor exit code {code} ({what}); the report above and the log say why")


def job_main() -> None:
    """Entry point of the Databricks python_wheel_task (console script `nuvyn-executor-job`).

    The wheel task's launcher calls the entry point with no arguments (parameters arrive in
    sys.argv) and ignores what it returns, so a return code cannot fail the task: a non-zero code
    is raised as JobFailedError, which marks the Databricks run failed (and lets max_retries and
    on_failure notifications act). Exit code 0 (succeeded or partial) returns normally."""
    code = main()
    if code != EXIT_OK:
        raise JobFailedError(code)


if __name__ == "__main__":
    sys.exit(main())
