"""The FastAPI app: thin edges over JobService. Every error answers {"error": "<clear message>"};
no stack trace or internal text ever reaches a response."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from executor import __version__
from executor.api.models import (
    ChangesResponse,
    CreateJobRequest,
    CreateJobResponse,
    ErrorResponse,
    HealthResponse,
    JobListResponse,
    JobStatusResponse,
    MetadataResponse,
)
from executor.api.reads import ReadPool, ReadsBusy, ReadsTimeout, json_body
from executor.api.service import JobNotCancellable, JobService, QueueFull
from executor.api.store import IdempotencyConflict, JobRecord
from executor.api.validation import REQUIRED_FIELDS, missing_field_message
from executor.errors import MetadataStoreError, PayloadError, QueryError
from executor.payload import ID_PATTERN, ID_RULE, RUN_ID_PATTERN
from executor.settings import ApiSettings, Secret, host_name, reveal
from executor.sources.policy import SourceNotAllowed

logger = logging.getLogger(__name__)

OPEN_PATHS = {"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
JOB_ID_PATTERN = re.compile(r"job_[0-9a-f]{32}")  # used with fullmatch
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # used with fullmatch
PAGE_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,200}")  # used with fullmatch

# The same rules as JSON Schema patterns (ECMA regex; `$` without the m flag is the very end), so that
# OpenAPI carries every pattern the server enforces.
SCHEMA_PATTERNS = {
    "workflow_id": "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$",
    "source_id": "^([A-Za-z0-9][A-Za-z0-9._:@-]{0,127})?$",
    "run_id": "^([A-Za-z0-9][A-Za-z0-9._:-]{0,127})?$",
    "from_run": "^([A-Za-z0-9][A-Za-z0-9._:-]{0,127})?$",
    "to_run": "^([A-Za-z0-9][A-Za-z0-9._:-]{0,127})?$",
    "job_id": "^job_[0-9a-f]{32}$",
    "page_token": "^[A-Za-z0-9_-]{1,200}$",
    "Idempotency-Key": "^[!-~]{1,255}$",
}


def add_schema_patterns(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every path/query/header parameter named in SCHEMA_PATTERNS its pattern (in place)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                pattern = SCHEMA_PATTERNS.get(param.get("name", ""))
                target = param.get("schema", {})
                options = target.get("anyOf")  # Optional[str] -> anyOf [string, null]
                for sub in options if options else [target]:
                    if pattern and sub.get("type") == "string":
                        sub["pattern"] = pattern
    return schema


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def json_number_problem(body: bytes) -> str | None:
    """The reason a JSON body is refused for its numbers (NaN, Infinity, 1e999), or None. Bodies that
    are not JSON at all are left to the normal validation (which says so)."""
    try:
        json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError) or isinstance(exc, UnicodeDecodeError):
            return None
        return f"Request body is not valid JSON: {exc}; JSON numbers must be finite"
    except RecursionError:
        return None
    return None

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse, "description": text} for code, text in (
    (400, "Invalid request: missing or invalid field, malformed JSON, unknown job_type"),
    (401, "Missing or invalid bearer token"),
    (413, "Request body larger than the limit"),
)}
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "Metadata store unavailable, or too many reads in progress "
                                                  "(NUVYN_API_READ_MAX_PENDING; see Retry-After)"},
    504: {"model": ErrorResponse, "description": "The read took longer than NUVYN_API_READ_TIMEOUT_S"},
}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _send_json(send: Any, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


class BearerAuthMiddleware:
    """Every path except OPEN_PATHS needs `Authorization: Bearer <token>` (compared in constant time).
    Runs before the body is read, so an unauthenticated client learns nothing about the body rules."""

    def __init__(self, app: Any, token: Secret | None) -> None:
        self.app = app
        value = reveal(token)
        self.token = value.encode("utf-8") if value else None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.token is None or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = b""
        for k, v in scope.get("headers", []):
            if k == b"authorization":
                header = v
                break
        scheme, _, given = header.partition(b" ")
        ok = scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)
        if not ok:
            message = "Missing bearer token" if not header else "Invalid bearer token"
            await _send_json(send, 401, {"error": f"{message}: send Authorization: Bearer <NUVYN_API_TOKEN>"},
                             {"WWW-Authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)


class HostCheckMiddleware:
    """Requests must name an allowed host in their Host header (DNS rebinding: a page of another site
    whose name resolves to this server must not reach it). `hosts` None: any host."""

    def __init__(self, app: Any, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.hosts is None:
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", []) if k == b"host"), b"").decode("latin-1")
        if host_name(given) not in self.hosts:
            shown = repr(given[:100]) if given else "(none)"
            await _send_json(send, 400, {"error": f"Host {shown} is not one this server answers to: use one of "
                                                  f"{', '.join(sorted(self.hosts))} or add it to NUVYN_API_ALLOWED_HOSTS"})
            return
        await self.app(scope, receive, send)


class ConcurrencyLimitMiddleware:
    """At most `limit` requests in progress; one more answers 503 with Retry-After at once. Runs after
    authentication (an unauthenticated request costs its 401 only) and never counts OPEN_PATHS, so
    /health answers under any load. Slow and idle connections are not requests in progress: the
    protocol's header, body and keep-alive timeouts close them (executor/api/http_protocol.py)."""

    def __init__(self, app: Any, limit: int | None) -> None:
        self.app = app
        self.limit = limit
        self.in_progress = 0  # one event loop: no lock needed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.limit is None or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_progress >= self.limit:
            logger.warning("%d requests in progress (NUVYN_API_LIMIT_CONCURRENCY): answering 503", self.in_progress)
            await _send_json(send, 503, {"error": f"the server is busy ({self.limit} requests in progress, "
                                                  "NUVYN_API_LIMIT_CONCURRENCY); retry in a moment"},
                             {"Retry-After": "1"})
            return
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1


class BodyLimitMiddleware:
    """Reads at most `limit` bytes of a request body; a larger one answers 413 (Content-Length is
    checked first, chunked bodies are counted)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_big = {"error": f"Request body too large: the limit is {self.limit} bytes"}
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    if int(v) > self.limit:
                        await _send_json(send, 413, too_big)
                        return
                except ValueError:
                    await _send_json(send, 400, {"error": "Invalid Content-Length header"})
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _send_json(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_number_problem(body) if body else None
        if problem:
            await _send_json(send, 400, {"error": problem})
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


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
        loc = tuple(e.get("loc", ()))
        if loc == ("body",):
            if e.get("type") == "missing":
                return "Request body is required: a JSON object with job_type, data_source_path and workflow_id"
            return "Request body must be a JSON object"
    e = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = tuple(e.get("loc", ()))
    where, name = (loc[0], ".".join(str(p) for p in loc[1:])) if loc else ("request", "")
    what = {"body": "field", "query": "query parameter", "path": "path parameter", "header": "header"}.get(
        str(where), "value")
    return f"Invalid {what} {name}: {e.get('msg', 'invalid value')}".replace("  ", " ")


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


def invalid_ids(workflow_id: str, source_id: str | None, **run_ids: str | None) -> JSONResponse | None:
    """The 400 answer for the first id that breaks its rule (an empty optional id is absent), else None."""
    if not ID_PATTERN.match(workflow_id):
        return error(400, f"workflow_id is invalid: expected {ID_RULE}")
    if source_id and not ID_PATTERN.match(source_id):
        return error(400, f"source_id is invalid: expected {ID_RULE}")
    for name, value in run_ids.items():
        if value and not RUN_ID_PATTERN.match(value):
            return error(400, f"{name} is invalid: expected letters, digits and . _ : -")
    return None


def create_app(settings: ApiSettings, service: JobService, read_pool: ReadPool | None = None) -> FastAPI:
    reads = read_pool or ReadPool()
    if settings.token is None:
        logger.warning("authentication is DISABLED (explicit opt-in): every client may start jobs")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()
            reads.shutdown()

    app = FastAPI(
        title="nuvyn-executor API",
        version=__version__,
        description="Start metadata extraction jobs, follow them, read their metadata. Every endpoint except "
                    "/health and the docs needs `Authorization: Bearer <token>`. Errors answer "
                    '`{"error": "<message>"}`.',
        lifespan=lifespan,
    )
    bearer = HTTPBearer(auto_error=False, description="The server's NUVYN_API_TOKEN.")

    def documented_auth(_: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        """Shows the bearer scheme in OpenAPI; BearerAuthMiddleware enforces it."""

    def known_query_only(request: Request) -> None:
        """Unknown or repeated query parameters are refused (a typo such as ?sourceid= must not be ignored,
        nor ?run_id=a&run_id=b silently read as b)."""
        route = request.scope.get("route")
        known = {p.alias for p in getattr(getattr(route, "dependant", None), "query_params", [])}
        for dep in getattr(getattr(route, "dependant", None), "dependencies", []):
            known |= {p.alias for p in dep.query_params}
        names = [k for k, _ in request.query_params.multi_items()]
        repeated = sorted({k for k in names if names.count(k) > 1})
        if repeated:
            raise StarletteHTTPException(400, f"Query parameter {repeated[0][:64]!r} is given more than once")
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            expected = ", ".join(sorted(known)) or "none"
            raise StarletteHTTPException(400, f"Unknown query parameter {unknown[0][:64]!r}; expected: {expected}")

    async def answer_read(read: Callable[[], Any], what: str) -> Response:
        """A metadata read in the read pool, answered as JSON or as the error it ended with."""
        try:
            body = await reads.run(lambda: json_body(read()))
        except QueryError as exc:
            return error(400, str(exc))
        except ReadsBusy as exc:
            return error(503, str(exc), {"Retry-After": "1"})
        except ReadsTimeout as exc:
            return error(504, str(exc))
        except MetadataStoreError:
            logger.exception("%s failed", what)
            return error(503, "The metadata store is unavailable; see the server log")
        return Response(body, media_type="application/json")

    secured = [Depends(documented_auth)] if settings.token is not None else []
    secured.append(Depends(known_query_only))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
        return error(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        return error(500, "Internal server error; see the server log")

    @app.get("/health", response_model=HealthResponse, summary="Liveness check (no authentication)")
    async def health() -> HealthResponse:
        return HealthResponse(status="ok", version=__version__, launcher=settings.launcher,
                              auth=settings.token is not None)

    @app.post("/jobs/create", response_model=CreateJobResponse, responses={**_ERRORS, 409: {
        "model": ErrorResponse, "description": "Idempotency-Key reused with a different body"},
        403: {"model": ErrorResponse, "description": "data_source_path outside NUVYN_API_SOURCE_ROOTS, a host "
                                                     "that is not Azure storage nor an allowed emulator, or an "
                                                     "account the server's credential may not be used for"},
        429: {"model": ErrorResponse, "description": "Too many jobs wait to start; retry after Retry-After "
                                                     "seconds"}},
        dependencies=secured, summary="Create and start a metadata extraction job")
    def create_job(
        body: CreateJobRequest,
        idempotency_key: str | None = Header(
            default=None, alias="Idempotency-Key",
            description="Optional key (1-255 visible ASCII characters). A repeated request with the same key "
                        "returns the same job instead of starting another."),
    ) -> Any:
        if idempotency_key is not None and not IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
            return error(400, "Invalid Idempotency-Key header: 1-255 visible ASCII characters")
        try:
            job, created = service.create(body.model_dump(exclude_unset=False), idempotency_key)
        except PayloadError as exc:
            return error(400, str(exc))
        except SourceNotAllowed as exc:
            return error(403, str(exc))
        except QueueFull as exc:
            return error(429, str(exc), {"Retry-After": str(exc.retry_after)})
        except IdempotencyConflict as exc:
            return error(409, str(exc))
        if created:
            return CreateJobResponse(job_id=job.job_id, status="created", message="Job created successfully")
        return CreateJobResponse(job_id=job.job_id, status=job.status,
                                 message="Job already exists for this Idempotency-Key")

    @app.get("/jobs/{job_id}", response_model=JobStatusResponse, dependencies=secured,
             responses={**_ERRORS, 404: {"model": ErrorResponse, "description": "No such job"}},
             summary="Status of a job")
    def get_job(job_id: str = Path(description="The job_id POST /jobs/create returned.", max_length=64)) -> Any:
        if job_id == "create":  # GET /jobs/create: the route exists, for POST only
            return error(405, "Method Not Allowed: use POST /jobs/create", {"Allow": "POST"})
        job = service.get(job_id) if JOB_ID_PATTERN.fullmatch(job_id) else None
        if job is None:
            return error(404, f"Job not found: {job_id[:64]!r}")
        return job_view(job)

    @app.post("/jobs/{job_id}/cancel", response_model=JobStatusResponse, dependencies=secured,
              responses={**_ERRORS, 404: {"model": ErrorResponse, "description": "No such job"},
                         409: {"model": ErrorResponse, "description": "The job already ended"}},
              summary="Cancel a queued or running job (local: its process group is terminated; "
                      "Databricks: cancel_run)")
    def cancel_job(job_id: str = Path(description="The job_id POST /jobs/create returned.", max_length=64)) -> Any:
        try:
            job = service.cancel(job_id) if JOB_ID_PATTERN.fullmatch(job_id) else None
        except JobNotCancellable as exc:
            return error(409, str(exc))
        if job is None:
            return error(404, f"Job not found: {job_id[:64]!r}")
        return job_view(job)

    @app.get("/jobs", response_model=JobListResponse, dependencies=secured, responses=_ERRORS,
             summary="List jobs, newest first (filters: workflow_id, status; paged)")
    def list_jobs(
        workflow_id: str | None = Query(default=None, max_length=128, description=f"Only this workflow ({ID_RULE})."),
        status: Literal["created", "running", "succeeded", "partial", "failed", "cancelled"] | None = Query(
            default=None, description="Only jobs with this status."),
        limit: int = Query(default=50, ge=1, le=200, description="Jobs per page (1-200)."),
        page_token: str | None = Query(default=None, max_length=200,
                                       description="next_page_token of the previous page."),
    ) -> Any:
        if workflow_id is not None and not ID_PATTERN.match(workflow_id):
            return error(400, f"workflow_id is invalid: expected {ID_RULE}")
        before = None
        if page_token is not None:
            before = decode_page_token(page_token)
            if before is None:
                return error(400, "page_token is invalid: pass the next_page_token of a previous GET /jobs")
        jobs, key = service.list(workflow_id=workflow_id, status=status, limit=limit, before=before)
        return JobListResponse(jobs=[job_view(j) for j in jobs],
                               next_page_token=encode_page_token(key) if key else None)

    @app.get("/workflows/{workflow_id}/metadata", response_model=MetadataResponse, dependencies=secured,
             responses={**_ERRORS, **_READ_ERRORS},
             summary="Metadata of a workflow's latest completed run (or of run_id)")
    async def get_metadata(
        workflow_id: str = Path(description=f"The workflow_id ({ID_RULE}).", max_length=128),
        source_id: str | None = Query(default=None, max_length=128,
                                      description="Optional source_id filter."),
        run_id: str | None = Query(default=None, max_length=128,
                                   description="Optional run id: that run instead of the latest completed one."),
    ) -> Any:
        refused = invalid_ids(workflow_id, source_id, run_id=run_id)
        if refused is not None:
            return refused
        return await answer_read(lambda: service.metadata(workflow_id, source_id or None, run_id or None),
                                 "metadata query")

    @app.get("/workflows/{workflow_id}/changes", response_model=ChangesResponse, dependencies=secured,
             responses={**_ERRORS, **_READ_ERRORS},
             summary="Schema changes between a workflow's latest two completed runs (or from_run/to_run)")
    async def get_changes(
        workflow_id: str = Path(description=f"The workflow_id ({ID_RULE}).", max_length=128),
        source_id: str | None = Query(default=None, max_length=128, description="Optional source_id filter."),
        from_run: str | None = Query(default=None, max_length=128,
                                     description="Older run id (with to_run) instead of the previous completed run."),
        to_run: str | None = Query(default=None, max_length=128,
                                   description="Newer run id (with from_run) instead of the latest completed run."),
    ) -> Any:
        refused = invalid_ids(workflow_id, source_id, from_run=from_run, to_run=to_run)
        if refused is not None:
            return refused
        if bool(from_run) != bool(to_run):
            return error(400, "give both from_run and to_run, or neither")
        return await answer_read(
            lambda: service.changes(workflow_id, source_id or None, from_run or None, to_run or None),
            "schema changes query")

    build_openapi = app.openapi

    def openapi_with_patterns() -> dict[str, Any]:
        return add_schema_patterns(build_openapi())

    app.openapi = openapi_with_patterns  # type: ignore[method-assign]
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(ConcurrencyLimitMiddleware, limit=settings.limit_concurrency)
    app.add_middleware(BearerAuthMiddleware, token=settings.token)
    app.add_middleware(HostCheckMiddleware, hosts=settings.host_names())
    return app
