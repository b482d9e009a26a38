"""Logging set-up for the entry points only (never at import). Every line is scrubbed of secrets."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import resources
from typing import TYPE_CHECKING, TextIO

from executor.redaction import SECRETS
from executor.settings import LogSettings


class RedactingFilter(logging.Filter):
    """Replaces secrets in the formatted message before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):  # a bad format string must not kill logging
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


if TYPE_CHECKING:
    _StreamHandler = logging.StreamHandler[TextIO]
else:  # not subscriptable at run time before Python 3.11
    _StreamHandler = logging.StreamHandler


class _StderrHandler(_StreamHandler):
    """Writes to whatever sys.stderr is at emit time (tests and notebooks swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)

    def flush(self) -> None:
        self.stream = sys.stderr
        super().flush()


def log_options(level: str | None, fmt: str | None, env: Mapping[str, str]) -> tuple[str, str]:
    """--log-level / --log-format when given, else NUVYN_LOG_LEVEL / NUVYN_LOG_FORMAT (LogSettings),
    else INFO / text. Raises SettingsError naming a bad variable."""
    settings = LogSettings.from_env(env)
    return (level or settings.level).upper(), fmt or settings.format


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


# ---------------------------------------------------------------------- the JVM's output

LOG4J2_PROPERTIES = "resources/log4j2.properties"

_IVY_PREFIXES = (
    ":: ",  # :: loading settings ::, :: resolving dependencies ::, :: resolution report ::, :: retrieving ::
    "Ivy Default Cache set to",
    "The jars for the packages stored in",
    "downloading ",
    "Setting default log level to",
    "To adjust logging level use sc.setLogLevel",
)
_IVY_TAB_PREFIXES = ("confs: ", "found ", ":: ", "---", "|", "[SUCCESSFUL ]", "unknown resolver", "====",
                     "::::", "module not found", "tried", "-- artifact", "host ", "\t")


def log4j2_properties() -> str:
    """Path of the log4j2 configuration shipped in the package (executor/resources)."""
    return str(resources.files("executor").joinpath(LOG4J2_PROPERTIES))


def jvm_log_level(env: Mapping[str, str]) -> str:
    """Level of the JVM's log4j output: NUVYN_SPARK_LOG_LEVEL, else INFO when the executor logs at
    DEBUG (`--log-level DEBUG`), else ERROR."""
    explicit = LogSettings.from_env(env).spark_level
    if explicit:
        return explicit
    return "INFO" if logging.getLogger("executor").isEnabledFor(logging.DEBUG) else "ERROR"


def jvm_java_options(level: str) -> str:
    """The driver JVM's options that make it quiet: our log4j2 file at `level` (jvm_log_level)."""
    return f"-Dlog4j2.configurationFile=file:{log4j2_properties()} -Dnuvyn.spark.log.level={level.lower()}"


def jvm_noise(line: str) -> bool:
    """True for the lines Ivy prints while it resolves --packages / spark.jars.packages (settings,
    resolution report, retrieve summary, proxy warnings) and Spark's default-log-level hint. They
    are dropped unless the JVM logs at INFO or finer; kept and replayed when the start fails."""
    if line.startswith(_IVY_PREFIXES) or line.rstrip().endswith(" added as a dependency"):
        return True
    if line.startswith("\t"):
        body = line.lstrip("\t")
        return (body.startswith(_IVY_TAB_PREFIXES) or " from " in body and " in [" in body
                or body.rstrip().endswith("already retrieved (0kB)") or " artifacts copied, " in body)
    return False
