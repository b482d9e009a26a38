"""The FastAPI app: routers per resource (health, jobs, workflows), the services they depend on in the
app's state (executor.api.deps), error handlers that answer {"error": ...} (executor.api.errors) and
the ASGI middlewares (executor.api.middleware). No stack trace or internal text reaches a response."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from executor import __version__
from executor.api.deps import ApiServices, secured
from executor.api.errors import install_error_handlers
from executor.api.middleware import (
    BearerAuthMiddleware,
    BodyLimitMiddleware,
    ConcurrencyLimitMiddleware,
    HostCheckMiddleware,
)
from executor.api.reads import ReadPool
from executor.api.routers import health, jobs, workflows
from executor.api.service import JobService
from executor.settings import ApiSettings

logger = logging.getLogger(__name__)

# The rules the server enforces on path/query/header parameters, as JSON Schema patterns (ECMA regex;
# `$` without the m flag is the very end), so that OpenAPI carries every pattern.
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
DESCRIPTION = ("Start metadata extraction jobs, follow them, read their metadata. Every endpoint except /health and "
               "the docs needs `Authorization: Bearer <token>`. Errors answer `{\"error\": \"<message>\"}`.")


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


def create_app(settings: ApiSettings, service: JobService, read_pool: ReadPool | None = None) -> FastAPI:
    """The app over `service` (its launcher, job store and metadata reads) with `settings`' limits."""
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

    app = FastAPI(title="nuvyn-executor API", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.services = ApiServices(settings=settings, service=service, reads=reads)
    app.include_router(health.router)
    app.include_router(jobs.router, dependencies=secured(settings))
    app.include_router(workflows.router, dependencies=secured(settings))
    install_error_handlers(app)
    build_openapi = app.openapi

    def openapi_with_patterns() -> dict[str, Any]:
        return add_schema_patterns(build_openapi())

    app.openapi = openapi_with_patterns  # type: ignore[method-assign]
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)  # the last added runs first:
    app.add_middleware(ConcurrencyLimitMiddleware, limit=settings.limit_concurrency)
    app.add_middleware(BearerAuthMiddleware, token=settings.token)
    app.add_middleware(HostCheckMiddleware, hosts=settings.host_names())  # Host, auth, concurrency, body
    return app
