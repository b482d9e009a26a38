"""Arguments of `nuvyn-executor serve` (no FastAPI import: the CLI builds its parser cheaply)."""

from __future__ import annotations

import argparse

from executor.settings import LOG_LEVELS


def add_serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--no-auth", action="store_true",
                   help="run without bearer authentication (explicit opt-in; logged as a warning)")
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=None,
                   help="default NUVYN_LOG_LEVEL, else INFO")
