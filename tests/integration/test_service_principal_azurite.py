"""The secret-scope service principal end to end (executor/sources/databricks_credentials.py): the job on
Databricks, Unity Catalog refusing the path, reads tenant-id, client-id and client-secret from the secret
scope (the local HTTP double of the Databricks API), gets an OAuth token from a local HTTPS double of
Microsoft Entra ID (tenant discovery and the v2.0 token endpoint, as azure-identity's
ClientSecretCredential and MSAL ask them; it checks tenant, client id and secret and hands out a JWT
for https://storage.azure.com issued by sts.windows.net/<tenant>) through NUVYN_AZURE_AUTHORITY_HOST,
and lists and reads a small lake on Azurite over HTTPS with `--oauth basic` (the only way Azurite takes
a bearer token), through the real job path (executor.main with an ExecutorContext on Databricks).

The self-signed certificate is made here and trusted through REQUESTS_CA_BUNDLE / SSL_CERT_FILE in
this module's environment only. Checked: the rows are right; the client secret never reaches logs,
tables, output or error text and is sent to the token endpoint only; a wrong secret fails the run with
an error naming the secret scope and its setting; the credential is refused for an account it does not
belong to (NUVYN_AZURE_CREDENTIAL_ACCOUNTS) before any token is asked for.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.azurite import ACCOUNT, AZURITE_BIN, Azurite, _wait_listening, free_port, upload_tree
from tests.http_doubles import JsonApiHandler
from tests.integration.test_azure_e2e import _run, _table
from tests.integration.test_databricks_credentials import CONTAINER, SP, SP_SECRET, TOKEN, DatabricksApiDouble

pytestmark = [pytest.mark.integration, pytest.mark.azure]

SCOPE = "nuvyn-sp"  # the scope DatabricksApiDouble serves SP from


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA: the trust anchor of this module)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=False,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class EntraDouble:
    """Microsoft Entra ID's v2.0 endpoints for one tenant, over HTTPS: tenant discovery
    (/<tenant>/v2.0/.well-known/openid-configuration) and the token endpoint
    (/<tenant>/oauth2/v2.0/token, client_credentials). A right tenant, client id and secret get a JWT
    Azurite's basic OAuth takes (aud https://storage.azure.com, iss https://sts.windows.net/<tenant>/,
    iat/nbf/exp); a wrong secret gets Entra's 401 invalid_client (AADSTS7000215). Records every request."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.secret = SP_SECRET  # what Entra holds for the client
        self.requests: list[dict] = []
        self.tokens: list[str] = []
        double = self

        class Handler(JsonApiHandler):
            def _record(self, body: str = "") -> None:
                double.requests.append({"method": self.command, "path": self.path, "body": body,
                                        "headers": dict(self.headers)})

            def do_GET(self):
                self._record()
                tenant = SP["tenant-id"]
                if self.path != f"/{tenant}/v2.0/.well-known/openid-configuration":
                    return self._reply(400, {"error": "invalid_tenant", "error_description": "AADSTS90002: no tenant"})
                base = f"{double.url}/{tenant}"
                return self._reply(200, {"issuer": f"https://login.microsoftonline.com/{tenant}/v2.0",
                                         "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                         "token_endpoint": f"{base}/oauth2/v2.0/token",
                                         "token_endpoint_auth_methods_supported": ["client_secret_post"]})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                self._record(body)
                form = {k: v[0] for k, v in parse_qs(body).items()}
                if self.path != f"/{SP['tenant-id']}/oauth2/v2.0/token":
                    return self._reply(400, {"error": "invalid_request", "error_description": "AADSTS90002: tenant"})
                if form.get("grant_type") != "client_credentials" or form.get("client_id") != SP["client-id"]:
                    return self._reply(400, {"error": "unauthorized_client",
                                             "error_description": "AADSTS700016: application not found"})
                if form.get("client_secret") != double.secret:
                    return self._reply(401, {"error": "invalid_client", "error_codes": [7000215],
                                             "error_description": "AADSTS7000215: Invalid client secret provided."})
                if form.get("scope") != "https://storage.azure.com/.default":
                    return self._reply(400, {"error": "invalid_scope", "error_description": "AADSTS70011: scope"})
                return self._reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                         "access_token": double.jwt()})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def jwt(self) -> str:
        now = int(time.time())
        claims = {"aud": "https://storage.azure.com", "iss": f"https://sts.windows.net/{SP['tenant-id']}/",
                  "iat": now - 60, "nbf": now - 60, "exp": now + 3600, "appid": SP["client-id"],
                  "tid": SP["tenant-id"], "oid": str(uuid.uuid4()), "ver": "1.0"}
        head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + \
            _b64url(json.dumps(claims).encode())
        token = head + "." + _b64url(hmac.new(b"entra-double", head.encode(), hashlib.sha256).digest())
        self.tokens.append(token)
        return token

    def token_posts(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class OAuthLake:
    endpoint: str  # https://127.0.0.1:<port>/devstoreaccount1
    entra: EntraDouble
    databricks: DatabricksApiDouble
    log: Path
    runs: list[dict] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.endpoint.split("://", 1)[1].split("/", 1)[0]

    def url(self, account: str = ACCOUNT) -> str:
        return f"https://{self.host}/{account}/{CONTAINER}/raw"


@pytest.fixture(scope="module")
def oauth_lake(tmp_path_factory):
    """Azurite over HTTPS with --oauth basic, the Entra and Databricks doubles, the lake uploaded; the
    self-signed certificate trusted through this module's environment only."""
    if not AZURITE_BIN.exists():
        pytest.skip(f"azurite is not installed at {AZURITE_BIN} (run scripts/bootstrap.sh, needs npm)")
    from tests.servers import die_with_parent

    folder = tmp_path_factory.mktemp("oauth-azurite")
    cert, key = _certificate(folder)
    data = Path(tempfile.mkdtemp(prefix="nuvyn-azurite-oauth-"))
    port = free_port()
    log = data / "azurite.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data / "db"),
             "--cert", str(cert), "--key", str(key), "--oauth", "basic", "--skipApiVersionCheck", "--loose",
             "--silent"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
    entra = databricks = None
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REQUESTS_CA_BUNDLE", str(cert))
        env.setenv("SSL_CERT_FILE", str(cert))
        try:
            _wait_listening(port, proc, log)
            endpoint = f"https://127.0.0.1:{port}/{ACCOUNT}"
            entra = EntraDouble(cert, key)
            databricks = DatabricksApiDouble(None)
            databricks.mode = "refuse"  # Unity Catalog gives no credential for the path: the scope's principal
            lake = folder / "lake"
            (lake / "sales").mkdir(parents=True)
            (lake / "sales" / "part-1.csv").write_text("id,amount\n1,10\n2,20\n")
            (lake / "sales" / "part-2.csv").write_text("id,amount\n3,30\n")
            (lake / "regions").mkdir()
            (lake / "regions" / "r.json").write_text('{"region": "north", "code": 1}\n{"region": "south", "code": 2}\n')
            upload_tree(Azurite(endpoint), CONTAINER, lake, prefix="raw/")  # with the account key, over https
            yield OAuthLake(endpoint, entra, databricks, log)
        finally:
            for double in (entra, databricks):
                if double is not None:
                    double.close()
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            shutil.rmtree(data, ignore_errors=True)


def _context(spark, settings, lake: OAuthLake, **kw):
    """The job's context on Databricks (DATABRICKS_RUNTIME_VERSION): Unity Catalog and the secret scope
    through the Databricks API double, tokens from the Entra double (NUVYN_AZURE_AUTHORITY_HOST)."""
    from databricks.sdk import WorkspaceClient

    from executor.context import ExecutorContext
    from executor.sources.databricks_credentials import GovernedCredentials

    s = replace(settings, schema=f"meta_{uuid.uuid4().hex[:10]}", azure_emulator_hosts=lake.host,
                azure_sp_secret_scope=SCOPE, azure_authority_host=lake.entra.url,
                tables_location=str(Path(settings.warehouse_dir) / f"sp_{uuid.uuid4().hex[:8]}"), **kw)
    ctx = ExecutorContext(settings=s, env={"DATABRICKS_RUNTIME_VERSION": "15.4"}, spark=spark)
    ctx.__dict__["governed_credentials"] = GovernedCredentials(
        lambda: WorkspaceClient(host=lake.databricks.url, token=TOKEN))
    return ctx


def _job(ctx, path: str, workflow_id: str, capsys) -> tuple[dict, str]:
    """Run the job (executor.main); its JSON report and what it wrote to stderr (the executor's log)."""
    code = _run(ctx, path, workflow_id)["_code"]
    captured = capsys.readouterr()
    report = json.loads(captured.out[captured.out.index("{"):])
    report["_code"] = code
    return report, captured.err


def test_service_principal_token_lists_and_reads_the_lake_on_azurite_over_https(spark, settings, oauth_lake,
                                                                               capsys, caplog):
    caplog.set_level(logging.DEBUG)
    lake = oauth_lake
    ctx = _context(spark, settings, lake)
    report, err = _job(ctx, lake.url(), "wf_sp", capsys)
    assert report["_code"] == 0, report
    rows = {r.table_name: r for r in _table(ctx, "tables", "wf_sp").collect()}
    assert {n: (r.status, r.row_count, r.file_count) for n, r in rows.items()} == {
        "sales": ("ok", 3, 2), "regions": ("ok", 2, 1)}, rows
    src = _table(ctx, "sources", "wf_sp").collect()[0]
    assert src.source_path == lake.url() and src.files_found == 3

    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import ContainerClient

    with pytest.raises(HttpResponseError):  # without the token Azurite lists nothing: the bearer got the job in
        next(iter(ContainerClient(lake.endpoint, CONTAINER).list_blobs()))

    # the principal came from the scope (Unity Catalog refused first), its token from the Entra double
    assert lake.databricks.errors == []
    gets = sorted(parse_qs(r["path"].split("?", 1)[1])["key"][0] for r in lake.databricks.requests
                  if r["method"] == "GET")
    assert gets == ["client-id", "client-secret", "tenant-id"]
    posts = lake.entra.token_posts()
    assert len(posts) == 1 and len(lake.entra.tokens) == 1, posts  # one token serves the whole run
    form = {k: v[0] for k, v in parse_qs(posts[0]["body"]).items()}
    assert (form["client_id"], form["scope"]) == (SP["client-id"], "https://storage.azure.com/.default")
    assert f"service principal from a Databricks secret scope {SCOPE!r}" in err

    # the client secret: sent in the token request's body only, nowhere else
    assert [r for r in lake.entra.requests if SP_SECRET in json.dumps(r)] == posts
    assert all(SP_SECRET not in json.dumps(r) for r in lake.databricks.requests)
    dumps = [json.dumps(report), caplog.text, err]
    for name in ("sources", "tables", "columns", "executor_runs"):
        dumps.append(json.dumps([r.asDict() for r in ctx.spark.table(ctx.settings.table_name(name)).collect()],
                                default=str))
    text = "\n".join(dumps)
    for secret in (SP_SECRET, lake.entra.tokens[0], lake.entra.tokens[0].rsplit(".", 1)[1]):
        assert secret not in text


def test_a_wrong_secret_fails_naming_the_secret_scope_setting(spark, settings, oauth_lake, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    lake = oauth_lake
    before = len(lake.entra.tokens)
    lake.entra.secret = "rotated-in-entra-" + uuid.uuid4().hex  # the scope still holds the old one
    try:
        report, err = _job(_context(spark, settings, lake), lake.url(), "wf_wrong", capsys)
    finally:
        lake.entra.secret = SP_SECRET
    assert report["_code"] == 1, report
    error = report["error_message"]
    assert "refused the service principal" in error and f"secret scope {SCOPE!r}" in error, error
    assert "NUVYN_AZURE_SP_SECRET_SCOPE" in error and "azure_sp_secret_scope" in error, error
    assert "AADSTS7000215" in error and ACCOUNT in error, error
    assert len(lake.entra.tokens) == before  # no token was handed out
    text = "\n".join([json.dumps(report), caplog.text, err])
    assert SP_SECRET not in text and "rotated-in-entra" not in text


def test_the_principal_is_not_used_for_an_account_it_does_not_serve(spark, settings, oauth_lake, capsys):
    lake = oauth_lake
    posts = len(lake.entra.token_posts())
    ctx = _context(spark, settings, lake, azure_credential_accounts=lake.endpoint)  # devstoreaccount1 only
    report, _err = _job(ctx, lake.url("otheracct"), "wf_other", capsys)
    assert report["_code"] == 1 and "NUVYN_AZURE_CREDENTIAL_ACCOUNTS" in report["error_message"], report
    assert "'otheracct'" in report["error_message"]
    assert len(lake.entra.token_posts()) == posts  # refused before a token was asked for
