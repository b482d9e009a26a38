"""Request and response models of the REST API: they are the OpenAPI schema at /docs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from executor.api.statuses import JobStatus
from executor.formats import FORMATS
from executor.payload import ID_RULE, JOB_TYPES, VALID_DATA_SOURCE_TYPES


class CreateJobRequest(BaseModel):
    """Body of POST /jobs/create (the v2 contract). Unknown extra fields are ignored."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{
            "job_type": "metadata_extraction",
            "data_source_path": "https://storageaccount.blob.core.windows.net/container/path",
            "workflow_id": "workflow_abc123",
            "source_id": "source_xyz789",
            "data_source_type": "azure_blob",
            "tenant_id": "default",
            "job_metadata": {"workflow_id": "workflow_abc123", "source_id": "source_xyz789"},
        }]},
    )

    job_type: str = Field(description=f"Type of job. One of: {', '.join(JOB_TYPES)}.", max_length=64)
    data_source_path: str = Field(
        description="Path of the data source: a local path, dbfs:/..., an Azure Blob/ADLS URL "
                    "(https://<account>.blob.core.windows.net/<container>/<path>, abfss://...). "
                    "A SAS query string is used to read but never stored.",
        max_length=8192)
    workflow_id: str = Field(
        description=f"Primary identifier of the metadata, provided by the backend (required; {ID_RULE}). "
                    "If job_metadata.workflow_id is also given it wins (the executor's priority rule).",
        max_length=128)
    source_id: str | None = Field(
        default=None, max_length=128,
        description=f"Optional filter identifier ({ID_RULE}). job_metadata.source_id wins if given.")
    data_source_type: str | None = Field(
        default=None, max_length=64,
        description=f"Optional type: one of {', '.join(VALID_DATA_SOURCE_TYPES)} (aliases such as blob, "
                    "abfss, adls are accepted); default auto (detected from the path).")
    tenant_id: str | None = Field(default=None, max_length=128,
                                  description="Optional tenant identifier (recorded, not used to route).")
    csv_header: Literal["auto", "true", "false"] | StrictBool | None = Field(
        default=None,
        description="CSV/TSV header: auto (default: the first record is the header unless every field parses as "
                    "its column's type), true or false (a JSON boolean too, as in the job payload) for every "
                    "CSV/TSV file (README, CSV rules); the alias of format_options.csv.header.")
    format_options: dict[str, dict[str, StrictBool | str]] | None = Field(
        default=None,
        description="Optional options per format, validated like the job payload's (a bad one is a 400 naming "
                    "the field, e.g. format_options.xml.rowTag): "
                    + "; ".join(f"{f.name}.{o.name}: {o.rule()}" for f in FORMATS for o in f.options)
                    + '. Example: {"xml": {"rowTag": "record"}}.')
    job_metadata: dict[str, Any] | None = Field(
        default=None,
        description="Optional metadata passed on to the job (at most 65536 bytes as JSON; NaN/Infinity "
                    "refused). The server fills in workflow_id and source_id so the job receives them as the "
                    "contract shows.")


class CreateJobResponse(BaseModel):
    job_id: str = Field(description="Identifier of the job at this API: job_<32 hex>.")
    status: JobStatus = Field(description="'created' for a new job (a repeated Idempotency-Key returns the "
                                          "existing job's current status).")
    message: str = Field(description="Human readable outcome, e.g. 'Job created successfully'.")


class JobStatusResponse(BaseModel):
    job_id: str = Field(description="Identifier of the job at this API.")
    status: JobStatus = Field(description="created (queued or being submitted), running, then succeeded, "
                                          "partial (some tables failed), failed (also: timed out) or cancelled.")
    job_type: str = Field(description="The job type requested.")
    workflow_id: str = Field(description="The resolved workflow_id (job_metadata.workflow_id wins).")
    source_id: str | None = Field(description="The resolved source_id, or null.")
    data_source_path: str = Field(description="The data source path without its query string (no SAS).")
    launcher: str = Field(description="local or databricks.")
    run_id: str = Field(description="The executor run id: run_id in the four metadata tables. Local: "
                                    "run_<hex>; Databricks: the job run id, set once run_now answered.")
    external_run_id: str | None = Field(description="Databricks job run id (databricks launcher only).")
    created_at: str = Field(description="When the job was accepted (UTC, ISO 8601).")
    started_at: str | None = Field(description="When the job started running (UTC), or null.")
    finished_at: str | None = Field(description="When the job finished (UTC), or null.")
    exit_code: int | None = Field(description="Local launcher: exit code of the child process (0 ok, 1 "
                                              "failed, 2 bad input).")
    error_message: str | None = Field(description="Why the job failed (no secrets, no stack traces).")
    summary: dict[str, Any] | None = Field(description="The run summary when available: tables, tables_failed, "
                                                       "rows, files, bytes, seconds...")


class JobListResponse(BaseModel):
    jobs: list[JobStatusResponse] = Field(description="Jobs, newest first.")
    next_page_token: str | None = Field(description="Pass as page_token for the next page; null on the last page.")


class MetadataResponse(BaseModel):
    sources: list[dict[str, Any]] = Field(description="Rows of <catalog>._executor_metadata.sources.")
    tables: list[dict[str, Any]] = Field(description="Rows of the tables table.")
    columns: list[dict[str, Any]] = Field(description="Rows of the columns table.")
    runs: list[dict[str, Any]] = Field(description="The run rows (executor_runs) the other rows belong to: by "
                                                   "default the latest completed run per workflow/source.")


class ChangesResponse(BaseModel):
    workflow_id: str = Field(description="The workflow compared.")
    source_id: str | None = Field(default=None, description="The source whose runs were compared.")
    from_run_id: str | None = Field(default=None, description="The older run (None: fewer than two runs).")
    to_run_id: str | None = Field(default=None, description="The newer run.")
    changes: dict[str, Any] | None = Field(
        default=None, description="tables_added, tables_removed, tables_changed (columns_added, columns_removed, "
                                  "columns_retyped, nullability_changed, columns_moved), tables_failed, "
                                  "tables_unchanged; None when there is nothing to compare.")
    message: str | None = Field(default=None, description="Why nothing was compared, when so.")


class HealthResponse(BaseModel):
    status: Literal["ok"] = Field(description="Always 'ok' when the server answers.")
    version: str = Field(description="nuvyn-executor version.")
    launcher: str = Field(description="local or databricks.")
    auth: bool = Field(description="Whether bearer authentication is enforced.")


class ErrorResponse(BaseModel):
    error: str = Field(description="What was wrong and how to fix it. Never a stack trace.")
