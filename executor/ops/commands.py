"""The operator commands of the `nuvyn-executor` console script: extract, runs, tables.

Registered in executor.cli (COMMANDS below). This module never imports executor.cli at import time.
runs and tables read through ExecutorContext.reads (executor.storage.queries): delta-rs locally, no JVM.

  nuvyn-executor extract <path> [--type T] [--workflow-id W] [--source-id S] [--include GLOB ...]
                 [--exclude GLOB ...] [--dry-run [--no-read-headers]] [--write-to-db] [--format table|json]
  nuvyn-executor runs   --workflow-id W [--source-id S] [--limit N] [--format table|json]
  nuvyn-executor tables --workflow-id W [--source-id S] [--format table|json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from executor.errors import PayloadError
from executor.ops.render import cell, parse_summary, text_table

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str, ensure_ascii=False)


def _patterns(values: list[str] | None) -> list[str]:
    """--include a --include 'b,c' -> [a, b, c]."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


# ---------------------------------------------------------------------- extract

def add_extract_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="data source path: local folder or file, dbfs:/..., Azure URL")
    p.add_argument("--type", "--data-source-type", dest="data_source_type", default=None,
                   help="auto (default), csv, tsv, parquet, json, avro, orc, delta, local, dbfs, azure_blob, adls_gen2")
    p.add_argument("--workflow-id", "--workflow_id", dest="workflow_id",
                   help="required unless --dry-run (or set in NUVYN_JOB_PAYLOAD / --payload)")
    p.add_argument("--source-id", "--source_id", dest="source_id")
    p.add_argument("--tenant-id", "--tenant_id", dest="tenant_id")
    p.add_argument("--run-id", "--run_id", dest="run_id")
    p.add_argument("--payload", default=None, help="job payload JSON (else NUVYN_JOB_PAYLOAD); flags win")
    p.add_argument("--include", action="append", metavar="GLOB",
                   help="only files whose relative path or name matches (repeatable, or comma-separated); "
                        "default NUVYN_INCLUDE")
    p.add_argument("--exclude", action="append", metavar="GLOB",
                   help="skip files whose relative path or name matches (repeatable); default NUVYN_EXCLUDE")
    p.add_argument("--csv-header", "--csv_header", dest="csv_header", choices=("auto", "true", "false"),
                   default=None, help="CSV/TSV header: auto (the header rule, default), true or false (payload csv_header)")
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
    p.add_argument("--log-level", default=os.environ.get("NUVYN_LOG_LEVEL", "INFO"))
    p.add_argument("--log-format", choices=("text", "json"), default=os.environ.get("NUVYN_LOG_FORMAT", "text"))


def build_extract_request(args: argparse.Namespace, env: Mapping[str, str] | None = None):
    """The same JobRequest executor.main builds: payload (--payload or NUVYN_JOB_PAYLOAD), then the
    NUVYN_INCLUDE / NUVYN_EXCLUDE defaults, then the flags."""
    from executor.main import apply_pattern_settings
    from executor.payload import PAYLOAD_ENV, build_request, parse_payload_json

    env = os.environ if env is None else env
    if args.payload is not None and args.payload.strip():
        payload = dict(parse_payload_json(args.payload, "--payload"))
    else:
        payload = dict(parse_payload_json(env.get(PAYLOAD_ENV), PAYLOAD_ENV))
    apply_pattern_settings(payload, env)
    meta = payload.get("job_metadata")
    for name in ("workflow_id", "source_id"):
        value = getattr(args, name)
        if value:  # the flag wins, even over job_metadata.<id>
            payload[name] = value
            if isinstance(meta, dict) and name in meta:
                payload["job_metadata"] = meta = {**meta, name: value}
    if args.include:
        payload["include"] = _patterns(args.include)
    if args.exclude:
        payload["exclude"] = _patterns(args.exclude)
    if args.csv_header is not None:
        payload["csv_header"] = args.csv_header
    if args.dry_run and not payload.get("workflow_id") and not (payload.get("job_metadata") or {}).get("workflow_id"):
        payload["workflow_id"] = "dry_run"  # nothing is written: the id only satisfies validation
    return build_request(payload, job_type="metadata_extraction", data_source_path=args.path,
                         data_source_type=args.data_source_type, tenant_id=args.tenant_id,
                         run_id=args.run_id, write_to_db=args.write_to_db)


def render_tables(tables: list[dict[str, Any]]) -> str:
    from executor.ops.progress import human_bytes

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


def cmd_extract(args: argparse.Namespace) -> int:
    from executor.logging_setup import configure_logging
    from executor.redaction import SECRETS

    configure_logging(args.log_level, args.log_format)
    request = build_extract_request(args)
    if args.dry_run:
        from executor.ops.dry_run import plan_extraction, render_dry_run

        report = plan_extraction(request.data_source_path, request.data_source_type, request.include,
                                 request.exclude, read_headers=args.read_headers,
                                 csv_header=request.csv_header)
        print(_json(report.to_dict()) if args.format == "json" else render_dry_run(report))
        return EXIT_OK

    from executor.cli import _context
    from executor.main import run_job, written
    from executor.ops.progress import make_progress
    from executor.ops.summary import render_summary

    progress = make_progress("log" if args.progress == "auto" and args.log_format == "json" else args.progress,
                             interval=args.progress_interval)
    context = _context()
    if progress is None:
        code, report = run_job(request, context)
    else:
        with progress:
            code, report = run_job(request, context, progress=progress)
    if args.format == "json":
        print(_json(report))
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

def _add_ids(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workflow-id", "--workflow_id", dest="workflow_id")
    p.add_argument("--source-id", "--source_id", dest="source_id")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")


def add_runs_args(p: argparse.ArgumentParser) -> None:
    _add_ids(p)
    p.add_argument("--limit", type=int, default=None, help="at most N runs (newest first)")


def _ids(args: argparse.Namespace) -> tuple[str | None, str | None]:
    from executor.cli import _check_id

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
    from executor.ops.summary import render_summary, run_row

    out = [text_table([run_row(r) for r in runs], ["run_id", "status", "started_at", "finished_at", "seconds",
                                                   "tables", "failed", "rows", "bytes", "error"])]
    if runs:
        out += ["", "Latest run:", render_summary(runs[0])]
    return "\n".join(out)


def cmd_runs(args: argparse.Namespace) -> int:
    from executor.cli import _context

    wf, src = _ids(args)
    runs = list_runs(_context().reads, wf, src, args.limit)
    print(_json(runs) if args.format == "json" else render_runs(runs))
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


def cmd_tables(args: argparse.Namespace) -> int:
    from executor.cli import _context

    wf, src = _ids(args)
    result = latest_tables(_context().reads, wf, src)
    print(_json(result) if args.format == "json" else render_latest_tables(result))
    return EXIT_OK


COMMANDS = [
    ("extract", "run the extraction (or --dry-run: plan it without Spark); prints a run summary",
     add_extract_args, cmd_extract),
    ("runs", "list a workflow's runs, newest first: status, times, summary", add_runs_args, cmd_runs),
    ("tables", "show the tables of a workflow's latest completed run, with row counts", _add_ids, cmd_tables),
]
