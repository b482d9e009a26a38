"""Azurite (the Azure Storage emulator, from npm) for the Azure tests.

`azurite_blob()` yields an `Azurite` handle: it reuses an emulator given by NUVYN_AZURITE_URL
(e.g. http://127.0.0.1:10000), else starts `.tools/node_modules/.bin/azurite-blob` on a free
127.0.0.1 port with its data in a temp folder, and stops it afterwards. Tests are skipped (with
the reason) only when the binary is missing: `scripts/bootstrap.sh` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AZURITE_BIN = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# The emulator's well-known development key: public, but the tests treat it as a secret.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    endpoint: str  # http://127.0.0.1:<port>/devstoreaccount1
    pid: int | None = None  # the emulator we started (None when NUVYN_AZURITE_URL gave one)

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.endpoint};")

    def service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def url(self, container: str, prefix: str = "") -> str:
        return f"{self.endpoint}/{container}/{prefix}".rstrip("/") if prefix else f"{self.endpoint}/{container}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout: float | None = None) -> None:
    from tests.servers import wait_budget

    timeout = wait_budget(180) if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"azurite exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"azurite did not listen on 127.0.0.1:{port} within {timeout}s: {log.read_text()[-2000:]}")


def azurite_blob() -> Iterator[Azurite]:
    """Generator for a pytest fixture (see tests/integration/conftest.py). The emulator is stopped at
    teardown (also after Ctrl-C or SIGTERM, see tests/conftest.py) and dies with this process."""
    import pytest

    from tests.servers import die_with_parent

    given = os.environ.get("NUVYN_AZURITE_URL")
    if given:
        yield Azurite(given.rstrip("/") + f"/{ACCOUNT}")
        return
    if not AZURITE_BIN.exists():
        pytest.skip(f"azurite is not installed at {AZURITE_BIN} (run scripts/bootstrap.sh, needs npm)")
    data = Path(tempfile.mkdtemp(prefix="nuvyn-azurite-"))
    port = free_port()
    log = data / "azurite.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data / "db"),
             "--skipApiVersionCheck", "--loose", "--silent"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
    try:
        _wait_listening(port, proc, log)
        yield Azurite(f"http://127.0.0.1:{port}/{ACCOUNT}", pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(data, ignore_errors=True)


def upload_tree(azurite: Azurite, container: str, root: Path, prefix: str = "") -> int:
    """Upload every file under `root` to `container` at `prefix` (creating the container). Returns count."""
    svc = azurite.service()
    cc = svc.get_container_client(container)
    if not cc.exists():
        cc.create_container()
    n = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            with open(path, "rb") as fh:
                cc.upload_blob(f"{prefix}{rel}", fh, overwrite=True)
            n += 1
    return n
