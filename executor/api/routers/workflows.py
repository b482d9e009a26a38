"""The workflows resource (metadata reads): GET /workflows/{workflow_id}/metadata and /changes. The
reads run in the read pool (executor.api.reads: bounded, timed), never on the event loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from executor.api.deps import Reads, Service
from executor.api.errors import ERRORS, READ_ERRORS, ApiError
from executor.api.models import ChangesResponse, MetadataResponse
from executor.api.reads import json_body
from executor.payload import ID_PATTERN, ID_RULE, RUN_ID_PATTERN

router = APIRouter()

WorkflowId = Annotated[str, Path(description=f"The workflow_id ({ID_RULE}).", max_length=128)]
SourceId = Annotated[str | None, Query(max_length=128, description="Optional source_id filter.")]


def check_ids(workflow_id: str, source_id: str | None, **run_ids: str | None) -> None:
    """ApiError 400 for the first id that breaks its rule (an empty optional id is absent)."""
    if not ID_PATTERN.match(workflow_id):
        raise ApiError(400, f"workflow_id is invalid: expected {ID_RULE}")
    if source_id and not ID_PATTERN.match(source_id):
        raise ApiError(400, f"source_id is invalid: expected {ID_RULE}")
    for name, value in run_ids.items():
        if value and not RUN_ID_PATTERN.match(value):
            raise ApiError(400, f"{name} is invalid: expected letters, digits and . _ : -")


async def answer_read(reads: Reads, read: Callable[[], Mapping[str, object]]) -> Response:
    """A metadata read in the read pool, answered as JSON bytes built in the worker thread. Its errors
    (QueryError 400, ReadsBusy 503, ReadsTimeout 504, MetadataStoreError 503) are answered by
    executor.api.errors."""
    return Response(await reads.run(lambda: json_body(read())), media_type="application/json")


@router.get("/workflows/{workflow_id}/metadata", response_model=MetadataResponse,
            responses={**ERRORS, **READ_ERRORS}, summary="Metadata of a workflow's latest completed run (or of run_id)")
async def get_metadata(
    workflow_id: WorkflowId,
    service: Service,
    reads: Reads,
    source_id: SourceId = None,
    run_id: str | None = Query(default=None, max_length=128,
                               description="Optional run id: that run instead of the latest completed one."),
) -> Response:
    check_ids(workflow_id, source_id, run_id=run_id)
    return await answer_read(reads, lambda: service.metadata(workflow_id, source_id or None, run_id or None))


@router.get("/workflows/{workflow_id}/changes", response_model=ChangesResponse, responses={**ERRORS, **READ_ERRORS},
            summary="Schema changes between a workflow's latest two completed runs (or from_run/to_run)")
async def get_changes(
    workflow_id: WorkflowId,
    service: Service,
    reads: Reads,
    source_id: SourceId = None,
    from_run: str | None = Query(default=None, max_length=128,
                                 description="Older run id (with to_run) instead of the previous completed run."),
    to_run: str | None = Query(default=None, max_length=128,
                               description="Newer run id (with from_run) instead of the latest completed run."),
) -> Response:
    check_ids(workflow_id, source_id, from_run=from_run, to_run=to_run)
    if bool(from_run) != bool(to_run):
        raise ApiError(400, "give both from_run and to_run, or neither")
    return await answer_read(reads, lambda: service.changes(workflow_id, source_id or None, from_run or None,
                                                            to_run or None))
