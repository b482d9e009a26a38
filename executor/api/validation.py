"""Pure checks of a create-job request -> the payload the executor gets. No HTTP, no Spark."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from executor.errors import PayloadError
from executor.payload import JOB_TYPES, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, _depth, build_request

REQUIRED_FIELDS = ("job_type", "data_source_path", "workflow_id")
OPTIONAL_FIELDS = ("source_id", "data_source_type", "tenant_id", "csv_header", "format_options")
MAX_JOB_METADATA_BYTES = 65536


def _finite(value: object) -> bool:
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


def _job_metadata(body: Mapping[str, object]) -> dict[str, Any]:
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
    return dict(meta)


def build_job_payload(body: Mapping[str, object]) -> dict[str, Any]:
    """A create-job body (already typed) -> the executor payload. Raises PayloadError (-> 400).

    Rules: the required fields must be non-empty; job_type must be known; the body is a payload, so
    the executor's own build_request resolves it (executor.payload: job_metadata.<id> wins over the
    top-level id) and a job the API accepts never fails with exit code 2; the resolved workflow_id and
    source_id are written into job_metadata and the top level, as the contract shows."""
    for name in REQUIRED_FIELDS:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise PayloadError(missing_field_message(name))
    job_type = str(body["job_type"]).strip()
    if job_type not in JOB_TYPES:
        raise PayloadError(f"Unknown job_type {job_type[:64]!r}; valid job types: {', '.join(JOB_TYPES)}")
    payload: dict[str, Any] = {"job_type": job_type, "data_source_path": str(body["data_source_path"]).strip(),
                               "workflow_id": body["workflow_id"]}
    payload.update({name: body[name] for name in OPTIONAL_FIELDS if body.get(name) not in (None, "")})
    payload["job_metadata"] = _job_metadata(body)
    request = build_request(payload)  # the one rule; validates ids, data_source_type, tenant_id, format_options
    payload["workflow_id"] = payload["job_metadata"]["workflow_id"] = request.workflow_id
    if request.source_id:
        payload["source_id"] = payload["job_metadata"]["source_id"] = request.source_id
    if len(json.dumps(payload).encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"the job payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    return payload
