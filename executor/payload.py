"""The job payload: parsing, priority rules and validation. Pure: no Spark, no Azure, no HTTP.

Priority (the v2 contract):
  workflow_id: 1. job_metadata.workflow_id  2. top-level workflow_id  3. error "workflow_id is required"
  source_id:   the same order, optional; an empty string means absent.
The payload comes from the `--payload` job parameter when it is given and non-empty, otherwise from
the NUVYN_JOB_PAYLOAD environment variable (the per-run parameter wins over the cluster's env var).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from executor.errors import PayloadError
from executor.ids import new_run_id
from executor.metadata.readers.registry import READERS

PAYLOAD_ENV = "NUVYN_JOB_PAYLOAD"
MAX_PAYLOAD_BYTES = 1_000_000
MAX_PAYLOAD_DEPTH = 16

JOB_TYPES = ("metadata_extraction",)
FILE_FORMATS = READERS.formats
STORAGE_KINDS = ("local", "dbfs", "azure_blob", "adls_gen2")
DATA_SOURCE_TYPE_ALIASES = {
    "": "auto",
    "auto": "auto",
    "file": "local",
    "filesystem": "local",
    "blob": "azure_blob",
    "azure": "azure_blob",
    "wasbs": "azure_blob",
    "adls": "adls_gen2",
    "abfss": "adls_gen2",
    "azure_datalake": "adls_gen2",
    "txt": "csv",
    "tab": "tsv",
    "jsonl": "json",
    "ndjson": "json",
}
VALID_DATA_SOURCE_TYPES = ("auto",) + FILE_FORMATS + STORAGE_KINDS

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")  # \Z: no trailing newline
ID_RULE = "1-128 characters: letters, digits and . _ : @ -, starting with a letter or digit"
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, stopping early past `limit`."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, d + 1) for v in item)
    return deepest


def parse_payload_json(text: str | None, origin: str = PAYLOAD_ENV) -> dict[str, Any]:
    """Parse one payload JSON object. Errors name `origin` and never echo the payload text."""
    if text is None or not text.strip():
        return {}
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"{origin} is {size} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"{origin} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "it must be a JSON object such as {\"workflow_id\": \"...\"}"
        ) from None
    except RecursionError:
        raise PayloadError(f"{origin} is nested too deeply (limit {MAX_PAYLOAD_DEPTH})") from None
    if not isinstance(value, dict):
        raise PayloadError(f"{origin} must be a JSON object, got a JSON {type(value).__name__}")
    if _depth(value, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH:
        raise PayloadError(f"{origin} is nested too deeply (limit {MAX_PAYLOAD_DEPTH})")
    return value


PATTERN_ENV = {"include": "NUVYN_INCLUDE", "exclude": "NUVYN_EXCLUDE"}


def resolve_payload(parameter: str | None, env: Mapping[str, str]) -> dict[str, Any]:
    """The job's payload: the `--payload` parameter when it is given and non-blank, else
    NUVYN_JOB_PAYLOAD; NUVYN_INCLUDE / NUVYN_EXCLUDE (comma-separated globs) fill include / exclude
    when the payload has none. Callers then apply their own flags and call build_request."""
    if parameter is not None and parameter.strip():
        payload = dict(parse_payload_json(parameter, "--payload"))
    else:
        payload = dict(parse_payload_json(env.get(PAYLOAD_ENV), PAYLOAD_ENV))
    for name, var in PATTERN_ENV.items():
        if payload.get(name) in (None, "", []) and env.get(var, "").strip():
            payload[name] = env[var]
    return payload


def _clean_id(value: Any, name: str, origin: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise PayloadError(f"{origin}{name} must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if text == "":
        return None
    if not ID_PATTERN.match(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise PayloadError(f"{name} {shown!r} is invalid: expected {ID_RULE}")
    return text


def _job_metadata(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = payload.get("job_metadata")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise PayloadError(f"job_metadata must be a JSON object, got {type(meta).__name__}")
    return meta


def resolve_workflow_id(payload: Mapping[str, Any]) -> str | None:
    """job_metadata.workflow_id, else top-level workflow_id, else None."""
    found = _clean_id(_job_metadata(payload).get("workflow_id"), "workflow_id", "job_metadata.")
    if found:
        return found
    return _clean_id(payload.get("workflow_id"), "workflow_id", "")


def resolve_source_id(payload: Mapping[str, Any]) -> str | None:
    """job_metadata.source_id, else top-level source_id, else None (it is only a filter)."""
    found = _clean_id(_job_metadata(payload).get("source_id"), "source_id", "job_metadata.")
    if found:
        return found
    return _clean_id(payload.get("source_id"), "source_id", "")


def normalize_data_source_type(value: Any) -> str:
    """Map a data_source_type to one of VALID_DATA_SOURCE_TYPES, or raise listing them."""
    if value is None:
        return "auto"
    if not isinstance(value, str):
        raise PayloadError(f"data_source_type must be a string, got {type(value).__name__}")
    key = value.strip().lower()
    key = DATA_SOURCE_TYPE_ALIASES.get(key, key)
    if key not in VALID_DATA_SOURCE_TYPES:
        raise PayloadError(
            f"Unknown data_source_type {value!r}; expected one of: {', '.join(VALID_DATA_SOURCE_TYPES)}"
        )
    return key


@dataclass(frozen=True)
class JobRequest:
    """One resolved job: what to extract and under which identifiers."""

    workflow_id: str
    data_source_path: str
    source_id: str | None = None
    job_type: str = "metadata_extraction"
    data_source_type: str = "auto"
    tenant_id: str | None = None
    run_id: str = field(default_factory=new_run_id)
    write_to_db: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    csv_header: str = "auto"  # auto (the header rule), true or false: see CSV_HEADER_MODES

    @property
    def format_filter(self) -> str | None:
        """The file format the job is restricted to, or None to read every supported format."""
        return self.data_source_type if self.data_source_type in FILE_FORMATS else None

    @property
    def storage_hint(self) -> str | None:
        return self.data_source_type if self.data_source_type in STORAGE_KINDS else None


CSV_HEADER_MODES = ("auto", "true", "false")


def normalize_csv_header(value: Any) -> str:
    """The payload's csv_header: auto (default), true or false (JSON booleans accepted)."""
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip().lower() in CSV_HEADER_MODES:
        return value.strip().lower()
    shown = str(value)[:40]
    raise PayloadError(f"csv_header {shown!r} is invalid; expected one of: {', '.join(CSV_HEADER_MODES)} "
                       "(auto: the first record is the header unless the file's types say otherwise)")


def _patterns(value: Any, name: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return tuple(value)
    raise PayloadError(f"{name} must be a list of glob patterns or a comma-separated string")


def build_request(
    payload: Mapping[str, Any],
    *,
    job_type: str | None = None,
    data_source_path: str | None = None,
    data_source_type: str | None = None,
    tenant_id: str | None = None,
    run_id: str | None = None,
    write_to_db: bool = True,
) -> JobRequest:
    """Combine the payload with explicit command-line values (which win for the non-id fields)."""
    workflow_id = resolve_workflow_id(payload)
    if not workflow_id:
        raise PayloadError(
            "workflow_id is required: set job_metadata.workflow_id or workflow_id in the payload "
            f"(--payload or {PAYLOAD_ENV}); the executor never generates one"
        )
    source_id = resolve_source_id(payload)

    jt = job_type or payload.get("job_type") or "metadata_extraction"
    if jt not in JOB_TYPES:
        raise PayloadError(f"Unknown job_type {jt!r}; expected one of: {', '.join(JOB_TYPES)}")

    path = data_source_path or payload.get("data_source_path")
    if not path or not isinstance(path, str) or not path.strip():
        raise PayloadError("data_source_path is required: pass it as an argument or in the payload")
    dst = normalize_data_source_type(
        data_source_type if data_source_type is not None else payload.get("data_source_type")
    )
    tenant = tenant_id or payload.get("tenant_id")
    if tenant is not None and not isinstance(tenant, str):
        raise PayloadError(f"tenant_id must be a string, got {type(tenant).__name__}")

    rid = run_id or payload.get("run_id") or None
    if rid is not None:
        rid = str(rid).strip()
        if not RUN_ID_PATTERN.match(rid):
            raise PayloadError(f"run_id {rid[:40]!r} is invalid: expected letters, digits and . _ : -")
    return JobRequest(
        workflow_id=workflow_id,
        source_id=source_id,
        job_type=jt,
        data_source_path=path.strip(),
        data_source_type=dst,
        tenant_id=tenant or None,
        run_id=rid or new_run_id(),
        write_to_db=write_to_db,
        include=_patterns(payload.get("include"), "include"),
        exclude=_patterns(payload.get("exclude"), "exclude"),
        csv_header=normalize_csv_header(payload.get("csv_header")),
    )
