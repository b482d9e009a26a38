"""GET /health: liveness, no authentication, never counted by the concurrency limit."""

from __future__ import annotations

from fastapi import APIRouter

from executor import __version__
from executor.api.deps import Settings
from executor.api.models import HealthResponse

router = APIRouter()


@router.get("/health", response_model=HealthResponse, summary="Liveness check (no authentication)")
async def health(settings: Settings) -> HealthResponse:
    return HealthResponse(status="ok", version=__version__, launcher=settings.launcher,
                          auth=settings.token is not None)
