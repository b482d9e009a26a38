"""`import executor.payload` loads no reader, no numpy and no pyarrow (issue 23): the payload reads
the names-only format list (executor/formats.py). Checked in a fresh interpreter (tests/system: it
starts a process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_payload_loads_no_reader_numpy_or_pyarrow():
    code = ("import sys, json, executor.payload\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pyarrow', 'pyspark', 'fastavro')"
            " or m.startswith('executor.metadata'))\n"
            "print(json.dumps(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout) == []
