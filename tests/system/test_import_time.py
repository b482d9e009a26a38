"""Nothing runs at import time: importing every executor module starts no Spark session, sets up
no logging and opens no socket. Checked in a fresh interpreter, so nothing a test did counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, logging, pkgutil, socket, sys, importlib

opened = []
_real_init = socket.socket.__init__
def _init(self, *a, **k):
    opened.append(repr(a))
    _real_init(self, *a, **k)
socket.socket.__init__ = _init
_real_getaddrinfo = socket.getaddrinfo
def _getaddrinfo(*a, **k):
    opened.append("getaddrinfo %r" % (a[:1],))
    return _real_getaddrinfo(*a, **k)
socket.getaddrinfo = _getaddrinfo

root_handlers = list(logging.getLogger().handlers)
import executor.main
after_main = sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j", "delta"))

import executor
names = []
for info in pkgutil.walk_packages(executor.__path__, "executor."):
    try:
        importlib.import_module(info.name)
        names.append(info.name)
    except ImportError as exc:  # an optional extra (fastapi, azure...) that this venv lacks
        names.append(info.name + " (skipped: %s)" % exc)

spark_active = False
if "pyspark" in sys.modules:
    from pyspark import SparkContext
    spark_active = SparkContext._active_spark_context is not None
print(json.dumps({
    "after_main": after_main,
    "modules": names,
    "spark_active": spark_active,
    "executor_handlers": len(logging.getLogger("executor").handlers),
    "root_handlers_added": len(logging.getLogger().handlers) - len(root_handlers),
    "executor_level": logging.getLogger("executor").level,
    "sockets": opened,
}))
"""


def test_importing_every_module_has_no_side_effects():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert "executor.main" in report["modules"] and "executor.spark_session" in report["modules"]
    assert len(report["modules"]) >= 15
    assert report["after_main"] == [], "import executor.main must not import pyspark"
    assert report["spark_active"] is False
    assert report["executor_handlers"] == 0 and report["root_handlers_added"] == 0
    assert report["executor_level"] == 0
    assert report["sockets"] == []
