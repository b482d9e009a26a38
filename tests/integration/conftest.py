"""Fixtures of the integration tests: Azurite for the Azure ones (see tests/azurite.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.azurite` importable

from tests.azurite import azurite_blob


@pytest.fixture(scope="session")
def azurite():
    yield from azurite_blob()
