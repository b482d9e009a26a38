"""Logging set-up for the entry points only (never at import). Every line is scrubbed of secrets."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from executor.redaction import SECRETS


class RedactingFilter(logging.Filter):
    """Replaces secrets in the formatted message before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not kill logging
            message = str(record.msg)
        record.msg = SECRETS.redact(message)
        record.args = ()
        return True


class ContextFilter(logging.Filter):
    """Adds run_id, workflow_id and source_id to every record."""

    def __init__(self) -> None:
        super().__init__()
        self.context: dict[str, str | None] = {"run_id": None, "workflow_id": None, "source_id": None}

    def filter(self, record: logging.LogRecord) -> bool:
        for k, v in self.context.items():
            setattr(record, k, v)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        obj = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": getattr(record, "run_id", None),
            "workflow_id": getattr(record, "workflow_id", None),
            "source_id": getattr(record, "source_id", None),
        }
        if record.exc_info:
            obj["exception"] = SECRETS.redact(self.formatException(record.exc_info))
        return json.dumps(obj, ensure_ascii=False)


CONTEXT = ContextFilter()


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at emit time (tests and notebooks swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = _StderrHandler()
    handler.addFilter(CONTEXT)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("executor")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    for noisy in ("py4j", "azure", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
