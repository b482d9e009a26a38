"""The `nuvyn-executor` console script: the one parser; each command's body is in executor.ops.commands.

  nuvyn-executor run ...                         same arguments as `python -m executor.main`
  nuvyn-executor extract <path> [--dry-run] ...  the job with friendly flags
  nuvyn-executor runs --workflow-id W            every run: status, times, summary
  nuvyn-executor tables --workflow-id W          the latest run's tables with row counts
  nuvyn-executor query --workflow-id W [--source-id S] [--run-id R] [--format json|table]
  nuvyn-executor diff --workflow-id W [--source-id S] [--from-run R1 --to-run R2] [--format json|table]
  nuvyn-executor migrate [--backfill-workflow-id-from-source-id] [--optimize] [--dry-run]
  nuvyn-executor serve [--host 127.0.0.1] [--port 8080] [--no-auth]   the REST API (docs/API.md)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from executor import main as job
from executor.context import ExecutorContext
from executor.errors import ExecutorError, PayloadError
from executor.logging_setup import configure_logging
from executor.ops.commands import COMMANDS, Command
from executor.payload import JobRequest
from executor.redaction import SECRETS
from executor.run import EXIT_BAD_INPUT, EXIT_FAILED
from executor.settings import load_secrets


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nuvyn-executor", description="Metadata extraction for data lakes.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run the job (same arguments as python -m executor.main)", add_help=False)
    for name, help_text, add_args, _run in sorted(COMMANDS, key=lambda c: c[0]):
        add_args(sub.add_parser(name, help=help_text))
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         context: ExecutorContext | None = None) -> int:
    """Run one command. `env` (default os.environ) and `context` (default: one built from `env`) are
    what tests inject."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    if argv and argv[0] == "run":
        return job.main(argv[1:], env, context)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_BAD_INPUT
    load_secrets(env)  # every secret setting known to the redactor before anything is logged
    configure_logging("WARNING")

    def open_context(request: JobRequest | None) -> ExecutorContext:
        return context if context is not None else ExecutorContext(env=env, request=request)

    commands: dict[str, Command] = {name: run for name, _help, _add, run in COMMANDS}
    try:
        return commands[args.command](args, env, open_context)
    except PayloadError as exc:
        print(f"error: {SECRETS.redact(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ExecutorError as exc:
        print(f"error: {SECRETS.redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
