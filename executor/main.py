"""Entry point of the Databricks job (and of local runs).

Forms:
  python -m executor.main metadata_extraction <data_source_path> <data_source_type> <tenant_id> --write-to-db
      with NUVYN_JOB_PAYLOAD supplying workflow_id / source_id (the v2 contract's form)
  python -m executor.main --payload '<json>' [--key=value ...] [--run-id R] --write-to-db
      the Databricks job form: the per-run `payload` job parameter wins over the env var
Named parameters --workflow_id=..., --source_id=..., --data_source_path=..., --data_source_type=...,
--tenant_id=..., --job_type=..., --include=..., --exclude=..., --csv_header=..., --format_option=FORMAT.OPTION=VALUE
(repeatable: --format_option=xml.rowTag=record) and the positional
arguments are explicit values: they win over the payload, job_metadata included (executor.payload,
the one precedence rule; README "Where each request field comes from").
Settings parameters --metadata-catalog=..., --metadata-schema=..., --tables-location=...,
--azure-sp-secret-scope=..., --azure-uc-credentials=..., --run-timeout-s=... (and --log-format,
--log-level) set the setting of the same name: a non-empty parameter wins over its environment
variable, which wins over the default; an empty one (a bundle variable left empty) is ignored. Serverless tasks have no
environment variables, so the bundle passes every setting this way.
--result-file PATH: write the outcome there as JSON at the end (executor.job_result; the API's
local launcher reads it).

Exit codes: 0 succeeded or partial (some tables failed), 1 failed, 2 bad input (nothing written).
"""

from __future__ import annotations

import sys

if not __package__:  # run as a script (`python3 executor/main.py ...`, the seed's form)
    import pathlib

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from executor.context import ExecutorContext
from executor.errors import ExecutorError, PayloadError, SettingsError
from executor.formats import FORMATS
from executor.job_result import JobResult, write_result
from executor.logging_setup import configure_logging, log_options
from executor.metadata.model import RUN_FAILED
from executor.ops.progress import LogProgress
from executor.payload import (
    PAYLOAD_ENV,
    VALID_DATA_SOURCE_TYPES,
    JobRequest,
    build_request,
    is_given,
    parse_payload_json,
    resolve_source_id,
    resolve_workflow_id,
    select_payload,
)
from executor.redaction import SECRETS
from executor.run import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, run_job, written
from executor.settings import LOG_LEVELS, JobInputSettings, load_secrets

NAMED_FIELDS = ("workflow_id", "source_id", "data_source_path", "data_source_type", "tenant_id", "job_type",
                "include", "exclude", "csv_header")
FORMAT_OPTION_HELP = ("FORMAT.OPTION=VALUE (repeatable; payload format_options): "
                      + "; ".join(f"{f.name}.{o.name}: {o.rule()}" for f in FORMATS for o in f.options))
POSITIONAL_FIELDS = ("job_type", "data_source_path", "data_source_type", "tenant_id")

# Job parameters that set a setting (executor.settings): parameter name -> environment variable.
SETTING_PARAMETERS = {
    "metadata_catalog": "NUVYN_METADATA_CATALOG",
    "metadata_schema": "NUVYN_METADATA_SCHEMA",
    "tables_location": "NUVYN_TABLES_LOCATION",
    "azure_sp_secret_scope": "NUVYN_AZURE_SP_SECRET_SCOPE",
    "azure_uc_credentials": "NUVYN_AZURE_UC_CREDENTIALS",
    "run_timeout_s": "NUVYN_RUN_TIMEOUT_S",
}


def get_workflow_id_from_environment(env: Mapping[str, str] | None = None) -> str | None:
    """Extract workflow_id from NUVYN_JOB_PAYLOAD environment variable."""
    env = os.environ if env is None else env
    return resolve_workflow_id(parse_payload_json(JobInputSettings.from_env(env).payload, PAYLOAD_ENV))


def get_source_id_from_environment(env: Mapping[str, str] | None = None) -> str | None:
    """Extract source_id from NUVYN_JOB_PAYLOAD environment variable."""
    env = os.environ if env is None else env
    return resolve_source_id(parse_payload_json(JobInputSettings.from_env(env).payload, PAYLOAD_ENV))


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 itself; we raise to keep one path
        raise PayloadError(f"{message} (see --help)")


def argument_parser() -> argparse.ArgumentParser:
    p = _ArgumentParser(prog="python -m executor.main", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job_type", nargs="?", help="metadata_extraction")
    p.add_argument("data_source_path", nargs="?", help="local path, dbfs:/..., Azure URL")
    p.add_argument("data_source_type", nargs="?", help=", ".join(VALID_DATA_SOURCE_TYPES))
    p.add_argument("tenant_id", nargs="?", help="tenant identifier (recorded, optional)")
    p.add_argument("--payload", default=None, help=f"job payload JSON; wins over {PAYLOAD_ENV}")
    p.add_argument("--run-id", "--run_id", dest="run_id", default=None, help="run id ({{job.run_id}} on Databricks)")
    p.add_argument("--write-to-db", "--write_to_db", dest="write_to_db", action="store_true",
                   help="append the metadata to the Delta tables (otherwise print it as JSON)")
    p.add_argument("--result-file", default=None, metavar="PATH",
                   help="write the outcome (exit code, status, summary, error) there as JSON at the end")
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=None,
                   help="default NUVYN_LOG_LEVEL, else INFO")
    p.add_argument("--log-format", choices=("text", "json"), default=None, help="default NUVYN_LOG_FORMAT, else text")
    for name in NAMED_FIELDS:
        p.add_argument(f"--{name}", f"--{name.replace('_', '-')}", dest=f"named_{name}", default=None,
                       help=argparse.SUPPRESS)
    p.add_argument("--format-option", "--format_option", dest="named_format_options", action="append",
                   default=None, metavar="FORMAT.OPTION=VALUE", help=FORMAT_OPTION_HELP)
    for name, var in SETTING_PARAMETERS.items():
        p.add_argument(f"--{name.replace('_', '-')}", f"--{name}", dest=f"setting_{name}", default=None,
                       metavar="VALUE", help=f"sets {var} (wins over the variable when non-empty)")
    return p


def settings_env(argv: Sequence[str], env: Mapping[str, str]) -> Mapping[str, str]:
    """The environment the run's settings are read from: `env` with each non-empty settings
    parameter (SETTING_PARAMETERS) in place of its variable. Precedence: parameter, then
    environment variable, then the setting's default. Raises PayloadError for bad arguments."""
    args = argument_parser().parse_known_args(list(argv))[0]
    given = {var: value.strip() for name, var in SETTING_PARAMETERS.items()
             if (value := getattr(args, f"setting_{name}")) is not None and value.strip()}
    return {**env, **given} if given else env


def explicit_values(args: argparse.Namespace) -> dict[str, object]:
    """The explicit values of one job invocation: named parameters, positional arguments and --run-id.
    A field given both by name and by position must be given the same value."""
    values: dict[str, object] = {}
    for name in NAMED_FIELDS + ("format_options",):
        if is_given(value := getattr(args, f"named_{name}")):
            values[name] = value
    for name in POSITIONAL_FIELDS:
        value = getattr(args, name)
        if not is_given(value):
            continue
        if name in values and str(values[name]).strip() != value.strip():
            raise PayloadError(f"{name} is given twice with different values (as an argument and as --{name}=); "
                               "give it once")
        values[name] = value
    if is_given(args.run_id):
        values["run_id"] = args.run_id
    return values


def resolve_request(argv: Sequence[str], env: Mapping[str, str]) -> JobRequest:
    """Arguments + payload (parameter or env var) + environment defaults -> JobRequest, by the one
    precedence rule (executor.payload.build_request). Raises PayloadError or SettingsError."""
    args = argument_parser().parse_args(list(argv))
    inputs = JobInputSettings.from_env(env)
    payload = select_payload(args.payload, inputs)
    return build_request(payload, explicit_values(args), inputs=inputs, write_to_db=args.write_to_db)


def _configure_logging(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """--log-level / --log-format, else the variables, else the defaults (bad values: reported later)."""
    try:
        pre = argument_parser().parse_known_args(list(argv))[0]
        configure_logging(*log_options(pre.log_level, pre.log_format, env))
    except (PayloadError, SettingsError):
        configure_logging()


def _run(argv: Sequence[str], env: Mapping[str, str],
         context: ExecutorContext | None) -> tuple[int, dict[str, Any] | None, str | None]:
    """(exit code, report or None, error text or None); the error is printed to stderr here."""
    try:
        env = settings_env(argv, env)
        log_options(None, None, env)  # a bad NUVYN_LOG_* is bad input too
        request = resolve_request(argv, env)
        if context is None:
            context = ExecutorContext(env=env, request=request)
        context.settings  # noqa: B018 - a bad setting (parameter or variable) is bad input, before the run
        code, report = run_job(request, context, progress=LogProgress())
    except (PayloadError, SettingsError) as exc:  # printed once, here (not also logged)
        return EXIT_BAD_INPUT, None, _print_error(exc)
    except ExecutorError as exc:  # e.g. NUVYN_TABLES_LOCATION refused before the run could start
        return EXIT_FAILED, None, _print_error(exc)
    print(json.dumps(report, indent=2, default=str, ensure_ascii=False), flush=True)
    if request.write_to_db and written(report):
        print(context.tables_line(), file=sys.stderr)
    return code, report, None


def _print_error(exc: BaseException) -> str:
    text = SECRETS.redact(str(exc))
    print(f"error: {text}", file=sys.stderr)
    return text


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         context: ExecutorContext | None = None) -> int:
    """argv and environment -> JobRequest -> run -> exit code (the report printed as JSON on stdout,
    and written to --result-file when given)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    env = os.environ if env is None else env
    load_secrets(env)  # every secret setting known to the redactor before anything is logged
    _configure_logging(argv, env)
    code, report, error = _run(argv, env, context)
    result_file = _result_file(argv)
    if result_file:
        report = report or {}
        write_result(result_file, JobResult(
            exit_code=code, status=str(report.get("status") or RUN_FAILED), run_id=report.get("run_id"),
            summary=report.get("summary"), error_message=error or report.get("error_message")))
    return code


def _result_file(argv: Sequence[str]) -> str | None:
    try:
        path = argument_parser().parse_known_args(list(argv))[0].result_file
    except PayloadError:
        return None
    return str(path) if path else None


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
