"""The REST API server (the contract's executor/api_server.py).

  nuvyn-executor serve --host 127.0.0.1 --port 8080 [--no-auth]
  python -m executor.api_server --host 127.0.0.1 --port 8080

POST /jobs/create, GET /jobs/{job_id}, GET /workflows/{workflow_id}/metadata, GET /health, /docs.
Settings come from the environment (executor.settings.ApiSettings); see docs/API.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from executor.api.app import create_app
from executor.api.cli_args import add_serve_args
from executor.api.launchers import DatabricksLauncher, LocalLauncher, databricks_client_factory
from executor.api.ports import JobRepository, Launcher, MetadataReader
from executor.api.reads import ReadPool
from executor.api.service import JobService, default_metadata_reader
from executor.api.sources import SourceGate
from executor.api.store import JobStore
from executor.errors import ExecutorError, SettingsError
from executor.logging_setup import configure_logging, log_options
from executor.redaction import SECRETS
from executor.run import EXIT_BAD_INPUT, EXIT_OK
from executor.settings import ApiSettings, FileModeSettings, ReadPoolSettings, Settings, load_secrets
from executor.sources.policy import SourceNotAllowed

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

logger = logging.getLogger(__name__)


def build_launcher(settings: ApiSettings, store: JobRepository, env: Mapping[str, str]) -> Launcher:
    if settings.launcher == "databricks":
        return DatabricksLauncher(
            store, job_id=int(settings.databricks_job_id or 0),
            client_factory=databricks_client_factory(settings.databricks_host, settings.databricks_token),
            poll_seconds=settings.poll_seconds, timeout_s=settings.job_timeout_s)
    return LocalLauncher(store, max_concurrent=settings.max_concurrent_jobs, python=settings.python_executable,
                         logs_dir=Path(settings.jobs_db).parent / "job_logs", env=env,
                         payload_transport=settings.payload_transport, timeout_s=settings.job_timeout_s,
                         log_retention_s=settings.job_log_retention_days * 86400,
                         source_roots=settings.source_roots)


def build_app(settings: ApiSettings | None = None, env: Mapping[str, str] | None = None, *,
              launcher: Launcher | None = None, metadata_reader: MetadataReader | None = None) -> FastAPI:
    """Wire the app. Tests inject a launcher and/or a metadata reader."""
    env = os.environ if env is None else env
    settings = settings or ApiSettings.from_env(env)
    load_secrets(env)  # the environment's secrets known to the redactor (settings' own Secrets are already)
    try:
        gate = SourceGate(settings.source_roots, Settings.from_env(env))
    except SourceNotAllowed as exc:
        raise SettingsError(str(exc)) from None
    store = JobStore(settings.jobs_db)
    launcher = launcher or build_launcher(settings, store, env)
    service = JobService(store, launcher, metadata_reader or default_metadata_reader(env), source_check=gate,
                         max_queued=settings.max_queued_jobs)
    return create_app(settings, service, read_pool=ReadPool(ReadPoolSettings.from_env(env)))


def uvicorn_config(app: FastAPI, settings: ApiSettings, host: str, port: int, log_level: str) -> uvicorn.Config:
    """Timeouts and limits that keep slow or idle clients from holding the server, and proxy headers
    believed only from NUVYN_API_TRUSTED_PROXIES (docs/API.md)."""
    import uvicorn

    from executor.api.http_protocol import MAX_HEAD_BYTES, hardened_protocol

    proxies = settings.proxy_networks()
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level.lower(), access_log=True, log_config=None,
        # no uvicorn limit_concurrency (it counts idle sockets and refuses /health too): the app's
        # ConcurrencyLimitMiddleware applies NUVYN_API_LIMIT_CONCURRENCY to authenticated requests
        http=hardened_protocol(settings.header_timeout_s, settings.body_timeout_s),
        timeout_keep_alive=settings.keep_alive_s, timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        # uvicorn's default believes X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS): only configured proxies
        proxy_headers=bool(proxies), forwarded_allow_ips=proxies)


def route_uvicorn_logs() -> None:
    """uvicorn.error and uvicorn.access write through the executor's handler (secrets redacted)."""
    handlers = logging.getLogger("executor").handlers
    uv = logging.getLogger("uvicorn")
    uv.handlers[:] = list(handlers)
    uv.propagate = False


def server_settings(args: argparse.Namespace, env: Mapping[str, str]) -> ApiSettings:
    """ApiSettings from the environment and `serve`'s flags (--no-auth drops the token; without a token
    the Host header may name only loopback or --host). Raises ExecutorError for a bad setting."""
    settings = ApiSettings.from_env(env, allow_no_auth=True if args.no_auth else None)
    if args.no_auth and settings.token:
        settings = replace(settings, token=None)
    if settings.token is None and settings.allowed_hosts is None:  # no token: Host names loopback or --host only
        settings = replace(settings, allowed_hosts=",".join(sorted(settings.host_names(args.host) or ("*",))))
    return settings


def serve(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    import uvicorn

    env = os.environ if env is None else env
    load_secrets(env)  # every secret setting known to the redactor before anything is logged
    try:  # the jobs db, job logs and the jobs' own files: this user's only (NUVYN_LOCAL_UMASK)
        os.umask(FileModeSettings.from_env(env).mask)
        log_level = log_options(args.log_level, None, env)[0]
        configure_logging(log_level)
        route_uvicorn_logs()
        settings = server_settings(args, env)
        app = build_app(settings, env)
    except ExecutorError as exc:  # e.g. NUVYN_API_SOURCE_ROOTS, NUVYN_API_READ_* or NUVYN_READ_BACKEND invalid
        print(f"error: {SECRETS.redact(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not settings.source_roots:
        logger.warning("NUVYN_API_SOURCE_ROOTS is not set: local and DBFS paths are refused (403); set it to the "
                       "folders, dbfs:/ prefixes and <account>/<container> the API may read")
    logger.info("serving on http://%s:%s (launcher %s, jobs db %s)", args.host, args.port, settings.launcher,
                settings.jobs_db)
    # log_config=None: uvicorn's loggers (uvicorn.error, uvicorn.access) go through the handlers
    # configure_logging installed, whose filter redacts every secret; the access log is on.
    uvicorn.Server(uvicorn_config(app, settings, args.host, args.port, log_level)).run()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m executor.api_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_serve_args(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
