"""JSON log lines carry run_id / workflow_id / source_id; secrets never reach a log line."""

from __future__ import annotations

import json
import logging

import pytest

from executor.logging_setup import CONTEXT, configure_logging
from executor.redaction import Secret


@pytest.fixture()
def json_logs(capsys):
    root = logging.getLogger("executor")
    saved = (root.handlers[:], root.level, root.propagate)
    saved_ctx = dict(CONTEXT.context)
    configure_logging("INFO", "json")
    CONTEXT.context.update(run_id="run_abc", workflow_id="wf_1", source_id="src_1")
    yield lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    root.handlers[:], root.level, root.propagate = saved
    CONTEXT.context.clear()
    CONTEXT.context.update(saved_ctx)


def test_every_line_is_one_object_with_the_ids(json_logs):
    log = logging.getLogger("executor.some.module")
    log.info("listed %d files", 3)
    log.warning("table %s failed: %s", "t", "multi\nline")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("crashed")
    lines = json_logs()
    assert len(lines) == 3
    for obj in lines:
        assert {"ts", "level", "logger", "message", "run_id", "workflow_id", "source_id"} <= obj.keys()
        assert (obj["run_id"], obj["workflow_id"], obj["source_id"]) == ("run_abc", "wf_1", "src_1")
    assert lines[0]["message"] == "listed 3 files" and lines[1]["level"] == "WARNING"
    assert "ValueError: boom" in lines[2]["exception"]


def test_sas_token_redacted_in_message_args_and_registered_secrets(json_logs):
    token = "sv=2022-11-02&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&sig=AbCdEf0123456789%2Bxyz%3D"
    custom = "s3cr3t-value-no-key-prefix"
    Secret(custom)  # loaded as a Secret: known to the redactor
    log = logging.getLogger("executor.sources")
    log.info("opening https://acct.blob.core.windows.net/c/p?%s", token)
    log.info("connection uses %s", custom)
    log.error("sig=RAWSIGNATURE123 in the message itself")
    try:
        raise RuntimeError(f"auth failed for ?{token}")
    except RuntimeError:
        log.exception("listing failed")
    raw = json.dumps(json_logs())
    for secret in ("AbCdEf0123456789", custom, "RAWSIGNATURE123"):
        assert secret not in raw
    assert "sig=***" in raw


def test_progress_lines_are_json_too(json_logs):
    from executor.ops.progress import LogProgress

    clock = iter([0.0, 10.0]).__next__
    p = LogProgress(interval=5, clock=clock)
    p(None, {"tables_done": 1, "tables_total": 2, "files_done": 1, "files_total": 2, "bytes_done": 1,
             "bytes_total": 2, "rows": 5})
    (line,) = json_logs()
    assert line["logger"] == "executor.progress" and line["message"].startswith("progress: 1/2 tables")
    assert line["run_id"] == "run_abc"


def test_text_format_is_human(capsys):
    root = logging.getLogger("executor")
    saved = (root.handlers[:], root.level, root.propagate)
    try:
        configure_logging("INFO", "text")
        logging.getLogger("executor.x").info("hello token=abcdef123")
        err = capsys.readouterr().err
        assert "INFO executor.x: hello token=***" in err and not err.lstrip().startswith("{")
    finally:
        root.handlers[:], root.level, root.propagate = saved
