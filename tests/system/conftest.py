"""Fixtures shared by several unit-test modules (tests/conftest.py holds the session-wide ones)."""

from __future__ import annotations

import sys

import pytest

# The fake interpreter LocalLauncher runs in place of Python (fixture fake_python): no JVM; the job's
# job_metadata.fake picks what it does.
FAKE = r'''#!{python}
import json, os, subprocess, sys, time
args = sys.argv[1:]
if "--payload" in args:
    sys.exit(9)  # the payload must never be on the command line
payload = json.loads(os.environ["NUVYN_JOB_PAYLOAD"])
run_id = args[args.index("--run-id") + 1]
result_file = args[args.index("--result-file") + 1]
mode = payload["job_metadata"].get("fake", "ok")


def result(code, status, summary=None, error=None):
    # what executor.main --result-file writes (executor.job_result), then the exit code
    with open(result_file + ".tmp", "w") as out:
        json.dump({"version": 1, "exit_code": code, "status": status, "run_id": run_id, "summary": summary,
                   "error_message": error}, out)
    os.replace(result_file + ".tmp", result_file)
    sys.exit(code)


if mode == "tree":  # a grandchild in the same process group, its pid written where the test looks
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    open(payload["job_metadata"]["pidfile"], "w").write(str(child.pid))
    time.sleep(120)
if mode == "sleep":
    time.sleep(float(payload["job_metadata"].get("seconds", 30)))
    mode = "ok"
if mode == "bad":
    print("2025 ERROR executor.main: workflow_id is required", file=sys.stderr)
    print("error: workflow_id is required: set job_metadata.workflow_id", file=sys.stderr)
    result(2, "failed", error="workflow_id is required: set job_metadata.workflow_id")
if mode == "crash":
    print("Traceback (most recent call last):\n  File x\nRuntimeError: /internal/path", file=sys.stderr)
    sys.exit(3)
status = {"ok": "succeeded", "partial": "partial", "fail": "failed"}[mode]
print("some chatter on stdout {not json")
print('{"status": "succeeded", "summary": "stdout is never read: only the result file counts"}')
result(1 if mode == "fail" else 0, status, {"tables": 2, "tables_failed": 1 if mode != "ok" else 0},
       "every table failed; first error: boom" if mode == "fail" else None)
'''


@pytest.fixture()
def fake_python(tmp_path):
    """FAKE as an executable file, for LocalLauncher(python=...)."""
    path = tmp_path / "fake-python"
    path.write_text(FAKE.replace("{python}", sys.executable))
    path.chmod(0o755)
    return str(path)
