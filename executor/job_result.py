"""The result file a job leaves for whoever started it: exit code, run status, summary, error.

`python -m executor.main --result-file PATH` writes it once, atomically, as its last act (also for
bad input, exit code 2); the API's local launcher reads it to finish the job's record instead of
parsing the child's stdout and stderr. A job that dies before (killed, crashed) leaves none: the
launcher then goes by the exit code alone. Pure: no Spark, no Azure, no HTTP.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULT_VERSION = 1


@dataclass(frozen=True)
class JobResult:
    exit_code: int  # executor.run.EXIT_*
    status: str  # the run's status (executor.metadata.model RUN_*)
    run_id: str | None = None
    summary: dict[str, Any] | None = None
    error_message: str | None = None  # already redacted


def write_result(path: str | os.PathLike[str], result: JobResult) -> None:
    """Write `result` to `path` (mode 0600) by a rename, so a reader sees the whole file or none."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"version": RESULT_VERSION, **asdict(result)}, out, default=str, ensure_ascii=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_result(path: str | os.PathLike[str]) -> JobResult | None:
    """The result at `path`, or None when there is none or it is not one (a job that died early)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != RESULT_VERSION:
        return None
    code, status = data.get("exit_code"), data.get("status")
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(status, str):
        return None
    summary = data.get("summary")
    error = data.get("error_message")
    run_id = data.get("run_id")
    return JobResult(exit_code=code, status=status, run_id=run_id if isinstance(run_id, str) else None,
                     summary=summary if isinstance(summary, dict) else None,
                     error_message=error if isinstance(error, str) else None)
