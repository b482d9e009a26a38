"""Issue 13 item 1: the server's Azure credentials never go to a caller-chosen host.

A loopback listener records every byte it receives while an attacker with a valid token sends every
variant we know of (emulator form on the listener, Azure-looking hosts, other accounts, managed
identity for an unlisted account); the same paths also go straight to the job's own code path.
The listener must receive zero connections, so zero secrets."""

from __future__ import annotations

import socket
import threading

import pytest
from fastapi.testclient import TestClient

from executor.errors import PayloadError, SourceError
from executor.redaction import Secret
from executor.settings import Settings, reveal
from executor.sources.azure import resolve_credential
from executor.sources.location import emulator_hosts, parse_location
from tests.api_helpers import AUTH, make_app

SAS_SECRET = "sig=S3cr3tSASsignatureValue0123456789abcd"
ACCOUNT_KEY = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk="
AZURITE = "http://127.0.0.1:10999/devstoreaccount1"  # the configured emulator (nothing listens there)


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection and every byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.settimeout(1.0)
            try:
                while chunk := conn.recv(65536):
                    self.received += chunk
            except OSError:
                pass
            conn.close()

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def _attacks(port: int) -> list[tuple[str, str | None]]:
    here = f"127.0.0.1:{port}"
    return [
        (f"http://{here}/devstoreaccount1/lake/raw", "azure_blob"),  # emulator form, the server's account name
        (f"http://{here}/devstoreaccount1/lake/raw", None),
        (f"https://{here}/devstoreaccount1/lake/raw", "adls_gen2"),
        (f"http://localhost:{port}/devstoreaccount1/lake", "azure_blob"),
        (f"http://user:pw@{here}/devstoreaccount1/lake", "azure_blob"),
        (f"http://{here}/otheraccount/lake", "azure_blob"),
        (f"http://{here}/devstoreaccount1/lake?sv=2020&sig=attacker", "azure_blob"),
        ("https://evilacct.blob.core.windows.net/c/x", "azure_blob"),  # managed identity for another account
        ("abfss://c@evilacct.dfs.core.windows.net/x", None),
        ("wasbs://c@devstoreaccount2.blob.core.windows.net/x", None),
    ]


@pytest.mark.parametrize("credential", ["sas", "key", "identity"])
def test_no_secret_reaches_a_caller_chosen_host(tmp_path, credential):
    if credential == "sas":
        env = {"AZURE_STORAGE_CONNECTION_STRING": f"BlobEndpoint={AZURITE};SharedAccessSignature=sv=2020&{SAS_SECRET}"}
    elif credential == "key":
        env = {"AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                                  f"AccountKey={ACCOUNT_KEY};BlobEndpoint={AZURITE};"}
    else:  # DefaultAzureCredential (managed identity), allowed for one named account only
        env = {"NUVYN_AZURE_CREDENTIAL_ACCOUNTS": "goodacct"}
    with Listener() as listener:
        app, launcher, _ = make_app(tmp_path, env=env)
        with TestClient(app) as client:
            for path, kind in _attacks(listener.port):
                body = {"job_type": "metadata_extraction", "workflow_id": "w1", "data_source_path": path}
                if kind:
                    body["data_source_type"] = kind
                r = client.post("/jobs/create", json=body, headers=AUTH)
                assert r.status_code == 403, (path, r.status_code, r.text)
                assert SAS_SECRET not in r.text and ACCOUNT_KEY not in r.text
        # the job's own code path refuses the same paths before connecting (API or not)
        settings = Settings.from_env(env)
        hosts = emulator_hosts(settings.azure_connection_string, settings.azure_emulator_hosts)
        for path, kind in _attacks(listener.port):
            with pytest.raises((PayloadError, SourceError)):
                loc = parse_location(path, kind, hosts)
                resolve_credential(loc, settings)
                raise AssertionError(f"{path} would be read with the server's credential")
    assert launcher.submitted == []
    assert listener.connections == 0
    assert bytes(listener.received) == b""
    for secret in (SAS_SECRET, ACCOUNT_KEY, "S3cr3t"):
        assert secret.encode() not in listener.received


def test_the_configured_emulator_and_own_account_still_work(tmp_path):
    env = {"AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                              f"AccountKey={ACCOUNT_KEY};BlobEndpoint={AZURITE};",
           "NUVYN_AZURE_EMULATOR_HOSTS": "127.0.0.1:10998"}
    app, launcher, _ = make_app(tmp_path, env=env)
    body = {"job_type": "metadata_extraction", "workflow_id": "w1", "data_source_type": "azure_blob"}
    with TestClient(app) as client:
        ok = client.post("/jobs/create", json={**body, "data_source_path": f"{AZURITE}/lake/raw"}, headers=AUTH)
        assert ok.status_code == 200, ok.text
        # a listed emulator host, but the connection string's key is only for its own BlobEndpoint
        other = client.post("/jobs/create", json={
            **body, "data_source_path": "http://127.0.0.1:10998/devstoreaccount1/lake"}, headers=AUTH)
        assert other.status_code == 403 and "serves its own endpoint only" in other.json()["error"]
        # a SAS token of the caller's own, for a listed emulator host, is the caller's business
        own = client.post("/jobs/create", json={
            **body, "data_source_path": "http://127.0.0.1:10998/devstoreaccount1/lake?sv=1&sig=callers"},
            headers=AUTH)
        assert own.status_code == 200, own.text
    assert launcher.submitted == [ok.json()["job_id"], own.json()["job_id"]]


def test_identity_and_account_key_only_for_listed_accounts():
    loc = parse_location("https://goodacct.blob.core.windows.net/c/x")
    bad = parse_location("https://evilacct.blob.core.windows.net/c/x")
    s = Settings(azure_credential_accounts="goodacct", azure_account_key=ACCOUNT_KEY)
    assert reveal(resolve_credential(loc, s).account_key) == ACCOUNT_KEY
    with pytest.raises(SourceError, match="NUVYN_AZURE_CREDENTIAL_ACCOUNTS") as err:
        resolve_credential(bad, s)
    assert ACCOUNT_KEY not in str(err.value)
    with pytest.raises(SourceError, match="NUVYN_AZURE_CREDENTIAL_ACCOUNTS"):
        resolve_credential(bad, Settings(azure_credential_accounts="goodacct"))
    assert resolve_credential(parse_location(
        "https://evilacct.blob.core.windows.net/c/x?sv=1&sig=own"), s).sas_token == Secret("sv=1&sig=own")
