"""Azure credentials the Databricks way (executor/sources/databricks_credentials.py), each branch
against a local HTTP double of the Databricks API (127.0.0.1, real HTTP through databricks-sdk's
client; the control plane is the one place a fake is allowed) and real Azurite:

- Unity Catalog's temporary path credential: the double checks the request (path, bearer token, the
  path's abfss URL, PATH_READ) and hands out an Azurite SAS (read + list, for that container); the
  store then lists and reads the blobs on Azurite with it, renews it before it expires, and the SAS
  never reaches the logs. With the SDK's typed API and with the REST form an older SDK uses.
- Unity Catalog refuses (no external location, no privilege): the service principal of the secret
  scope is read through the secrets API and becomes azure-identity's ClientSecretCredential (a token
  credential: Azurite over http cannot take one, so no listing with it here); without a scope the
  order goes on to DefaultAzureCredential.
- A credential issued for another account or container is refused; the service principal serves only
  NUVYN_AZURE_CREDENTIAL_ACCOUNTS when set.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from executor.errors import SourceError
from executor.settings import Settings
from executor.sources.azure import AzureBlobFileStore, resolve_credential
from executor.sources.databricks_credentials import SERVICE_PRINCIPAL, UNITY_CATALOG, GovernedCredentials
from executor.sources.location import source_location
from tests.azurite import ACCOUNT, ACCOUNT_KEY, upload_tree
from tests.http_doubles import JsonApiHandler

pytestmark = pytest.mark.azure

TOKEN = "dapi-governed-credentials-test"
CONTAINER = "governed"
SP_SECRET = "sp-client-secret-value-7f3e9a"
SP = {"tenant-id": "0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f", "client-id": "11111111-2222-4333-8444-555555555555",
      "client-secret": SP_SECRET}


class DatabricksApiDouble:
    """Temporary path credentials and secrets, as the workspace answers them."""

    def __init__(self, azurite) -> None:
        self.azurite = azurite
        self.mode = "grant"  # grant | refuse | no_location | other_account
        self.lifetime_s = 3600.0
        self.clock = time.time  # the workspace's clock: expiration_time = clock() + lifetime_s
        self.requests: list[dict] = []
        self.errors: list[str] = []
        self.issued: list[str] = []
        double = self

        class Handler(JsonApiHandler):
            def do_POST(self):
                body = self._posted(double.requests)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._reply(401, {"error_code": "UNAUTHENTICATED", "message": "bad token"})
                if self.path != "/api/2.0/unity-catalog/temporary-path-credentials":
                    double.errors.append(f"unexpected POST {self.path}")
                    return self._reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": self.path})
                return self._reply(*double.temporary_credential(body))

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path == "/.well-known/databricks-config":  # the SDK's host metadata probe
                    return self._reply(404, {"error_code": "NOT_FOUND", "message": self.path})
                double.requests.append({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")})
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._reply(401, {"error_code": "UNAUTHENTICATED", "message": "bad token"})
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path != "/api/2.0/secrets/get" or query.get("scope") != "nuvyn-sp":
                    return self._reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such secret"})
                value = SP.get(query.get("key", ""))
                if value is None:
                    return self._reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such key"})
                return self._reply(200, {"key": query["key"], "value": base64.b64encode(value.encode()).decode()})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def temporary_credential(self, body: dict) -> tuple[int, dict]:
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        want = f"abfss://{CONTAINER}@{ACCOUNT}.dfs.core.windows.net/raw"
        if body != {"url": want, "operation": "PATH_READ"}:
            self.errors.append(f"unexpected request {body}")
        if self.mode == "refuse":
            return 403, {"error_code": "PERMISSION_DENIED",
                         "message": "User does not have EXTERNAL USE LOCATION on the external location"}
        if self.mode == "no_location":
            return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "no external location covers the path"}
        start = datetime.now(timezone.utc) - timedelta(minutes=5) + timedelta(seconds=len(self.issued))
        sas = generate_container_sas(ACCOUNT, CONTAINER, account_key=ACCOUNT_KEY, start=start,
                                     permission=ContainerSasPermissions(read=True, list=True),
                                     expiry=datetime.now(timezone.utc) + timedelta(hours=2))
        self.issued.append(sas)
        url = want if self.mode != "other_account" else "abfss://governed@otheracct.dfs.core.windows.net/raw"
        return 200, {"azure_user_delegation_sas": {"sas_token": sas}, "url": url,
                     "expiration_time": int((self.clock() + self.lifetime_s) * 1000)}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def lake(azurite, tmp_path_factory):
    root = tmp_path_factory.mktemp("governed-lake")
    (root / "sales").mkdir()
    (root / "sales" / "part-1.csv").write_text("id,amount\n1,10\n2,20\n")
    (root / "sales" / "part-2.csv").write_text("id,amount\n3,30\n")
    upload_tree(azurite, CONTAINER, root, prefix="raw/")
    return azurite


@pytest.fixture()
def double(lake):
    d = DatabricksApiDouble(lake)
    yield d
    d.close()


def _emitted(caplog) -> str:
    """The log lines the executor's logging configuration would emit (executor/logging_setup.py: the
    executor's loggers at DEBUG, the azure and urllib3 libraries from WARNING), as text."""
    return "\n".join(r.getMessage() for r in caplog.records
                     if r.name.startswith("executor") or r.levelno >= logging.WARNING)


def _settings(azurite, **kw) -> Settings:
    host = urlsplit(azurite.endpoint).netloc
    return Settings(azure_emulator_hosts=host, **kw)


def _location(azurite, settings):
    return source_location(azurite.url(CONTAINER, "raw"), "azure_blob", settings)


def _governed(double, clock=time.time, old_sdk: bool = False) -> GovernedCredentials:
    from databricks.sdk import WorkspaceClient

    def client():
        w = WorkspaceClient(host=double.url, token=TOKEN)
        if not old_sdk:
            return w

        class OlderSdk:  # databricks-sdk 0.20 (DBR 15.4): no temporary_path_credentials, no get_secret
            api_client = w.api_client

        return OlderSdk()

    return GovernedCredentials(client, clock=clock)


@pytest.mark.parametrize("old_sdk", [False, True], ids=["typed-api", "rest-form"])
def test_unity_catalog_sas_lists_and_reads_on_azurite_and_stays_out_of_the_logs(lake, double, old_sdk, caplog):
    caplog.set_level(logging.DEBUG)
    settings = _settings(lake)
    location = _location(lake, settings)
    store = AzureBlobFileStore.from_location(location, settings, databricks=True, retry_total=0,
                                             governed=_governed(double, old_sdk=old_sdk))
    assert store.credential.source == UNITY_CATALOG
    files = sorted(f.relative for f in store.list_files(lambda seg: None))
    assert files == ["sales/part-1.csv", "sales/part-2.csv"]
    (one,) = [f for f in store.list_files(lambda seg: None) if f.relative.endswith("part-2.csv")]
    with store.open(one.uri) as fh:
        assert fh.read() == b"id,amount\n3,30\n"
    assert store.credential.spark_conf == {} and store.route == "staging"  # Spark reads through UC on Databricks
    assert double.errors == [] and len(double.issued) == 1
    (post,) = [r for r in double.requests if r["method"] == "POST"]
    assert post["auth"] == f"Bearer {TOKEN}"
    sig = parse_qs(double.issued[0])["sig"][0]
    emitted = _emitted(caplog)  # what the executor's logging emits (azure, urllib3: WARNING and up)
    assert sig not in emitted and double.issued[0] not in emitted
    assert "Unity Catalog temporary path credential" in emitted
    store.close()


def test_the_unity_catalog_sas_is_renewed_before_it_expires(lake, double):
    double.lifetime_s = 900  # UC's answer: valid 15 minutes
    now = [time.time()]
    double.clock = lambda: now[0]
    settings = _settings(lake)
    store = AzureBlobFileStore.from_location(_location(lake, settings), settings, databricks=True, retry_total=0,
                                             governed=_governed(double, clock=lambda: now[0]))
    assert len(list(store.list_files(lambda seg: None))) == 2 and len(double.issued) == 1
    now[0] += 620  # within 5 minutes of the expiry: the next request asks Unity Catalog again
    assert len(list(store.list_files(lambda seg: None))) == 2
    assert len(double.issued) == 2 and double.issued[0] != double.issued[1]
    now[0] += 60  # the new one is fresh: no third request
    assert len(list(store.list_files(lambda seg: None))) == 2 and len(double.issued) == 2
    store.close()


@pytest.mark.parametrize("mode", ["refuse", "no_location"])
def test_without_a_unity_catalog_credential_the_secret_scope_service_principal_serves(lake, double, mode, caplog):
    from azure.identity import ClientSecretCredential

    caplog.set_level(logging.DEBUG)
    double.mode = mode
    settings = _settings(lake, azure_sp_secret_scope="nuvyn-sp")
    location = _location(lake, settings)
    credential = resolve_credential(location, settings, databricks=True, governed=_governed(double))
    assert credential.source == SERVICE_PRINCIPAL
    sdk = credential.sdk_credential
    assert isinstance(sdk, ClientSecretCredential)
    assert (sdk._tenant_id, sdk._client_id) == (SP["tenant-id"], SP["client-id"])
    gets = sorted(parse_qs(urlsplit(r["path"]).query)["key"][0] for r in double.requests if r["method"] == "GET")
    assert gets == ["client-id", "client-secret", "tenant-id"]
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in double.requests)
    emitted = _emitted(caplog)
    assert SP_SECRET not in caplog.text and ("PERMISSION_DENIED" in emitted or "INVALID_PARAMETER_VALUE" in emitted)
    from executor.redaction import SECRETS

    assert SECRETS.redact(f"x {SP_SECRET} y") != f"x {SP_SECRET} y"  # registered the moment it was read
    # a classic session would get the same principal for abfss (OAuth), never the secret in a log line
    from executor.redaction import Secret
    from executor.sources.databricks_credentials import oauth_spark_conf

    conf = oauth_spark_conf(location, SP["tenant-id"], SP["client-id"], Secret(SP_SECRET),
                            "https://login.microsoftonline.com")
    assert conf[f"fs.azure.account.oauth2.client.endpoint.{ACCOUNT}.dfs.core.windows.net"].endswith(
        f"/{SP['tenant-id']}/oauth2/token")


def test_unity_catalog_first_the_secret_scope_untouched(lake, double):
    settings = _settings(lake, azure_sp_secret_scope="nuvyn-sp")
    credential = resolve_credential(_location(lake, settings), settings, databricks=True, governed=_governed(double))
    assert credential.source == UNITY_CATALOG
    assert not [r for r in double.requests if r["method"] == "GET"]  # the scope was not read


def test_with_neither_the_order_goes_on_to_default_azure_credential(lake, double):
    double.mode = "refuse"
    settings = _settings(lake)
    with pytest.raises(SourceError, match="DefaultAzureCredential needs https"):  # the emulator is plain http
        AzureBlobFileStore.from_location(_location(lake, settings), settings, databricks=True, retry_total=0,
                                         governed=_governed(double))
    off = replace(settings, azure_uc_credentials="off")
    double.requests.clear()
    with pytest.raises(SourceError, match="DefaultAzureCredential needs https"):
        AzureBlobFileStore.from_location(_location(lake, off), off, databricks=True, retry_total=0,
                                         governed=_governed(double))
    assert double.requests == []  # NUVYN_AZURE_UC_CREDENTIALS=off: Unity Catalog is not asked


def test_a_credential_for_another_account_is_refused(lake, double):
    double.mode = "other_account"
    settings = _settings(lake)
    with pytest.raises(SourceError, match="not for container 'governed' of 'devstoreaccount1'"):
        AzureBlobFileStore.from_location(_location(lake, settings), settings, databricks=True, retry_total=0,
                                         governed=_governed(double))


def test_the_service_principal_serves_only_the_listed_accounts(lake, double):
    double.mode = "refuse"
    settings = _settings(lake, azure_sp_secret_scope="nuvyn-sp", azure_credential_accounts="someotheracct")
    with pytest.raises(SourceError, match="NUVYN_AZURE_CREDENTIAL_ACCOUNTS"):
        resolve_credential(_location(lake, settings), settings, databricks=True, governed=_governed(double))


def test_a_missing_secret_names_the_scope_and_the_variable(lake, double):
    double.mode = "refuse"
    settings = _settings(lake, azure_sp_secret_scope="no-such-scope")
    with pytest.raises(SourceError, match=re.escape("secret scope 'no-such-scope'")) as err:
        resolve_credential(_location(lake, settings), settings, databricks=True, governed=_governed(double))
    assert "azure_sp_secret_scope" in str(err.value) and json.dumps(SP_SECRET) not in str(err.value)
