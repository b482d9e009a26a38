"""Every error the API answers is {"error": "<clear message>"}: the exception handlers that map the
service's exceptions to status codes, FastAPI's validation errors to one sentence, and anything
unexpected to a 500 that says only "see the server log". No stack trace or internal text reaches a
response."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from executor.api.models import ErrorResponse
from executor.api.reads import ReadsBusy, ReadsTimeout
from executor.api.service import JobNotCancellable, QueueFull
from executor.api.store import IdempotencyConflict
from executor.api.validation import REQUIRED_FIELDS, missing_field_message
from executor.errors import MetadataStoreError, PayloadError, QueryError
from executor.sources.policy import SourceNotAllowed

logger = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]  # FastAPI's `responses` type
ERRORS: Responses = {code: {"model": ErrorResponse, "description": text} for code, text in (
    (400, "Invalid request: missing or invalid field, malformed JSON, unknown job_type"),
    (401, "Missing or invalid bearer token"),
    (413, "Request body larger than the limit"),
)}
READ_ERRORS: Responses = {
    503: {"model": ErrorResponse, "description": "Metadata store unavailable, or too many reads in progress "
                                                  "(NUVYN_API_READ_MAX_PENDING; see Retry-After)"},
    504: {"model": ErrorResponse, "description": "The read took longer than NUVYN_API_READ_TIMEOUT_S"},
}


class ApiError(Exception):
    """An answer other than 2xx, raised by a route: `status`, the message, optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's validation errors -> one clear sentence; never echoes the input."""
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return "Request body is not valid JSON: send a JSON object with job_type, data_source_path and workflow_id"
    missing = {e["loc"][1] for e in errors
               if e.get("type") == "missing" and len(e.get("loc", ())) == 2 and e["loc"][0] == "body"}
    for name in REQUIRED_FIELDS:
        if name in missing:
            return missing_field_message(name)
    for e in errors:
        if tuple(e.get("loc", ())) == ("body",):
            if e.get("type") == "missing":
                return "Request body is required: a JSON object with job_type, data_source_path and workflow_id"
            return "Request body must be a JSON object"
    e = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = tuple(e.get("loc", ()))
    where, name = (loc[0], ".".join(str(p) for p in loc[1:])) if loc else ("request", "")
    what = {"body": "field", "query": "query parameter", "path": "path parameter", "header": "header"}.get(
        str(where), "value")
    return f"Invalid {what} {name}: {e.get('msg', 'invalid value')}".replace("  ", " ")


def _status_of(exc: Exception) -> tuple[int, str, dict[str, str] | None]:
    """The answer to an exception the service raises on purpose (EXCEPTION_STATUS)."""
    if isinstance(exc, ApiError):
        return exc.status, exc.message, exc.headers
    if isinstance(exc, QueueFull):
        return 429, str(exc), {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, ReadsBusy):
        return 503, str(exc), {"Retry-After": "1"}
    if isinstance(exc, MetadataStoreError):
        logger.error("metadata read failed: %s", exc, exc_info=exc)
        return 503, "The metadata store is unavailable; see the server log", None
    return next(EXCEPTION_STATUS[c] for c in type(exc).__mro__ if c in EXCEPTION_STATUS), str(exc), None


# The service's exceptions and their status codes (a subclass answers as its nearest listed base).
EXCEPTION_STATUS: dict[type[Exception], int] = {
    PayloadError: 400, QueryError: 400, SourceNotAllowed: 403, IdempotencyConflict: 409, JobNotCancellable: 409,
    QueueFull: 429, ReadsBusy: 503, MetadataStoreError: 503, ReadsTimeout: 504, ApiError: 400,
}


async def _known(_request: Request, exc: Exception) -> JSONResponse:
    return error(*_status_of(exc))


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error(400, validation_message(exc))


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
    return error(exc.status_code, detail, getattr(exc, "headers", None))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    logger.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
    return error(500, "Internal server error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Every error as {"error": ...}: the service's exceptions, validation, HTTP errors, the rest (500)."""
    handlers: dict[type[Exception], Callable[[Request, Exception], Awaitable[JSONResponse]]] = {
        **{cls: _known for cls in EXCEPTION_STATUS}, RequestValidationError: _validation,
        StarletteHTTPException: _http, Exception: _unexpected}
    for cls, handler in handlers.items():
        app.add_exception_handler(cls, handler)
