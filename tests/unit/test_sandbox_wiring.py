"""How a run gets its reader sandbox (no worker is started here: tests/system/test_sandbox.py and
tests/integration/test_isolation_job.py run them)."""

from __future__ import annotations

import pytest

from executor.context import ExecutorContext
from executor.errors import SettingsError
from executor.metadata.extractor import MetadataExtractor
from executor.sandbox.pool import SandboxUnavailable, shared_sandbox
from executor.settings import SETTINGS_CLASSES, SandboxSettings


def test_a_run_context_makes_one_sandbox_with_its_settings_and_no_credentials_then_closes_it():
    env = {"PATH": "/usr/bin", "AZURE_STORAGE_KEY": "k", "DATABRICKS_TOKEN": "t", "NUVYN_READER_WORKERS": "3",
           "NUVYN_READER_TIMEOUT_SECONDS": "7.5"}
    context = ExecutorContext(env=env)
    box = context.sandbox
    assert box is context.sandbox and context.extractor.sandbox is box  # one per run, the extractor's too
    assert (box.size, box.settings.timeout_seconds, box.isolated) == (3, 7.5, True)
    assert box._env == {"PATH": "/usr/bin", "NUVYN_READER_WORKERS": "3", "NUVYN_READER_TIMEOUT_SECONDS": "7.5"}
    context.close_sandbox()
    with pytest.raises(SandboxUnavailable, match="the reader sandbox is closed"):
        box.run(len, b"x")
    assert context.sandbox is not box and context.extractor.sandbox is context.sandbox  # the next run's
    context.close_sandbox()
    context.close_sandbox()  # idempotent


def test_sandbox_settings_are_typed_settings_read_like_the_others():
    assert SandboxSettings in SETTINGS_CLASSES
    assert ExecutorContext(env={"NUVYN_READER_ISOLATION": "false"}).sandbox.isolated is False
    with pytest.raises(SettingsError, match="NUVYN_READER_MEMORY_MB=-1 must be >= 0"):
        ExecutorContext(env={"NUVYN_READER_MEMORY_MB": "-1"}).sandbox  # noqa: B018


def test_an_extractor_given_no_sandbox_uses_the_process_shared_one():
    assert MetadataExtractor(None).sandbox is shared_sandbox()
    assert shared_sandbox().isolated is False  # tests/unit/conftest.py: the unit suite decodes in process
