"""The commands of the `nuvyn-executor` console script (executor.cli parses, these run).

  nuvyn-executor extract <path> [--type T] [--workflow-id W] [--source-id S] [--include GLOB ...]
                 [--exclude GLOB ...] [--dry-run [--no-read-headers]] [--write-to-db] [--format table|json]
  nuvyn-executor runs   --workflow-id W [--source-id S] [--limit N] [--format table|json]
  nuvyn-executor tables --workflow-id W [--source-id S] [--format table|json]
  nuvyn-executor query  --workflow-id W [--source-id S] [--run-id R] [--format json|table]
  nuvyn-executor diff   --workflow-id W [--source-id S] [--from-run R1 --to-run R2] [--format json|table]
  nuvyn-executor migrate [--backfill-workflow-id-from-source-id] [--optimize] [--dry-run]
  nuvyn-executor serve  [--host 127.0.0.1] [--port 8080] [--no-auth]

Each command is run(args, env, open_context) -> exit code: `env` is the process environment the
CLI hands in, `open_context(request)` gives the ExecutorContext (tests pass their own).
runs, tables, query and diff read through ExecutorContext.reads (delta-rs locally: no JVM).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from executor.api.cli_args import add_serve_args
from executor.context import ExecutorContext
from executor.errors import PayloadError, QueryError
from executor.formats import FORMATS
from executor.logging_setup import configure_logging, log_options
from executor.metadata.drift import render_diff
from executor.ops.dry_run import plan_extraction, render_dry_run
from executor.ops.progress import human_bytes, make_progress
from executor.ops.render import cell, parse_summary, text_table, to_json
from executor.ops.summary import render_summary, run_row
from executor.payload import (
    ID_PATTERN,
    ID_RULE,
    RUN_ID_PATTERN,
    VALID_DATA_SOURCE_TYPES,
    JobRequest,
    build_request,
    is_given,
    select_payload,
)
from executor.redaction import SECRETS
from executor.run import EXIT_OK, run_job, written
from executor.settings import LOG_LEVELS, JobInputSettings

OpenContext = Callable[[JobRequest | None], ExecutorContext]
Command = Callable[[argparse.Namespace, Mapping[str, str], OpenContext], int]
RUN_ID_RULE = "letters, digits and . _ : -"
# The flags of `extract` that are request fields (explicit values: executor.payload's level 1).
EXTRACT_FIELDS = ("workflow_id", "source_id", "tenant_id", "run_id", "data_source_type", "include", "exclude",
                  "csv_header", "format_options", "refresh")


def _check_id(value: str | None, name: str, pattern: re.Pattern[str] = ID_PATTERN,
              rule: str = ID_RULE) -> str | None:
    if value is None or value == "":
        return None
    if not pattern.match(value):
        raise PayloadError(f"{name} {value[:40]!r} is invalid: expected {rule}")
    return value


# ---------------------------------------------------------------------- extract

def add_extract_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="data source path: local folder or file, dbfs:/..., Azure URL")
    p.add_argument("--type", "--data-source-type", dest="data_source_type", default=None,
                   help=", ".join(VALID_DATA_SOURCE_TYPES) + " (auto: the default)")
    p.add_argument("--workflow-id", "--workflow_id", dest="workflow_id",
                   help="required unless --dry-run (or set in NUVYN_JOB_PAYLOAD / --payload)")
    p.add_argument("--source-id", "--source_id", dest="source_id")
    p.add_argument("--tenant-id", "--tenant_id", dest="tenant_id")
    p.add_argument("--run-id", "--run_id", dest="run_id")
    p.add_argument("--payload", default=None,
                   help="job payload JSON (else NUVYN_JOB_PAYLOAD); flags win over it, job_metadata included")
    p.add_argument("--include", action="append", metavar="GLOB",
                   help="only files whose relative path or name matches (repeatable, or comma-separated); "
                        "default NUVYN_INCLUDE")
    p.add_argument("--exclude", action="append", metavar="GLOB",
                   help="skip files whose relative path or name matches (repeatable); default NUVYN_EXCLUDE")
    p.add_argument("--csv-header", "--csv_header", dest="csv_header", choices=("auto", "true", "false"),
                   default=None, help="CSV/TSV header: auto (the header rule, default), true or false (payload csv_header; "
                                      "the alias of --format-option csv.header=...)")
    p.add_argument("--format-option", "--format_option", dest="format_options", action="append", default=None,
                   metavar="FORMAT.OPTION=VALUE",
                   help="a format's option (repeatable; payload format_options): "
                        + "; ".join(f"{f.name}.{o.name}: {o.rule()}" for f in FORMATS for o in f.options))
    p.add_argument("--refresh", default=None, metavar="MODE",
                   help="full (default: read every file) or incremental (reuse the facts of the workflow's last "
                        "completed run for files unchanged since; payload refresh)")
    p.add_argument("--dry-run", action="store_true",
                   help="list the tables it would create and every skipped file; no Spark, nothing written")
    p.add_argument("--no-read-headers", dest="read_headers", action="store_false",
                   help="--dry-run: do not read CSV headers / Parquet footers (faster; no schema-based split)")
    p.add_argument("--write-to-db", "--write_to_db", dest="write_to_db", action="store_true",
                   help="append the metadata to the Delta tables (otherwise print it)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument("--progress", choices=("auto", "bar", "log", "off"), default="auto",
                   help="auto: a bar on a terminal, else a log line every few seconds")
    p.add_argument("--progress-interval", type=float, default=5.0, metavar="SECONDS",
                   help="log progress at most this often (default 5)")
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=None,
                   help="default NUVYN_LOG_LEVEL, else INFO")
    p.add_argument("--log-format", choices=("text", "json"), default=None, help="default NUVYN_LOG_FORMAT, else text")


def build_extract_request(args: argparse.Namespace, env: Mapping[str, str]) -> JobRequest:
    """The JobRequest of `extract`, by the same rule as executor.main (executor.payload.build_request):
    the flags are explicit values (they win, job_metadata included), then the payload (--payload or
    NUVYN_JOB_PAYLOAD), then NUVYN_INCLUDE / NUVYN_EXCLUDE."""
    inputs = JobInputSettings.from_env(env)
    payload = select_payload(args.payload, inputs)
    explicit: dict[str, object] = {name: getattr(args, name) for name in EXTRACT_FIELDS}
    explicit["data_source_path"] = args.path
    return build_request(payload, {k: v for k, v in explicit.items() if is_given(v)}, inputs=inputs,
                         write_to_db=args.write_to_db,
                         dry_run_workflow_id="dry_run" if args.dry_run else None)  # nothing is written


def render_tables(tables: list[dict[str, Any]]) -> str:
    rows = []
    for t in tables:
        parts = t.get("partition_columns")
        if isinstance(parts, str):
            try:
                parts = json.loads(parts)
            except ValueError:
                parts = [parts]
        rows.append({**t, "size": human_bytes(t.get("size_bytes")), "partitions": ",".join(parts or []) or "-",
                     "rows": t.get("row_count"), "columns": t.get("column_count"), "files": t.get("file_count"),
                     "format": t.get("file_type"), "table": t.get("table_name"), "error": t.get("error_message")})
    cols = ["table", "format", "status", "rows", "columns", "files", "size", "partitions"]
    if any(r["error"] for r in rows):
        cols.append("error")
    return text_table(rows, cols, max_width=70)


def cmd_extract(args: argparse.Namespace, env: Mapping[str, str], open_context: OpenContext) -> int:
    log_level, log_format = log_options(args.log_level, args.log_format, env)
    configure_logging(log_level, log_format)
    request = build_extract_request(args, env)
    if args.dry_run:
        context = open_context(None)
        try:
            plan = plan_extraction(request.data_source_path, request.data_source_type, request.include,
                                   request.exclude, settings=context.settings, read_headers=args.read_headers,
                                   format_options=request.format_options, store_factory=context.store_factory,
                                   sandbox=context.sandbox)
        finally:
            context.close_sandbox()
        print(to_json(plan.to_dict()) if args.format == "json" else render_dry_run(plan))
        return EXIT_OK

    progress = make_progress("log" if args.progress == "auto" and log_format == "json" else args.progress,
                             interval=args.progress_interval)
    context = open_context(request)
    if progress is None:
        code, report = run_job(request, context)
    else:
        with progress:
            code, report = run_job(request, context, progress=progress)
    if args.format == "json":
        print(to_json(report))
    else:
        if "metadata" in report:
            print("Tables (not written: add --write-to-db to store them):")
            print(render_tables(report["metadata"]["tables"]))
            print()
        print(SECRETS.redact(render_summary(report)))
    stream = sys.stderr if args.format == "json" else sys.stdout
    if request.write_to_db and written(report):  # where the rows went: one line, last
        print(context.tables_line(), file=stream)
    elif request.write_to_db:
        print("nothing written: the source could not be listed, Spark was not started", file=stream)
    return code


# ---------------------------------------------------------------------- runs / tables

def _add_ids(p: argparse.ArgumentParser, *more_ids: str, output: str = "table",
             workflow_required: bool = False) -> None:
    """--workflow-id, --source-id, one --x-y/--x_y option per name in `more_ids`, and --format."""
    p.add_argument("--workflow-id", "--workflow_id", dest="workflow_id", required=workflow_required)
    for name in ("source_id", *more_ids):
        p.add_argument(f"--{name.replace('_', '-')}", f"--{name}", dest=name)
    other = "json" if output == "table" else "table"
    p.add_argument("--format", choices=(output, other), default=output, help=f"output format (default {output})")


def add_runs_args(p: argparse.ArgumentParser) -> None:
    _add_ids(p)
    p.add_argument("--limit", type=int, default=None, help="at most N runs (newest first)")


def _ids(args: argparse.Namespace) -> tuple[str | None, str | None]:
    wf = _check_id(args.workflow_id, "workflow_id")
    src = _check_id(args.source_id, "source_id")
    if not wf and not src:
        raise PayloadError("needs --workflow-id or --source-id")
    return wf, src


def list_runs(reads: Any, workflow_id: str | None, source_id: str | None,
              limit: int | None = None) -> list[dict[str, Any]]:
    """Every run (any status), newest first, each with its current status and parsed summary."""
    runs = reads.select_runs(workflow_id, source_id, completed_only=False, latest_only=False)
    runs = runs[:limit] if limit else runs
    return [{k: v for k, v in {**r, "summary": parse_summary(r.get("summary"))}.items() if k != "id"}
            for r in runs]


def render_runs(runs: list[dict[str, Any]]) -> str:
    out = [text_table([run_row(r) for r in runs], ["run_id", "status", "started_at", "finished_at", "seconds",
                                                   "tables", "failed", "rows", "bytes", "error"])]
    if runs:
        out += ["", "Latest run:", render_summary(runs[0])]
    return "\n".join(out)


def cmd_runs(args: argparse.Namespace, env: Mapping[str, str], open_context: OpenContext) -> int:
    wf, src = _ids(args)
    runs = list_runs(open_context(None).reads, wf, src, args.limit)
    print(to_json(runs) if args.format == "json" else render_runs(runs))
    return EXIT_OK


def latest_tables(reads: Any, workflow_id: str | None, source_id: str | None) -> dict[str, Any]:
    """The tables of the latest completed run of each matching workflow/source, with row counts."""
    result = reads.query_metadata(workflow_id=workflow_id, source_id=source_id)
    runs = [{k: v for k, v in {**r, "summary": parse_summary(r.get("summary"))}.items() if k != "id"}
            for r in result["runs"]]
    return {"runs": runs, "tables": result["tables"]}


def render_latest_tables(result: dict[str, Any]) -> str:
    if not result["runs"]:
        return "(no completed run)"
    out = []
    for r in result["runs"]:
        out.append(f"Run {r['run_id']} ({r['status']}, finished {cell(r.get('finished_at'))}) "
                   f"workflow {r['workflow_id']} source {r.get('source_id')}")
    out += ["", render_tables(result["tables"])]
    total = sum(t.get("row_count") or 0 for t in result["tables"])
    out += ["", f"{len(result['tables'])} tables, {total:,} rows"]
    return "\n".join(out)


def cmd_tables(args: argparse.Namespace, env: Mapping[str, str], open_context: OpenContext) -> int:
    wf, src = _ids(args)
    result = latest_tables(open_context(None).reads, wf, src)
    print(to_json(result) if args.format == "json" else render_latest_tables(result))
    return EXIT_OK


# ---------------------------------------------------------------------- query / diff / migrate / serve

def render_metadata(result: dict[str, Any]) -> str:
    out = ["Runs:", text_table(result["runs"], ["run_id", "workflow_id", "source_id", "status", "started_at",
                                                "finished_at"])]
    out += ["", "Tables:", text_table(result["tables"], ["table_name", "file_type", "row_count", "column_count",
                                                        "size_bytes", "status", "error_message"])]
    by_table: dict[str, list[dict[str, Any]]] = {}
    for c in result["columns"]:
        by_table.setdefault(c["table_name"], []).append(c)
    for name, cols in by_table.items():
        out += ["", f"Columns of {name}:", text_table(cols, ["position", "column_name", "data_type", "is_nullable",
                                                              "sample_values"])]
    out += ["", "Run summary:", *(render_summary(r) for r in result["runs"])]
    return "\n".join(out)


def add_query_args(p: argparse.ArgumentParser) -> None:
    _add_ids(p, "run_id", output="json")


def cmd_query(args: argparse.Namespace, env: Mapping[str, str], open_context: OpenContext) -> int:
    wf = _check_id(args.workflow_id, "workflow_id")
    src = _check_id(args.source_id, "source_id")
    rid = _check_id(args.run_id, "run_id", RUN_ID_PATTERN, RUN_ID_RULE)
    if not wf and not src:
        raise PayloadError("query needs --workflow-id or --source-id")
    result = open_context(None).reads.query_metadata(workflow_id=wf, source_id=src, run_id=rid)
    for run in result["runs"]:  # stored as JSON text: shown as an object
        run["summary"] = parse_summary(run.get("summary"))
    print(to_json(result) if args.format == "json" else render_metadata(result))
    return EXIT_OK


def add_diff_args(p: argparse.ArgumentParser) -> None:
    _add_ids(p, "from_run", "to_run", output="json", workflow_required=True)


def cmd_diff(args: argparse.Namespace, env: Mapping[str, str], open_context: OpenContext) -> int:
    wf = _check_id(args.workflow_id, "workflow_id")
    src = _check_id(args.source_id, "source_id")
    r1 = _check_id(args.from_run, "from_run", RUN_ID_PATTERN, RUN_ID_RULE)
    r2 = _check_id(args.to_run, "to_run", RUN_ID_PATTERN, RUN_ID_RULE)
    if not wf:
        raise PayloadError("diff needs --workflow-id")
    if bool(r1) != bool(r2):
        raise PayloadError("diff needs both --from-run and --to-run, or neither")
    try:
        result = open_context(None).reads.schema_changes(wf, src, r1, r2)
    except QueryError as exc:
        raise PayloadError(str(exc)) from exc
    print(to_json(result) if args.format == "json" else render_diff(result))
    return EXIT_OK


def add_migrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backfill-workflow-id-from-source-id", dest="backfill", action="store_true",
                   help="set workflow_id = source_id on rows written by v1 (workflow_id NULL)")
    p.add_argument("--optimize", action="store_true",
                   help="apply the query layout: liquid clustering or Z-order by workflow_id, source_id")
    p.add_argument("--refresh", default=None, metavar="MODE",
                   help="full (default: read every file) or incremental (reuse the facts of the workflow's last "
                        "completed run for files unchanged since; payload refresh)")
    p.add_argument("--dry-run", action="store_true", help="print the statements, change nothing")


def cmd_migrate(args: argparse.Namespace, env: Mapping[str, str], open_context: OpenContext) -> int:
    context = open_context(None)
    statements = context.writer.migrate(backfill_workflow_id=args.backfill, optimize=args.optimize,
                                        dry_run=args.dry_run)
    prefix = "-- would run: " if args.dry_run else "-- ran: "
    for stmt in statements:
        print(prefix + stmt + ";")
    if not statements:
        print("-- nothing to do: the tables are up to date")
    print(("-- " if args.dry_run else "") + context.tables_line())
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, env: Mapping[str, str], open_context: OpenContext) -> int:
    from executor.api_server import serve  # FastAPI and uvicorn: the optional `api` extra

    return serve(args, env)


COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Command]] = [
    ("extract", "run the extraction (or --dry-run: plan it without Spark); prints a run summary",
     add_extract_args, cmd_extract),
    ("runs", "list a workflow's runs, newest first: status, times, summary", add_runs_args, cmd_runs),
    ("tables", "show the tables of a workflow's latest completed run, with row counts", _add_ids, cmd_tables),
    ("query", "print the metadata of a workflow's latest completed run (or of --run-id)", add_query_args, cmd_query),
    ("diff", "schema changes between a workflow's latest two completed runs (or --from-run/--to-run)",
     add_diff_args, cmd_diff),
    ("migrate", "upgrade the metadata tables in place (v1 -> v2), idempotent", add_migrate_args, cmd_migrate),
    ("serve", "run the REST API server (FastAPI + uvicorn); see docs/API.md", add_serve_args, cmd_serve),
]
