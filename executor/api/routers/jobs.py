"""The jobs resource: POST /jobs/create, GET /jobs/{job_id}, POST /jobs/{job_id}/cancel, GET /jobs.
Thin over JobService; refusals are raised (executor.api.errors answers them as {"error": ...})."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query

from executor.api.deps import Service
from executor.api.errors import ERRORS, ApiError, Responses
from executor.api.models import (
    CreateJobRequest,
    CreateJobResponse,
    ErrorResponse,
    JobListResponse,
    JobStatusResponse,
)
from executor.api.statuses import JOB_CREATED, JobStatus
from executor.api.store import JobRecord
from executor.payload import ID_PATTERN, ID_RULE

JOB_ID_PATTERN = re.compile(r"job_[0-9a-f]{32}")  # used with fullmatch
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # used with fullmatch
PAGE_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,200}")  # used with fullmatch

router = APIRouter()

JobId = Annotated[str, Path(description="The job_id POST /jobs/create returned.", max_length=64)]
NOT_FOUND: Responses = {404: {"model": ErrorResponse, "description": "No such job"}}
CREATE_ERRORS: Responses = {
    409: {"model": ErrorResponse, "description": "Idempotency-Key reused with a different body"},
    403: {"model": ErrorResponse, "description": "data_source_path outside NUVYN_API_SOURCE_ROOTS, a host that is "
                                                 "not Azure storage nor an allowed emulator, or an account the "
                                                 "server's credential may not be used for"},
    429: {"model": ErrorResponse, "description": "Too many jobs wait to start; retry after Retry-After seconds"},
}


def job_view(job: JobRecord) -> JobStatusResponse:
    return JobStatusResponse(
        job_id=job.job_id, status=job.status, job_type=job.job_type, workflow_id=job.workflow_id,
        source_id=job.source_id, data_source_path=job.data_source_path, launcher=job.launcher,
        run_id=job.run_id, external_run_id=job.external_run_id, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, exit_code=job.exit_code,
        error_message=job.error_message, summary=job.summary)


def encode_page_token(key: int) -> str:
    return base64.urlsafe_b64encode(f"jobs:{key}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int | None:
    """The position a page token carries, or None when it is not one of ours."""
    if not PAGE_TOKEN_PATTERN.fullmatch(token):
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    match = re.fullmatch(r"jobs:([1-9][0-9]{0,17})", text)
    return int(match.group(1)) if match else None


def _known_job_id(job_id: str) -> str | None:
    return job_id if JOB_ID_PATTERN.fullmatch(job_id) else None


@router.post("/jobs/create", response_model=CreateJobResponse, responses={**ERRORS, **CREATE_ERRORS},
             summary="Create and start a metadata extraction job")
def create_job(
    body: CreateJobRequest,
    service: Service,
    idempotency_key: str | None = Header(
        default=None, alias="Idempotency-Key",
        description="Optional key (1-255 visible ASCII characters). A repeated request with the same key "
                    "returns the same job instead of starting another."),
) -> CreateJobResponse:
    if idempotency_key is not None and not IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
        raise ApiError(400, "Invalid Idempotency-Key header: 1-255 visible ASCII characters")
    job, created = service.create(body.model_dump(exclude_unset=False), idempotency_key)
    if created:
        return CreateJobResponse(job_id=job.job_id, status=JOB_CREATED, message="Job created successfully")
    return CreateJobResponse(job_id=job.job_id, status=job.status, message="Job already exists for this Idempotency-Key")


@router.get("/jobs/{job_id}", response_model=JobStatusResponse, responses={**ERRORS, **NOT_FOUND},
            summary="Status of a job")
def get_job(job_id: JobId, service: Service) -> JobStatusResponse:
    if job_id == "create":  # GET /jobs/create: the route exists, for POST only
        raise ApiError(405, "Method Not Allowed: use POST /jobs/create", {"Allow": "POST"})
    known = _known_job_id(job_id)
    job = service.get(known) if known else None
    if job is None:
        raise ApiError(404, f"Job not found: {job_id[:64]!r}")
    return job_view(job)


@router.post("/jobs/{job_id}/cancel", response_model=JobStatusResponse,
             responses={**ERRORS, **NOT_FOUND, 409: {"model": ErrorResponse, "description": "The job already ended"}},
             summary="Cancel a queued or running job (local: its process group is terminated; "
                     "Databricks: cancel_run)")
def cancel_job(job_id: JobId, service: Service) -> JobStatusResponse:
    known = _known_job_id(job_id)
    job = service.cancel(known) if known else None  # JobNotCancellable: 409
    if job is None:
        raise ApiError(404, f"Job not found: {job_id[:64]!r}")
    return job_view(job)


@router.get("/jobs", response_model=JobListResponse, responses=ERRORS,
            summary="List jobs, newest first (filters: workflow_id, status; paged)")
def list_jobs(
    service: Service,
    workflow_id: str | None = Query(default=None, max_length=128, description=f"Only this workflow ({ID_RULE})."),
    status: JobStatus | None = Query(default=None, description="Only jobs with this status."),
    limit: int = Query(default=50, ge=1, le=200, description="Jobs per page (1-200)."),
    page_token: str | None = Query(default=None, max_length=200, description="next_page_token of the previous page."),
) -> JobListResponse:
    if workflow_id is not None and not ID_PATTERN.match(workflow_id):
        raise ApiError(400, f"workflow_id is invalid: expected {ID_RULE}")
    before = None
    if page_token is not None:
        before = decode_page_token(page_token)
        if before is None:
            raise ApiError(400, "page_token is invalid: pass the next_page_token of a previous GET /jobs")
    jobs, key = service.list(workflow_id=workflow_id, status=status, limit=limit, before=before)
    return JobListResponse(jobs=[job_view(j) for j in jobs], next_page_token=encode_page_token(key) if key else None)
