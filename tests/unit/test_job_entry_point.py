"""The wheel task's entry point turns a failed run into an exception (the launcher ignores return
values), and leaves a succeeded or partial run alone."""

from __future__ import annotations

import pytest

import executor.main as m


@pytest.mark.parametrize("code", [m.EXIT_FAILED, m.EXIT_BAD_INPUT])
def test_job_main_raises_on_failure(monkeypatch, code):
    monkeypatch.setattr(m, "main", lambda: code)
    with pytest.raises(m.JobFailedError) as info:
        m.job_main()
    assert info.value.code == code and f"exit code {code}" in str(info.value)


def test_job_main_returns_on_success(monkeypatch):
    monkeypatch.setattr(m, "main", lambda: m.EXIT_OK)
    assert m.job_main() is None


def test_bad_input_through_job_main(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["nuvyn_executor", "--payload=", "--run-id=7", "--write-to-db"])
    monkeypatch.delenv("NUVYN_JOB_PAYLOAD", raising=False)
    with pytest.raises(m.JobFailedError):
        m.job_main()
    assert "workflow_id is required" in capsys.readouterr().err
