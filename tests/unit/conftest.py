"""The unit suite starts no process: readers decode in this process (executor.sandbox's workers and
the files that kill a process are tested in tests/system/test_sandbox.py and the integration suite)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _decoders_in_process():
    from executor.sandbox import pool
    from executor.settings import SandboxSettings

    pool.use_shared_sandbox(pool.ReaderSandbox(SandboxSettings(isolation=False)))
    yield
    started = sum(p.stats().workers_started for p in list(pool._POOLS))
    assert started == 0, f"the unit suite started {started} reader worker process(es): move the test to tests/system"
