"""A source that cannot be listed fails before Spark starts (no pyspark import, so no JVM), with
the message a run records, printed once; nothing is written. Each case runs in a fresh interpreter
so that "pyspark was never imported" means something."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

PROBE = """
import json, sys
from executor.{module} import main
code = main({argv!r})
sys.stdout.flush()
print("\\nPROBE " + json.dumps({{"code": code, "pyspark": "pyspark" in sys.modules}}))
"""


def _run(module: str, argv: list[str], warehouse: Path, **extra_env: str) -> tuple[dict, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUVYN_", "AZURE_", "DATABRICKS_"))}
    env.update({"NUVYN_WAREHOUSE_DIR": str(warehouse), "PYTHONPATH": str(REPO), **extra_env})
    proc = subprocess.run([sys.executable, "-c", PROBE.format(module=module, argv=argv)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert "PROBE " in proc.stdout, proc.stderr[-3000:]
    head, _, probe = proc.stdout.rpartition("PROBE ")
    return json.loads(probe), head, proc.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


def test_missing_path_fails_before_spark_with_the_run_message(tmp_path):
    wh = tmp_path / "wh"
    probe, out, err = _run("main", ["metadata_extraction", str(tmp_path / "nope"), "auto", "default",
                                    "--workflow_id=wf_fast", "--write-to-db"], wh)
    assert probe == {"code": 1, "pyspark": False}
    report = json.loads(out)
    assert report["status"] == "failed"
    assert report["error_message"] == f"Source path {tmp_path / 'nope'} does not exist; check data_source_path"
    assert report["summary"]["recorded"] is False and report["summary"]["spark_jobs"] == 0
    assert "does not exist" not in err  # in the report only: printed once
    assert "metadata tables:" not in err  # nothing written, so no location line
    assert not wh.exists()


def test_extract_missing_path_fails_before_spark(tmp_path):
    probe, out, err = _run("cli", ["extract", str(tmp_path / "nope"), "--workflow-id", "wf_fast",
                                   "--write-to-db", "--progress", "off"], tmp_path / "wh")
    assert probe == {"code": 1, "pyspark": False}
    assert (out + err).count("does not exist; check data_source_path") == 1
    assert "FAILED" in out
    assert out.rstrip().splitlines()[-1] == "nothing written: the source could not be listed, Spark was not started"


def test_unreachable_account_fails_before_spark(tmp_path):
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/devstoreaccount1/lake/data"
    probe, out, err = _run("main", ["metadata_extraction", url, "auto", "default", "--workflow_id=wf_fast",
                                    "--write-to-db"], tmp_path / "wh", NUVYN_AZURE_ACCOUNT_KEY=ACCOUNT_KEY,
                           NUVYN_AZURE_EMULATOR_HOSTS=f"127.0.0.1:{port}")
    assert probe == {"code": 1, "pyspark": False}
    message = json.loads(out)["error_message"]
    assert "storage account 'devstoreaccount1' is unreachable" in message and "check the account name" in message
    assert ACCOUNT_KEY not in out + err


def test_bad_pattern_fails_before_spark_printed_once(tmp_path):
    payload = json.dumps({"workflow_id": "wf_fast", "include": 42})
    probe, out, err = _run("main", ["metadata_extraction", str(REPO / "samples" / "lake"), "auto", "default",
                                    "--payload", payload, "--write-to-db"], tmp_path / "wh")
    assert probe == {"code": 2, "pyspark": False}
    assert err.count("include must be a list of glob patterns") == 1 and err.startswith("error: ")


def test_bad_setting_is_reported_once_without_spark(tmp_path):
    probe, out, err = _run("main", ["metadata_extraction", str(tmp_path), "auto", "default",
                                    "--workflow_id=wf_fast", "--write-to-db"], tmp_path / "wh",
                           NUVYN_IO_THREADS="many")
    assert probe["pyspark"] is False and probe["code"] != 0
    assert (out + err).count("NUVYN_IO_THREADS='many' is not an integer") == 1
