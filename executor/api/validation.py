"""Pure checks of a create-job request -> the payload the executor gets. No HTTP, no Spark."""

from __future__ import annotations

import json
import math
from typing import Any

from executor.errors import PayloadError
from executor.payload import (
    JOB_TYPES,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_DEPTH,
    _depth,
    build_request,
    resolve_source_id,
    resolve_workflow_id,
)

REQUIRED_FIELDS = ("job_type", "data_source_path", "workflow_id")
MAX_JOB_METADATA_BYTES = 65536


def _finite(value: Any) -> bool:
    """False when a JSON value holds NaN or +-Infinity anywhere (JSON has no such numbers)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def missing_field_message(name: str) -> str:
    return f"Missing required field: {name}"


def build_job_payload(body: dict[str, Any]) -> dict[str, Any]:
    """A create-job body (already typed) -> the executor payload. Raises PayloadError (-> 400).

    Rules: the required fields must be non-empty; job_type must be known; workflow_id and
    source_id follow the executor's priority rule (job_metadata.* wins over the top-level value)
    and are written into job_metadata, as the contract shows; the result must pass the executor's
    own build_request, so a job the API accepts never fails with exit code 2."""
    for name in REQUIRED_FIELDS:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise PayloadError(missing_field_message(name))
    job_type = body["job_type"].strip()
    if job_type not in JOB_TYPES:
        raise PayloadError(f"Unknown job_type {job_type[:64]!r}; valid job types: {', '.join(JOB_TYPES)}")
    meta = body.get("job_metadata") or {}
    if not isinstance(meta, dict):
        raise PayloadError("job_metadata must be a JSON object")
    if _depth(meta, MAX_PAYLOAD_DEPTH - 1) > MAX_PAYLOAD_DEPTH - 1:
        raise PayloadError(f"job_metadata is nested too deeply (limit {MAX_PAYLOAD_DEPTH - 1})")
    if not _finite(meta):
        raise PayloadError("job_metadata holds NaN or Infinity: JSON numbers must be finite")
    size = len(json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_JOB_METADATA_BYTES:
        raise PayloadError(f"job_metadata is {size} bytes; the limit is {MAX_JOB_METADATA_BYTES} bytes")
    payload: dict[str, Any] = {
        "job_type": job_type,
        "data_source_path": body["data_source_path"].strip(),
        "workflow_id": body["workflow_id"],
    }
    for name in ("source_id", "data_source_type", "tenant_id", "csv_header"):
        if body.get(name) not in (None, ""):
            payload[name] = body[name]
    payload["job_metadata"] = dict(meta)
    workflow_id = resolve_workflow_id(payload)  # validates both ids against ID_PATTERN
    source_id = resolve_source_id(payload)
    payload["workflow_id"] = workflow_id
    payload["job_metadata"]["workflow_id"] = workflow_id
    if source_id:
        payload["source_id"] = source_id
        payload["job_metadata"]["source_id"] = source_id
    build_request(payload)  # the executor's own checks (data_source_type, tenant_id, ...)
    if len(json.dumps(payload).encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"the job payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    return payload


def workflow_id_overridden(body: dict[str, Any], payload: dict[str, Any]) -> bool:
    """True when job_metadata.workflow_id differed from the top-level one (and won)."""
    return str(body.get("workflow_id", "")).strip() != payload["workflow_id"]
