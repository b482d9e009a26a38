"""Azure credentials the Databricks way, for `abfss://` and https Azure sources of a job on Databricks.

In this order (executor.sources.azure.resolve_credential puts them after a SAS token in the path and an
explicitly configured connection string or account key, before the legacy secret-scope account key and
DefaultAzureCredential):

1. **Unity Catalog temporary path credential** (NUVYN_AZURE_UC_CREDENTIALS=auto, the default): the
   job asks Unity Catalog for a short-lived, read-only credential for the path
   (`POST /api/2.0/unity-catalog/temporary-path-credentials`, `{"url": "abfss://...", "operation":
   "PATH_READ"}`; databricks-sdk's `w.temporary_path_credentials.generate_temporary_path_credentials`
   where the installed SDK has it, else the same REST call through its client). Unity Catalog answers
   for a path under an external location the identity may use (EXTERNAL USE LOCATION, metastore
   external_access_enabled) with a user delegation SAS and its expiry. The SAS is renewed before it
   expires (RefreshingSas), so a run of hours keeps reading.
2. **A service principal whose secret sits in a secret scope** (NUVYN_AZURE_SP_SECRET_SCOPE, the
   bundle variable azure_sp_secret_scope): `tenant-id`, `client-id` and `client-secret` are read from
   the scope (`GET /api/2.0/secrets/get`, databricks-sdk `w.secrets.get_secret`), and
   azure-identity's ClientSecretCredential gets short-lived tokens with them. On a classic session
   Spark gets the same service principal (fs.azure OAuth settings); on Spark Connect (serverless,
   standard access mode) Spark reads through Unity Catalog's own governance.

Unity Catalog's refusal (no external location for the path, no privilege, external access off) is
logged by its error code and the next option is tried. No long-lived key is ever placed in the job's
environment. Every secret (SAS, client secret) is held as an executor.redaction.Secret (known to the
redactor) from the moment it is read. The Unity Catalog SAS serves only the account and container it was issued for: an answer
whose `url` names another is refused (check_issued_for).

The Databricks API client comes from `client_factory` (default: databricks-sdk's WorkspaceClient with
its own configuration: the runtime's credentials inside a job); tests point it at a local HTTP double.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from executor.errors import SourceError
from executor.redaction import Secret
from executor.settings import Settings
from executor.sources.location import Location

logger = logging.getLogger(__name__)

UNITY_CATALOG = "Unity Catalog temporary path credential"
SERVICE_PRINCIPAL = "service principal from a Databricks secret scope"
TEMPORARY_PATH_CREDENTIALS = "/api/2.0/unity-catalog/temporary-path-credentials"
SECRETS_GET = "/api/2.0/secrets/get"
SP_KEYS = ("tenant-id", "client-id", "client-secret")
RENEW_BEFORE_S = 300.0  # a SAS is renewed this long before it expires
AUTHORITY = "https://login.microsoftonline.com"


def path_url(location: Location) -> str:
    """The URL Unity Catalog knows the path by: abfss://<container>@<account>.dfs.<suffix>/<prefix>
    (external locations are registered in that form, whatever form data_source_path has)."""
    return location.abfss_uri(location.prefix)


def check_issued_for(location: Location, url: str | None) -> None:
    """A temporary credential serves only the account and container it was issued for."""
    if not url:
        return
    parts = urlsplit(url)
    container, _, host = parts.netloc.partition("@")
    account = host.split(".", 1)[0].lower()
    if (account, container) != ((location.account or "").lower(), location.container or ""):
        raise SourceError(
            f"Unity Catalog issued a credential for container {container!r} of storage account {account!r}, not "
            f"for container {location.container!r} of {location.account!r} (data_source_path): it is not used")


def _error_code(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    return str(code) if code else type(exc).__name__


class RefreshingSas:
    """A SAS that renews itself: `credential` is an azure-core AzureSasCredential whose `signature`
    (read by the storage SDK's policy before each request) asks `fetch` again when the token expires
    within RENEW_BEFORE_S. `fetch()` returns (sas_token, expires_at epoch seconds or None)."""

    def __init__(self, fetch: Callable[[], tuple[Secret, float | None]],
                 clock: Callable[[], float] = time.time) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token, self.expires_at = fetch()
        self.renewals = 0
        self.credential = _renewing_credential(self)

    @property
    def token(self) -> str:
        """The current token's value, for the storage SDK's credential (held as a Secret here)."""
        return self._token.get_secret_value()

    def current(self) -> str:
        """The token, renewed first when it is about to expire."""
        with self._lock:
            if self.expires_at is not None and self._clock() >= self.expires_at - RENEW_BEFORE_S:
                self._token, self.expires_at = self._fetch()
                self.renewals += 1
                logger.info("renewed the %s (valid until %s)", UNITY_CATALOG,
                            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires_at or 0)))
            return self._token.get_secret_value()


def _renewing_credential(owner: RefreshingSas) -> Any:
    from azure.core.credentials import AzureSasCredential

    class RenewingSasCredential(AzureSasCredential):
        @property
        def signature(self) -> str:
            return owner.current()

    return RenewingSasCredential(owner.token)


@dataclass(frozen=True)
class GovernedCredential:
    """What Databricks gave for a path: `source` (safe to show), the storage SDK's credential
    (`sdk_credential`: a renewing SAS credential or a token credential), the current SAS (Unity
    Catalog), and the fs.azure settings Spark gets (empty: Spark reads through Unity Catalog)."""

    source: str
    sdk_credential: Any = field(repr=False)
    sas: RefreshingSas | None = field(default=None, repr=False)
    spark_conf: Mapping[str, str] = field(default_factory=dict, repr=False)


def _workspace_client() -> Any:
    try:
        from databricks.sdk import WorkspaceClient
    except ImportError:
        raise SourceError("Azure credentials from Unity Catalog or a secret scope need databricks-sdk (every "
                          "Databricks runtime and serverless environment ships it): pip install databricks-sdk") from None
    return WorkspaceClient()


class GovernedCredentials:
    """Unity Catalog's temporary path credentials, then the secret-scope service principal."""

    def __init__(self, client_factory: Callable[[], Any] | None = None, clock: Callable[[], float] = time.time) -> None:
        self._client_factory = client_factory or _workspace_client
        self._client: Any = None
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    # ------------------------------------------------------------------ Unity Catalog

    def temporary_path_sas(self, location: Location) -> tuple[Secret, float | None]:
        """One temporary path credential for the location: (SAS token, expiry epoch seconds).
        Raises the SDK's error when Unity Catalog refuses, SourceError for an unusable answer."""
        url = path_url(location)
        api = getattr(self.client, "temporary_path_credentials", None)
        if api is not None and hasattr(api, "generate_temporary_path_credentials"):
            from databricks.sdk.service.catalog import PathOperation

            answer = api.generate_temporary_path_credentials(url=url, operation=PathOperation.PATH_READ).as_dict()
        else:  # an SDK older than the API (DBR 15.4 ships 0.20): the same call in its REST form
            answer = self.client.api_client.do("POST", TEMPORARY_PATH_CREDENTIALS,
                                               body={"url": url, "operation": "PATH_READ"})
        sas = ((answer or {}).get("azure_user_delegation_sas") or {}).get("sas_token")
        if not sas:
            kinds = sorted(k for k in (answer or {}) if k not in ("expiration_time", "url"))
            raise SourceError(f"Unity Catalog answered for {location.display} without an Azure SAS ({', '.join(kinds)}): "
                              "not usable for an Azure storage path")
        token = Secret(str(sas).lstrip("?"))
        check_issued_for(location, answer.get("url"))
        expires = answer.get("expiration_time")
        return token, (float(expires) / 1000.0 if expires else None)

    def unity_catalog(self, location: Location) -> GovernedCredential | None:
        """The renewing Unity Catalog credential, or None when Unity Catalog gives none for the path."""
        try:
            sas = RefreshingSas(lambda: self.temporary_path_sas(location), clock=self._clock)
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - the SDK's errors (refused, no external location, HTTP)
            logger.info("Unity Catalog gave no temporary credential for container %s of account %s (%s): "
                        "next option", location.container, location.account, _error_code(exc))
            return None
        logger.info("Azure credential for account %s: %s", location.account, UNITY_CATALOG)
        return GovernedCredential(UNITY_CATALOG, sas.credential, sas=sas)

    # ------------------------------------------------------------------ secret scope

    def read_secret(self, scope: str, key: str) -> Secret:
        """A secret's value (REST `secrets/get`, base64 in the answer), as a Secret."""
        api = getattr(self.client, "secrets", None)
        if api is not None and hasattr(api, "get_secret"):
            value = api.get_secret(scope=scope, key=key).value
        else:
            value = self.client.api_client.do("GET", SECRETS_GET, query={"scope": scope, "key": key}).get("value")
        if not value:
            raise SourceError(f"Databricks secret scope {scope!r} has no value for key {key!r}")
        return Secret(base64.b64decode(value).decode("utf-8").strip())

    def service_principal(self, location: Location, scope: str, spark: Any = None,
                          authority: str = AUTHORITY) -> GovernedCredential:
        """ClientSecretCredential from the scope's tenant-id, client-id and client-secret, getting its
        tokens from `authority` (NUVYN_AZURE_AUTHORITY_HOST). A refused token request (wrong secret,
        client id or tenant) raises SourceError naming the scope and the setting, never the secret."""
        authority = authority_url(authority)
        try:
            tenant, client_id, secret = (self.read_secret(scope, key) for key in SP_KEYS)
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - the SDK's errors: missing scope/key, no READ on it
            raise SourceError(f"cannot read the service principal of storage account {location.account!r} from "
                              f"Databricks secret scope {scope!r} (keys {', '.join(SP_KEYS)}; NUVYN_AZURE_SP_SECRET_SCOPE, "
                              f"bundle variable azure_sp_secret_scope): {_error_code(exc)}") from None
        credential = _service_principal_credential(tenant.get_secret_value(), client_id.get_secret_value(), secret,
                                                   authority, scope, location)
        logger.info("Azure credential for account %s: %s %r", location.account, SERVICE_PRINCIPAL, scope)
        conf = {} if spark is None or _is_connect(spark) else oauth_spark_conf(
            location, tenant.get_secret_value(), client_id.get_secret_value(), secret, authority)
        return GovernedCredential(SERVICE_PRINCIPAL, credential, spark_conf=conf)

    # ------------------------------------------------------------------ the order

    def resolve(self, location: Location, settings: Settings, spark: Any = None) -> GovernedCredential | None:
        """Unity Catalog (unless NUVYN_AZURE_UC_CREDENTIALS=off), then the secret-scope service
        principal (when NUVYN_AZURE_SP_SECRET_SCOPE is set); None when neither applies."""
        if settings.azure_uc_credentials != "off":
            found = self.unity_catalog(location)
            if found is not None:
                return found
        if settings.azure_sp_secret_scope:
            return self.service_principal(location, settings.azure_sp_secret_scope, spark,
                                          authority=settings.azure_authority_host)
        return None


def authority_url(text: str | None) -> str:
    """NUVYN_AZURE_AUTHORITY_HOST as the https URL azure-identity takes. SourceError names a bad one. Pure."""
    value = (text or AUTHORITY).strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.path or parts.query or "@" in parts.netloc:
        raise SourceError(f"NUVYN_AZURE_AUTHORITY_HOST {value!r} is not the https URL of a Microsoft Entra ID "
                          f"authority host (e.g. {AUTHORITY}, https://login.chinacloudapi.cn)")
    return value


def _service_principal_credential(tenant: str, client_id: str, secret: Secret, authority: str, scope: str,
                                  location: Location) -> Any:
    """azure-identity's ClientSecretCredential whose refused token requests raise SourceError naming the
    secret scope and its setting with Entra's AADSTS code (the answer's text is not repeated). A host other
    than the public cloud's is taken as given: no instance discovery (a request to login.microsoftonline.com)."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    def refused(exc: ClientAuthenticationError) -> SourceError:
        codes = sorted(set(re.findall(r"AADSTS\d+", str(exc)))) or [type(exc).__name__]
        return SourceError(
            f"Microsoft Entra ID ({authority}) refused the service principal read from Databricks secret scope "
            f"{scope!r} for storage account {location.account!r} [{', '.join(codes)}]: check the scope's "
            f"{', '.join(SP_KEYS)} (NUVYN_AZURE_SP_SECRET_SCOPE, bundle variable azure_sp_secret_scope) and "
            "NUVYN_AZURE_AUTHORITY_HOST")

    class ServicePrincipalCredential(ClientSecretCredential):
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            try:
                return super().get_token(*scopes, **kwargs)
            except ClientAuthenticationError as exc:
                raise refused(exc) from None

        def get_token_info(self, *scopes: str, options: Any = None) -> Any:
            try:
                return super().get_token_info(*scopes, options=options)
            except ClientAuthenticationError as exc:
                raise refused(exc) from None

    discovery = {} if authority == AUTHORITY else {"disable_instance_discovery": True}
    return ServicePrincipalCredential(tenant, client_id, secret.get_secret_value(), authority=authority, **discovery)


def _is_connect(spark: Any) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


def oauth_spark_conf(location: Location, tenant: str, client_id: str, secret: Secret,
                     authority: str) -> dict[str, str]:
    """hadoop-azure's OAuth client-credentials settings for the account (abfss): Spark's configuration
    takes the client secret as text."""
    host = f"{location.account}.dfs.{location.endpoint_suffix}"
    return {f"fs.azure.account.auth.type.{host}": "OAuth",
            f"fs.azure.account.oauth.provider.type.{host}":
                "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider",
            f"fs.azure.account.oauth2.client.id.{host}": client_id,
            f"fs.azure.account.oauth2.client.secret.{host}": secret.get_secret_value(),
            f"fs.azure.account.oauth2.client.endpoint.{host}": f"{authority}/{tenant}/oauth2/token"}
