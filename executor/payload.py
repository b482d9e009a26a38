"""The job request: the payload, the one precedence rule, validation. Pure: no Spark, no Azure, no HTTP.

Every entry point builds its JobRequest with `build_request` (README, "Where each request field
comes from"). For each field the first level that gives a non-empty value wins:
  1. a value given explicitly for this invocation: a flag of `nuvyn-executor extract`, a parameter
     of `python -m executor.main` (positional or named, `--workflow_id=`, `--run-id`), a keyword of
     build_request;
  2. for workflow_id and source_id only: the payload's job_metadata.<id>;
  3. the payload's top-level field (the API's POST /jobs/create body is a payload);
  4. for include and exclude only: NUVYN_INCLUDE / NUVYN_EXCLUDE (JobInputSettings);
  5. the field's default;
format_options merge per (format, option) by the same levels: an explicit csv.header (a flag) wins over
the payload's, the payload's xml.rowTag stays. `csv_header` is an alias of format_options.csv.header
at its level (both given at one level with different values: refused); workflow_id has none: "workflow_id is required" (extract --dry-run: dry_run).
Within the payload this is the v2 contract's rule (1. job_metadata.workflow_id, 2. top-level
workflow_id, 3. fail); an explicit value outranks the payload because it is more specific (one
invocation) than a payload that may be the cluster's NUVYN_JOB_PAYLOAD. A value that loses to
a different one is logged (warning for the ids).
The payload itself is the `--payload` parameter when it is non-blank, else NUVYN_JOB_PAYLOAD.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from executor.errors import PayloadError
from executor.formats import (
    FORMAT_NAMES,
    FormatOptions,
    OptionValue,
    merge_format_options,
    parse_format_option_flag,
    parse_format_options,
)
from executor.ids import new_run_id
from executor.settings import JobInputSettings

logger = logging.getLogger(__name__)

PAYLOAD_ENV = "NUVYN_JOB_PAYLOAD"
MAX_PAYLOAD_BYTES = 1_000_000
MAX_PAYLOAD_DEPTH = 16

JOB_TYPES = ("metadata_extraction",)
FILE_FORMATS = FORMAT_NAMES  # executor.formats: the names-only list (no reader is imported)
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


def select_payload(parameter: str | None, inputs: JobInputSettings) -> dict[str, Any]:
    """The job's payload: the `--payload` parameter when it is given and non-blank, else
    NUVYN_JOB_PAYLOAD (JobInputSettings.payload), else {}. Raises PayloadError naming its origin."""
    if parameter is not None and parameter.strip():
        return parse_payload_json(parameter, "--payload")
    return parse_payload_json(inputs.payload, PAYLOAD_ENV)


REQUEST_FIELDS = ("workflow_id", "source_id", "job_type", "data_source_path", "data_source_type", "tenant_id",
                  "run_id", "include", "exclude", "csv_header", "format_options")
ID_FIELDS = ("workflow_id", "source_id")  # the fields job_metadata may carry
EXPLICIT, JOB_METADATA, PAYLOAD, ENVIRONMENT = "explicit", "job_metadata", "payload", "environment"


def is_given(value: object) -> bool:
    """A value is absent when None, blank or an empty list: the next level is asked."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple)):
        return bool(value)
    return True


def _job_metadata(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = payload.get("job_metadata")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise PayloadError(f"job_metadata must be a JSON object, got {type(meta).__name__}")
    return meta


def _levels(name: str, explicit: Mapping[str, object], payload: Mapping[str, Any],
            inputs: JobInputSettings | None) -> list[tuple[str, object]]:
    """(level, value) of every level that gives `name`, highest first (the module's rule)."""
    levels: list[tuple[str, object]] = [(EXPLICIT, explicit.get(name))]
    if name in ID_FIELDS:
        levels.append((JOB_METADATA, _job_metadata(payload).get(name)))
    levels.append((PAYLOAD, payload.get(name)))
    if inputs is not None and name in ("include", "exclude"):
        levels.append((ENVIRONMENT, getattr(inputs, name)))
    return [(level, value) for level, value in levels if is_given(value)]


def _where(name: str, level: str) -> str:
    return {EXPLICIT: f"the explicit {name}", JOB_METADATA: f"job_metadata.{name}",
            PAYLOAD: f"the payload's {name}", ENVIRONMENT: f"NUVYN_{name.upper()}"}[level]


def pick(name: str, explicit: Mapping[str, object], payload: Mapping[str, Any],
         inputs: JobInputSettings | None = None) -> tuple[str | None, object]:
    """(level, value) of the level that wins for `name`, or (None, None) when none gives it. A lower
    level with a different value is logged: a warning for the ids, debug for the other fields."""
    found = _levels(name, explicit, payload, inputs)
    if not found:
        return None, None
    level, value = found[0]
    for lower, other in found[1:]:
        if str(other).strip() == str(value).strip():
            continue
        if name in ID_FIELDS:
            logger.warning("%s %r from %s wins over %r from %s", name, _shown(value), _where(name, level),
                           _shown(other), _where(name, lower))
        else:  # values unshown: a path may carry a SAS token
            logger.debug("%s from %s wins over %s", name, _where(name, level), _where(name, lower))
    return level, value


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 64 else text[:64] + "..."


def _clean_id(value: object, name: str, level: str | None) -> str | None:
    if value is None:
        return None
    where = "job_metadata." if level == JOB_METADATA else ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise PayloadError(f"{where}{name} must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if text == "":
        return None
    if not ID_PATTERN.match(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise PayloadError(f"{name} {shown!r} is invalid: expected {ID_RULE}")
    return text


def _resolve_id(name: str, payload: Mapping[str, Any], explicit: Mapping[str, object] | None = None) -> str | None:
    level, value = pick(name, explicit or {}, payload)
    return _clean_id(value, name, level)


def resolve_workflow_id(payload: Mapping[str, Any]) -> str | None:
    """job_metadata.workflow_id, else top-level workflow_id, else None (the contract's rule)."""
    return _resolve_id("workflow_id", payload)


def resolve_source_id(payload: Mapping[str, Any]) -> str | None:
    """job_metadata.source_id, else top-level source_id, else None (it is only a filter)."""
    return _resolve_id("source_id", payload)


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
    # format name -> {option: value}, validated against executor.formats (the payload's format_options)
    format_options: FormatOptions = field(default_factory=dict)

    @property
    def csv_header(self) -> str:
        """format_options.csv.header (the payload's csv_header is its alias): auto, true or false."""
        return str(self.format_options.get("csv", {}).get("header", "auto"))

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


def split_patterns(value: object, name: str) -> tuple[str, ...]:
    """Glob patterns from a list, a comma-separated string, or a list of comma-separated strings
    (repeated flags)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (list, tuple)) and all(isinstance(p, str) for p in value):
        return tuple(part.strip() for p in value for part in p.split(",") if part.strip())
    raise PayloadError(f"{name} must be a list of glob patterns or a comma-separated string")


def _text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{name} must be a string, got {type(value).__name__}")
    return value.strip() or None


def _run_id(value: object) -> str:
    if value is None:
        return new_run_id()
    rid = str(value).strip()
    if not RUN_ID_PATTERN.match(rid):
        raise PayloadError(f"run_id {rid[:40]!r} is invalid: expected letters, digits and . _ : -")
    return rid


def build_request(payload: Mapping[str, Any], given: Mapping[str, object] | None = None, *,
                  inputs: JobInputSettings | None = None, write_to_db: bool = True,
                  dry_run_workflow_id: str | None = None, **keywords: object) -> JobRequest:
    """The JobRequest of one invocation: `payload` (the payload or API body), `inputs` (the environment
    defaults: NUVYN_INCLUDE / NUVYN_EXCLUDE) and the explicit values (`given` and the keywords, named as
    REQUEST_FIELDS), combined by the module's precedence rule. `dry_run_workflow_id` stands in when
    nothing gives a workflow_id (extract --dry-run, which writes nothing). Raises PayloadError naming
    the field."""
    explicit = {**(given or {}), **keywords}
    unknown = sorted(set(explicit) - set(REQUEST_FIELDS))
    if unknown:
        raise TypeError(f"build_request got unknown fields {unknown}; expected some of {REQUEST_FIELDS}")

    def value(name: str) -> object:
        return pick(name, explicit, payload, inputs)[1]

    workflow_id = _resolve_id("workflow_id", payload, explicit) or dry_run_workflow_id
    if not workflow_id:
        raise PayloadError(
            "workflow_id is required: set job_metadata.workflow_id or workflow_id in the payload "
            f"(--payload or {PAYLOAD_ENV}), or pass --workflow-id; the executor never generates one"
        )
    job_type = _text("job_type", value("job_type")) or "metadata_extraction"
    if job_type not in JOB_TYPES:
        raise PayloadError(f"Unknown job_type {job_type[:64]!r}; expected one of: {', '.join(JOB_TYPES)}")
    path = _text("data_source_path", value("data_source_path"))
    if not path:
        raise PayloadError("data_source_path is required: pass it as an argument or in the payload")
    return JobRequest(
        workflow_id=workflow_id,
        source_id=_resolve_id("source_id", payload, explicit),
        job_type=job_type,
        data_source_path=path,
        data_source_type=normalize_data_source_type(value("data_source_type")),
        tenant_id=_text("tenant_id", value("tenant_id")),
        run_id=_run_id(value("run_id")),
        write_to_db=write_to_db,
        include=split_patterns(value("include"), "include"),
        exclude=split_patterns(value("exclude"), "exclude"),
        format_options=resolve_format_options(explicit, payload),
    )


def _level_format_options(level: str, source: Mapping[str, Any]) -> dict[str, dict[str, OptionValue]]:
    """One level's format_options with its csv_header folded in (the alias of format_options.csv.header).
    An explicit format_options may be a list of FORMAT.OPTION=VALUE strings (repeated --format-option)."""
    where = "--format-option" if level == EXPLICIT else "format_options"
    raw = source.get("format_options")
    if level == EXPLICIT and isinstance(raw, (list, tuple)):
        options = merge_format_options(*(parse_format_option_flag(str(x)) for x in reversed(raw)))
    else:
        options = parse_format_options(raw, where)
    alias = source.get("csv_header")
    if is_given(alias):
        header = normalize_csv_header(alias)
        given = options.get("csv", {}).get("header")
        if given is not None and given != header:
            raise PayloadError(f"csv_header {header!r} and {where} csv.header {given!r} differ; give one "
                               "(csv_header is an alias of format_options.csv.header)")
        options.setdefault("csv", {})["header"] = header
    return options


def resolve_format_options(explicit: Mapping[str, object], payload: Mapping[str, Any]) -> dict[str, dict[str, OptionValue]]:
    """format_options by the module's rule, per (format, option): explicit values, then the payload."""
    return merge_format_options(_level_format_options(EXPLICIT, explicit), _level_format_options(PAYLOAD, payload))
