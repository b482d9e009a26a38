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
}


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
    payload_transport: Literal["argument", "env"] = Field(default="argument", description=(
        "Local launcher: pass the payload as `--payload <json>` (the Databricks job form) or in the "
        "NUVYN_JOB_PAYLOAD environment variable. NUVYN_API_PAYLOAD_TRANSPORT."))
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
        if self.token is not None and len(self.token) < 8:
            raise SettingsError("NUVYN_API_TOKEN must be at least 8 characters")
        if self.launcher == "databricks" and self.databricks_job_id is None:
            raise SettingsError("NUVYN_API_LAUNCHER=databricks needs NUVYN_DATABRICKS_JOB_ID")

    @classmethod
    def describe(cls) -> list[tuple[str, str]]:
        return [(ENV_NAMES[n], f.description or "") for n, f in cls.model_fields.items()]
