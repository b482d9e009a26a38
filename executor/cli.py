"""The `nuvyn-executor` console script: a thin face over the same pieces as executor.main.

  nuvyn-executor run ...                         same arguments as `python -m executor.main`
  nuvyn-executor extract <path> [--dry-run] ...  the job with friendly flags (executor.ops.commands)
  nuvyn-executor runs --workflow-id W            every run: status, times, summary
  nuvyn-executor tables --workflow-id W          the latest run's tables with row counts
  nuvyn-executor query --workflow-id W [--source-id S] [--run-id R] [--format json|table]
  nuvyn-executor diff --workflow-id W [--source-id S] [--from-run R1 --to-run R2] [--format json|table]
  nuvyn-executor migrate [--backfill-workflow-id-from-source-id] [--optimize] [--dry-run]
  nuvyn-executor serve [--host 127.0.0.1] [--port 8080] [--no-auth]   the REST API (docs/API.md)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from executor.api.cli_args import add_serve_args
from executor.errors import ExecutorError, PayloadError
from executor.payload import ID_PATTERN, ID_RULE, RUN_ID_PATTERN

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Command, str]] = {}


def command(name: str, help_text: str):
    """Register a sub-command: a function that adds its arguments, and one that runs it."""

    def wrap(add_args: Callable[[argparse.ArgumentParser], None]):
        def register(run: Command) -> Command:
            _COMMANDS[name] = (add_args, run, help_text)
            return run

        return register

    return wrap


def _check_id(value: str | None, name: str, pattern=ID_PATTERN, rule: str = ID_RULE) -> str | None:
    if value is None or value == "":
        return None
    if not pattern.match(value):
        raise PayloadError(f"{name} {value[:40]!r} is invalid: expected {rule}")
    return value


def _context():
    from executor.context import ExecutorContext

    return ExecutorContext()


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str, ensure_ascii=False)


def _table(rows: list[dict[str, Any]], columns: list[str], max_width: int = 60) -> str:
    """A plain text table (no escape codes): executor.ops.render.text_table."""
    from executor.ops.render import text_table

    return text_table(rows, columns, max_width)


def render_metadata(result: dict[str, Any]) -> str:
    out = ["Runs:", _table(result["runs"], ["run_id", "workflow_id", "source_id", "status", "started_at", "finished_at"])]
    out += ["", "Tables:", _table(result["tables"], ["table_name", "file_type", "row_count", "column_count",
                                                    "size_bytes", "status", "error_message"])]
    by_table: dict[str, list[dict[str, Any]]] = {}
    for c in result["columns"]:
        by_table.setdefault(c["table_name"], []).append(c)
    for name, cols in by_table.items():
        out += ["", f"Columns of {name}:", _table(cols, ["position", "column_name", "data_type", "is_nullable",
                                                          "sample_values"])]
    from executor.ops.summary import render_summary

    out += ["", "Run summary:", *(render_summary(r) for r in result["runs"])]
    return "\n".join(out)


def _add_query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workflow-id", "--workflow_id", dest="workflow_id")
    p.add_argument("--source-id", "--source_id", dest="source_id")
    p.add_argument("--run-id", "--run_id", dest="run_id")
    p.add_argument("--format", choices=("json", "table"), default="json")


@command("query", "print the metadata of a workflow's latest completed run (or of --run-id)")(_add_query_args)
def cmd_query(args: argparse.Namespace) -> int:
    wf = _check_id(args.workflow_id, "workflow_id")
    src = _check_id(args.source_id, "source_id")
    rid = _check_id(args.run_id, "run_id", RUN_ID_PATTERN, "letters, digits and . _ : -")
    if not wf and not src:
        raise PayloadError("query needs --workflow-id or --source-id")
    result = _context().reads.query_metadata(workflow_id=wf, source_id=src, run_id=rid)
    from executor.ops.render import parse_summary

    for run in result["runs"]:  # stored as JSON text: shown as an object
        run["summary"] = parse_summary(run.get("summary"))
    print(_json(result) if args.format == "json" else render_metadata(result))
    return EXIT_OK


def _add_diff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workflow-id", "--workflow_id", dest="workflow_id", required=True)
    p.add_argument("--source-id", "--source_id", dest="source_id")
    p.add_argument("--from-run", "--from_run", dest="from_run")
    p.add_argument("--to-run", "--to_run", dest="to_run")
    p.add_argument("--format", choices=("json", "table"), default="json")


@command("diff", "schema changes between a workflow's latest two completed runs (or --from-run/--to-run)")(
    _add_diff_args)
def cmd_diff(args: argparse.Namespace) -> int:
    wf = _check_id(args.workflow_id, "workflow_id")
    src = _check_id(args.source_id, "source_id")
    rule = "letters, digits and . _ : -"
    r1 = _check_id(args.from_run, "from_run", RUN_ID_PATTERN, rule)
    r2 = _check_id(args.to_run, "to_run", RUN_ID_PATTERN, rule)
    if not wf:
        raise PayloadError("diff needs --workflow-id")
    if bool(r1) != bool(r2):
        raise PayloadError("diff needs both --from-run and --to-run, or neither")
    from executor.errors import QueryError

    try:
        result = _context().reads.schema_changes(wf, src, r1, r2)
    except QueryError as exc:
        raise PayloadError(str(exc)) from exc
    if args.format == "json":
        print(_json(result))
    else:
        from executor.metadata.drift import render_diff

        print(render_diff(result))
    return EXIT_OK


@command("serve", "run the REST API server (FastAPI + uvicorn); see docs/API.md")(add_serve_args)
def cmd_serve(args: argparse.Namespace) -> int:
    from executor.api_server import serve

    return serve(args)


def _add_migrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backfill-workflow-id-from-source-id", dest="backfill", action="store_true",
                   help="set workflow_id = source_id on rows written by v1 (workflow_id NULL)")
    p.add_argument("--optimize", action="store_true",
                   help="apply the query layout: liquid clustering or Z-order by workflow_id, source_id")
    p.add_argument("--dry-run", action="store_true", help="print the statements, change nothing")


@command("migrate", "upgrade the metadata tables in place (v1 -> v2), idempotent")(_add_migrate_args)
def cmd_migrate(args: argparse.Namespace) -> int:
    context = _context()
    statements = context.writer.migrate(backfill_workflow_id=args.backfill, optimize=args.optimize,
                                        dry_run=args.dry_run)
    prefix = "-- would run: " if args.dry_run else "-- ran: "
    for stmt in statements:
        print(prefix + stmt + ";")
    if not statements:
        print("-- nothing to do: the tables are up to date")
    print(("-- " if args.dry_run else "") + context.tables_line())
    return EXIT_OK


from executor.ops.commands import COMMANDS as _OPS_COMMANDS  # noqa: E402 - extract, runs, tables

for _name, _help, _add, _run in _OPS_COMMANDS:
    command(_name, _help)(_add)(_run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nuvyn-executor", description="Metadata extraction for data lakes.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run the job (same arguments as python -m executor.main)", add_help=False)
    for name, (add_args, _run, help_text) in sorted(_COMMANDS.items()):
        add_args(sub.add_parser(name, help=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        from executor.main import main as run_main

        return run_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_BAD_INPUT
    from executor.logging_setup import configure_logging

    configure_logging("WARNING")
    try:
        return _COMMANDS[args.command][1](args)
    except PayloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ExecutorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
