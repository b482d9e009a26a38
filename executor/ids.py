"""Run identifiers: one generator for the request parser, the API and the metadata writer."""

from __future__ import annotations

import uuid


def new_run_id() -> str:
    """A fresh run id, `run_<32 hex digits>`."""
    return f"run_{uuid.uuid4().hex}"
