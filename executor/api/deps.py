"""The API's FastAPI dependencies: the services a route needs (from the app's state, set once by
create_app), the documented bearer scheme and the strict query-string check. Authentication itself is
enforced by executor.api.middleware.BearerAuthMiddleware, before the body is read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from executor.api.reads import ReadPool
from executor.api.service import JobService
from executor.settings import ApiSettings


@dataclass(frozen=True)
class ApiServices:
    """What the routes use, built once per app (create_app) and kept in `app.state.services`."""

    settings: ApiSettings
    service: JobService
    reads: ReadPool


def services(request: Request) -> ApiServices:
    found = request.app.state.services
    if not isinstance(found, ApiServices):
        raise RuntimeError("the app was not built by executor.api.app.create_app")
    return found


def job_service(found: Annotated[ApiServices, Depends(services)]) -> JobService:
    return found.service


def read_pool(found: Annotated[ApiServices, Depends(services)]) -> ReadPool:
    return found.reads


def api_settings(found: Annotated[ApiServices, Depends(services)]) -> ApiSettings:
    return found.settings


Service = Annotated[JobService, Depends(job_service)]
Reads = Annotated[ReadPool, Depends(read_pool)]
Settings = Annotated[ApiSettings, Depends(api_settings)]

bearer = HTTPBearer(auto_error=False, description="The server's NUVYN_API_TOKEN.")


def documented_auth(_: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """Shows the bearer scheme in OpenAPI; BearerAuthMiddleware enforces it."""


def known_query_only(request: Request) -> None:
    """Unknown or repeated query parameters are refused (a typo such as ?sourceid= must not be ignored,
    nor ?run_id=a&run_id=b silently read as b)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    known = {p.alias for p in getattr(dependant, "query_params", [])}
    for dep in getattr(dependant, "dependencies", []):
        known |= {p.alias for p in dep.query_params}
    names = [k for k, _ in request.query_params.multi_items()]
    repeated = sorted({k for k in names if names.count(k) > 1})
    if repeated:
        raise StarletteHTTPException(400, f"Query parameter {repeated[0][:64]!r} is given more than once")
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        expected = ", ".join(sorted(known)) or "none"
        raise StarletteHTTPException(400, f"Unknown query parameter {unknown[0][:64]!r}; expected: {expected}")


def secured(settings: ApiSettings) -> list[DependsParam]:
    """The dependencies of every route but /health: the documented bearer scheme (when the server has a
    token) and the strict query string."""
    found = [Depends(documented_auth)] if settings.token is not None else []
    return [*found, Depends(known_query_only)]
