"""The REST API server (the contract's executor/api_server.py).

  nuvyn-executor serve --host 127.0.0.1 --port 8080 [--no-auth]
  python -m executor.api_server --host 127.0.0.1 --port 8080

POST /jobs/create, GET /jobs/{job_id}, GET /workflows/{workflow_id}/metadata, GET /health, /docs.
Settings come from the environment (executor.api.settings.ApiSettings); see docs/API.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from executor.api.app import create_app
from executor.api.cli_args import add_serve_args
from executor.api.launchers import DatabricksLauncher, LocalLauncher, databricks_client_factory
from executor.api.reads import ReadPool, ReadPoolSettings
from executor.api.service import JobService, MetadataReader, default_metadata_reader
from executor.api.settings import ApiSettings
from executor.api.store import JobStore
from executor.errors import ExecutorError
from executor.redaction import SECRETS

logger = logging.getLogger(__name__)


def build_launcher(settings: ApiSettings, store: JobStore, env: Mapping[str, str]) -> Any:
    if settings.launcher == "databricks":
        return DatabricksLauncher(
            store, job_id=int(settings.databricks_job_id or 0),
            client_factory=databricks_client_factory(settings.databricks_host, settings.databricks_token),
            poll_seconds=settings.poll_seconds)
    return LocalLauncher(store, max_concurrent=settings.max_concurrent_jobs, python=settings.python_executable,
                         logs_dir=Path(settings.jobs_db).parent / "job_logs", env=env,
                         payload_transport=settings.payload_transport)


def build_app(settings: ApiSettings | None = None, env: Mapping[str, str] | None = None, *,
              launcher: Any = None, metadata_reader: MetadataReader | None = None):
    """Wire the app. Tests inject a launcher and/or a metadata reader."""
    env = os.environ if env is None else env
    settings = settings or ApiSettings.from_env(env)
    SECRETS.add(settings.token, settings.databricks_token)
    store = JobStore(settings.jobs_db)
    launcher = launcher or build_launcher(settings, store, env)
    service = JobService(store, launcher, metadata_reader or default_metadata_reader(env))
    return create_app(settings, service, read_pool=ReadPool(ReadPoolSettings.from_env(env)))


def serve(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    import uvicorn

    from executor.logging_setup import configure_logging

    configure_logging(args.log_level)
    env = os.environ if env is None else env
    try:
        settings = ApiSettings.from_env(env, allow_no_auth=True if args.no_auth else None)
    except ExecutorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.no_auth and settings.token:
        settings = settings.model_copy(update={"token": None})
    try:
        app = build_app(settings, env)
    except ExecutorError as exc:  # e.g. NUVYN_API_READ_* or NUVYN_READ_BACKEND invalid
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logger.info("serving on http://%s:%s (launcher %s, jobs db %s)", args.host, args.port, settings.launcher,
                settings.jobs_db)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower(), access_log=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m executor.api_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_serve_args(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
