"""Runs executor.main with a fault injected into the writer (tests only).

NUVYN_TEST_PAUSE_AFTER=<table>: after appending to <table>, touch NUVYN_TEST_MARKER and sleep
(the test then kills the process with SIGKILL).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.main import main
from executor.storage.writer import TablesWriter

pause_after = os.environ.get("NUVYN_TEST_PAUSE_AFTER")
marker = os.environ.get("NUVYN_TEST_MARKER")
original = TablesWriter.append


def _append(self, name, rows, app_id):
    original(self, name, rows, app_id)
    if name == pause_after and marker:
        Path(marker).write_text(app_id)
        time.sleep(600)


TablesWriter.append = _append

if __name__ == "__main__":
    sys.exit(main())
