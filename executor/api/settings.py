"""Typed settings of the API server, read from the environment once, at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from executor.errors import SettingsError
from executor.settings import Settings

_TRUE = {"1", "true", "yes", "on"}

# field name -> environment variable
ENV_NAMES = {
    "token": "NUVYN_API_TOKEN",
    "allow_no_auth": "NUVYN_API_ALLOW_NO_AUTH",
    "launcher": "NUVYN_API_LAUNCHER",
    "jobs_db": "NUVYN_API_JOBS_DB",
    "max_concurrent_jobs": "NUVYN_API_MAX_CONCURRENT_JOBS",
    "max_body_bytes": "NUVYN_API_MAX_BODY_BYTES",
    "payload_transport": "NUVYN_API_PAYLOAD_TRANSPORT",
    "python_executable": "NUVYN_API_PYTHON",
    "databricks_job_id": "NUVYN_DATABRICKS_JOB_ID",
    "databricks_host": "DATABRICKS_HOST",
    "databricks_token": "DATABRICKS_TOKEN",
    "poll_seconds": "NUVYN_API_POLL_SECONDS",
    "source_roots": "NUVYN_API_SOURCE_ROOTS",
    "job_timeout_s": "NUVYN_API_JOB_TIMEOUT_S",
    "max_queued_jobs": "NUVYN_API_MAX_QUEUED_JOBS",
    "job_log_retention_days": "NUVYN_API_JOB_LOG_RETENTION_DAYS",
    "header_timeout_s": "NUVYN_API_HEADER_TIMEOUT_S",
    "keep_alive_s": "NUVYN_API_KEEP_ALIVE_S",
    "limit_concurrency": "NUVYN_API_LIMIT_CONCURRENCY",
}
MIN_TOKEN_CHARS = 16


class ApiSettings(BaseModel):
    """Settings of `nuvyn-executor serve`. Each field comes from the environment variable in ENV_NAMES."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str | None = Field(default=None, repr=False, description=(
        "Bearer token clients must send (Authorization: Bearer <token>). NUVYN_API_TOKEN."))
    allow_no_auth: bool = Field(default=False, description=(
        "Run without authentication (explicit opt-in, logged as a warning). NUVYN_API_ALLOW_NO_AUTH=1 "
        "or `serve --no-auth`."))
    launcher: Literal["local", "databricks"] = Field(default="local", description=(
        "How jobs run: 'local' starts `python -m executor.main` as a child process; 'databricks' calls "
        "the Jobs API run_now on NUVYN_DATABRICKS_JOB_ID. NUVYN_API_LAUNCHER."))
    jobs_db: str = Field(description=(
        "SQLite file that records the jobs (default <NUVYN_WAREHOUSE_DIR>/_api/jobs.sqlite3). NUVYN_API_JOBS_DB."))
    max_concurrent_jobs: int = Field(default=2, ge=1, le=64, description=(
        "Local launcher: child processes running at once; more jobs wait in a queue (status 'created'). "
        "NUVYN_API_MAX_CONCURRENT_JOBS."))
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description=(
        "Largest accepted request body in bytes; larger ones get 413. NUVYN_API_MAX_BODY_BYTES."))
    payload_transport: Literal["env"] = Field(default="env", description=(
        "Local launcher: the payload reaches the child in the NUVYN_JOB_PAYLOAD environment variable "
        "(readable only by the same user), never on the command line. NUVYN_API_PAYLOAD_TRANSPORT."))
    python_executable: str | None = Field(default=None, description=(
        "Local launcher: Python interpreter of the child process (default: the server's). NUVYN_API_PYTHON."))
    databricks_job_id: int | None = Field(default=None, description=(
        "Databricks launcher: id of the deployed executor job to run_now. NUVYN_DATABRICKS_JOB_ID."))
    databricks_host: str | None = Field(default=None, description=(
        "Databricks launcher: workspace URL (else the SDK's own configuration). DATABRICKS_HOST."))
    databricks_token: str | None = Field(default=None, repr=False, description=(
        "Databricks launcher: personal access token (else the SDK's own auth). DATABRICKS_TOKEN."))
    poll_seconds: float = Field(default=10.0, gt=0, description=(
        "Databricks launcher: seconds between jobs.get_run polls of active runs. NUVYN_API_POLL_SECONDS."))
    source_roots: str | None = Field(default=None, description=(
        "Comma-separated sources the API accepts: absolute local folders, dbfs:/ prefixes, Azure "
        "<account>/<container>[/<prefix>]. Paths are resolved (realpath) before the check; anything outside "
        "gets 403. Unset: local and DBFS paths are refused, Azure paths allowed. NUVYN_API_SOURCE_ROOTS."))
    job_timeout_s: float = Field(default=6 * 3600, gt=0, description=(
        "A job running longer is stopped (local: its process group is terminated; Databricks: cancel_run) "
        "and ends 'failed'. NUVYN_API_JOB_TIMEOUT_S."))
    max_queued_jobs: int = Field(default=100, ge=1, description=(
        "Jobs waiting to start (status 'created') at most; one more gets 429 with Retry-After. "
        "NUVYN_API_MAX_QUEUED_JOBS."))
    job_log_retention_days: float = Field(default=7.0, gt=0, description=(
        "Local launcher: stdout/stderr files of finished jobs older than this are deleted (at start and "
        "after each job). NUVYN_API_JOB_LOG_RETENTION_DAYS."))
    header_timeout_s: float = Field(default=10.0, gt=0, description=(
        "A connection that has not sent complete request headers within this many seconds is closed. "
        "NUVYN_API_HEADER_TIMEOUT_S."))
    keep_alive_s: int = Field(default=5, ge=1, description=(
        "Idle keep-alive connections are closed after this many seconds. NUVYN_API_KEEP_ALIVE_S."))
    limit_concurrency: int = Field(default=200, ge=1, description=(
        "Open connections (and tasks) at most; beyond, the server answers 503 at once. "
        "NUVYN_API_LIMIT_CONCURRENCY."))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> ApiSettings:
        env = os.environ if env is None else env
        values: dict = {}
        for name, var in ENV_NAMES.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            values[name] = (raw.strip().lower() in _TRUE) if name == "allow_no_auth" else raw
        if "jobs_db" not in values:
            warehouse = Settings.from_env(env).warehouse_dir
            values["jobs_db"] = str(Path(warehouse) / "_api" / "jobs.sqlite3")
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            settings = cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first.get("loc") else "?"
            raise SettingsError(f"{ENV_NAMES.get(name, name)}: {first['msg']}") from None
        settings.check()
        return settings

    def check(self) -> None:
        if not self.token and not self.allow_no_auth:
            raise SettingsError(
                "NUVYN_API_TOKEN is not set: set it, or opt in to running without authentication with "
                "NUVYN_API_ALLOW_NO_AUTH=1 (or `serve --no-auth`)")
        if self.token is not None and len(self.token.strip()) < MIN_TOKEN_CHARS:
            raise SettingsError(f"NUVYN_API_TOKEN must be at least {MIN_TOKEN_CHARS} non-blank characters "
                                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
        if self.token is not None and self.token != self.token.strip():
            raise SettingsError("NUVYN_API_TOKEN must not start or end with whitespace")
        if self.launcher == "databricks" and self.databricks_job_id is None:
            raise SettingsError("NUVYN_API_LAUNCHER=databricks needs NUVYN_DATABRICKS_JOB_ID")

    @classmethod
    def describe(cls) -> list[tuple[str, str]]:
        return [(ENV_NAMES[n], f.description or "") for n, f in cls.model_fields.items()]
