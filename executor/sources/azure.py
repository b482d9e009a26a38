"""Azure Blob Storage and ADLS Gen2 files, listed and read with azure-storage-blob.

Thin edge: the SDK clients are built in `from_location` (or injected by tests); everything else is
plain logic. See docs/AZURE.md for paths, credential precedence and the Spark routes.

Credential precedence (the first that applies wins):
  1. a SAS token in the path's query string
  2. AZURE_STORAGE_CONNECTION_STRING (AccountKey=... or SharedAccessSignature=...)
  3. NUVYN_AZURE_ACCOUNT_KEY
  4. on Databricks (executor.sources.databricks_credentials): a Unity Catalog temporary path
     credential for the path (NUVYN_AZURE_UC_CREDENTIALS=auto), else the service principal of the
     secret scope NUVYN_AZURE_SP_SECRET_SCOPE
  5. on Databricks, the account key in the secret NUVYN_AZURE_KEY_SECRET_SCOPE /
     NUVYN_AZURE_KEY_SECRET_KEY read with dbutils.secrets.get (legacy)
  6. DefaultAzureCredential (managed identity, service principal env vars, az login, ...)
The same credential serves the listing, the reads, and Spark (fs.azure.* settings for that account).
Every secret value is a executor.redaction.Secret (known to the redactor) as soon as it is loaded.
Credentials go only to their own account (check_credential_target): the connection string to its
AccountName / BlobEndpoint, the key and DefaultAzureCredential to NUVYN_AZURE_CREDENTIAL_ACCOUNTS
when set. Emulator (http) endpoints are accepted only when executor.sources.location allows them.

Spark routes (settings.azure_spark_route):
  abfss    Spark reads abfss://<container>@<account>.dfs.<suffix>/<blob> (Databricks; the default)
  wasbs    Spark reads wasbs://<container>@<account>.blob.<suffix>/<blob> (hadoop-azure WASB)
  staging  each table's files are downloaded to a local staging folder and Spark reads them there;
           the route used for the Azurite emulator, where hadoop-azure cannot reach the endpoint
  auto     staging for the emulator, abfss otherwise
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import importlib
import io
import logging
import os
import random
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qsl, quote, urlsplit

from executor.errors import SourceError
from executor.redaction import Secret
from executor.settings import Settings, reveal
from executor.sources.base import FileChangedError, FileInfo, PruneRule, ReadCounter, io_threads
from executor.sources.databricks_credentials import SERVICE_PRINCIPAL, UNITY_CATALOG, GovernedCredentials
from executor.sources.local import escape_glob
from executor.sources.location import Location, parse_connection_string
from executor.sources.ranges import Fetch, RangeReader, ReadAhead, RequestLimiter, WholeFileCache

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

SAS, CONNECTION_STRING, ACCOUNT_KEY, SECRET_SCOPE, DEFAULT = (
    "SAS token from the path", "AZURE_STORAGE_CONNECTION_STRING", "NUVYN_AZURE_ACCOUNT_KEY",
    "Databricks secret scope", "DefaultAzureCredential")

SecretReader = Callable[[str, str], str]


# ---------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class AzureCredential:
    """Which credential serves an account, and where it came from (`source`, safe to show)."""

    source: str  # one of SAS, CONNECTION_STRING, ACCOUNT_KEY, UNITY_CATALOG, SERVICE_PRINCIPAL, SECRET_SCOPE, DEFAULT
    sas_token: Secret | None = field(default=None, repr=False)  # without its leading '?'
    account_key: Secret | None = field(default=None, repr=False)
    # Databricks' credentials (executor.sources.databricks_credentials): the storage SDK's credential
    # object (a renewing SAS or a token credential) and the fs.azure settings Spark gets instead of
    # those derived from the key or SAS (empty: Spark reads through Unity Catalog).
    sdk_credential: Any = field(default=None, repr=False, compare=False)
    spark_conf: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("sas_token", "account_key"):  # a plain str given (tests, notebooks) is kept as a Secret
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, Secret(value))

    @property
    def kind(self) -> str:
        if self.sas_token:
            return "sas"
        if self.account_key:
            return "key"
        return "default"


def credential_source(location: Location, settings: Settings, *, databricks: bool = False) -> str:
    """Which credential the precedence picks for `location`, without reading any secret. Pure."""
    if location.sas_token:
        return SAS
    if settings.azure_connection_string:
        return CONNECTION_STRING
    if settings.azure_account_key:
        return ACCOUNT_KEY
    if databricks and settings.azure_uc_credentials != "off":
        return UNITY_CATALOG  # tried first; resolve_credential goes on when Unity Catalog gives none
    if databricks and settings.azure_sp_secret_scope:
        return SERVICE_PRINCIPAL
    if databricks and settings.azure_key_secret_scope and settings.azure_key_secret_key:
        return SECRET_SCOPE
    return DEFAULT


def check_credential_target(location: Location, settings: Settings, source: str) -> None:
    """The server's credentials go only to their own account. Raise SourceError otherwise. Pure.

    A connection string serves only its AccountName and, for the emulator, only its BlobEndpoint;
    the account key, the secret-scope key and DefaultAzureCredential serve only the accounts in
    NUVYN_AZURE_CREDENTIAL_ACCOUNTS when that is set (the API server requires it), matched on the
    account's endpoint (name and cloud suffix, or emulator host), not on its name alone."""
    account = (location.account or "").lower()
    connection_string = reveal(settings.azure_connection_string)
    if source == CONNECTION_STRING and connection_string:
        cs = parse_connection_string(connection_string)
        named = (cs.get("accountname") or "").lower()
        if cs.get("usedevelopmentstorage", "").lower() == "true":
            named = "devstoreaccount1"
        if named and account and named != account:
            raise SourceError(
                f"AZURE_STORAGE_CONNECTION_STRING is for storage account {named!r}, but the path names "
                f"account {account!r} (container {location.container!r}); unset it or fix the path"
            )
        if cs.get("usedevelopmentstorage", "").lower() == "true":
            endpoint = "http://127.0.0.1:10000/devstoreaccount1"
        elif cs.get("blobendpoint"):
            endpoint = cs["blobendpoint"]
        elif named:
            endpoint = f"https://{named}.blob.{cs.get('endpointsuffix') or 'core.windows.net'}"
        else:
            raise SourceError("AZURE_STORAGE_CONNECTION_STRING names no account (AccountName or BlobEndpoint): "
                              "it is not used for a path it may not belong to; add AccountName")
        target = location.blob_endpoint or ""
        if endpoint.rstrip("/").lower() != target.rstrip("/").lower():
            raise SourceError(
                f"AZURE_STORAGE_CONNECTION_STRING serves its own endpoint only, not the one of data_source_path "
                f"(account {account!r}, container {location.container!r}); fix the path or unset it")
        return
    if source in (ACCOUNT_KEY, SERVICE_PRINCIPAL, SECRET_SCOPE, DEFAULT) and settings.azure_credential_accounts:
        # bound to the account's endpoint, not its name: `prodacct` (public cloud) does not serve
        # prodacct.blob.core.chinacloudapi.cn nor an emulator's prodacct
        from executor.sources.location import credential_target, credential_targets, show_target

        served = credential_target(location)
        if served not in credential_targets(settings.azure_credential_accounts):
            raise SourceError(
                f"storage account {account!r} at {show_target(served)} (container {location.container!r}) is not in "
                f"NUVYN_AZURE_CREDENTIAL_ACCOUNTS: the {source} credential is used only for the endpoints listed "
                "there (a bare account name is the public cloud, core.windows.net; name another cloud as "
                "<account>.blob.<suffix>); add it or give a SAS token in data_source_path")


def resolve_credential(location: Location, settings: Settings, *, databricks: bool = False,
                       secret_reader: SecretReader | None = None, governed: GovernedCredentials | None = None,
                       spark: SparkSession | None = None) -> AzureCredential:
    """Apply the documented precedence. Pure except for the injected Databricks secret reader and
    `governed` (Unity Catalog and the secret-scope service principal, asked on Databricks only)."""
    account = location.account
    source = credential_source(location, settings, databricks=databricks)
    if source != UNITY_CATALOG:  # Unity Catalog scopes its credential to the path itself
        check_credential_target(location, settings, source)
    if location.sas_token:
        token = location.sas_token.get_secret_value().lstrip("?")
        return AzureCredential(SAS, sas_token=Secret(token))
    connection_string = reveal(settings.azure_connection_string)
    account_key = reveal(settings.azure_account_key)
    if connection_string:
        cs = parse_connection_string(connection_string)
        named = (cs.get("accountname") or "").lower()
        if cs.get("usedevelopmentstorage", "").lower() == "true":
            named = "devstoreaccount1"
        if named and account and named != account.lower():
            raise SourceError(
                f"AZURE_STORAGE_CONNECTION_STRING is for storage account {named!r}, but the path names "
                f"account {account!r} (container {location.container!r}); unset it or fix the path"
            )
        if cs.get("sharedaccesssignature"):
            return AzureCredential(CONNECTION_STRING, sas_token=Secret(cs["sharedaccesssignature"].lstrip("?")))
        if cs.get("accountkey"):
            return AzureCredential(CONNECTION_STRING, account_key=Secret(cs["accountkey"]))
        raise SourceError(
            "AZURE_STORAGE_CONNECTION_STRING has neither AccountKey nor SharedAccessSignature "
            f"(storage account {account!r}, container {location.container!r})"
        )
    if account_key:
        return AzureCredential(ACCOUNT_KEY, account_key=Secret(account_key.strip()))
    if source in (UNITY_CATALOG, SERVICE_PRINCIPAL):
        found = (governed or GovernedCredentials()).resolve(location, settings, spark)
        if found is not None:
            if found.source == SERVICE_PRINCIPAL:
                check_credential_target(location, settings, SERVICE_PRINCIPAL)
            return AzureCredential(found.source, sas_token=Secret(found.sas.token) if found.sas else None,
                                   sdk_credential=found.sdk_credential, spark_conf=dict(found.spark_conf))
        check_credential_target(location, settings, credential_source(
            location, replace(settings, azure_uc_credentials="off"), databricks=databricks))
    if settings.azure_key_secret_scope or settings.azure_key_secret_key:
        if not (settings.azure_key_secret_scope and settings.azure_key_secret_key):
            raise SourceError("set both NUVYN_AZURE_KEY_SECRET_SCOPE and NUVYN_AZURE_KEY_SECRET_KEY, or neither")
        if databricks:
            if secret_reader is None:
                raise SourceError("reading the account key from a Databricks secret scope needs the Spark session")
            reader = secret_reader
            try:
                key = Secret(reader(settings.azure_key_secret_scope, settings.azure_key_secret_key))
            except Exception as exc:  # noqa: BLE001 - dbutils raises py4j/its own errors
                raise SourceError(
                    f"cannot read the account key of storage account {account!r} from Databricks secret "
                    f"scope {settings.azure_key_secret_scope!r} (key {settings.azure_key_secret_key!r}): "
                    f"{type(exc).__name__}"
                ) from None
            return AzureCredential(SECRET_SCOPE, account_key=Secret(key.get_secret_value().strip()))
        logger.info("not on Databricks: NUVYN_AZURE_KEY_SECRET_SCOPE is ignored")
    return AzureCredential(DEFAULT)


def dbutils_secret_reader(spark: SparkSession) -> SecretReader:
    """dbutils.secrets.get on Databricks (the module exists only in the Databricks runtime)."""

    def read(scope: str, key: str) -> str:
        dbutils = importlib.import_module("pyspark.dbutils")
        return str(dbutils.DBUtils(spark).secrets.get(scope=scope, key=key))

    return read


def spark_conf_for(location: Location, credential: AzureCredential, route: str) -> dict[str, str]:
    """The Hadoop fs.azure.* settings that give Spark the same credential. Pure.

    DefaultAzureCredential gives none: on Databricks the cluster's own credentials serve abfss.
    Databricks' credentials bring their own (`credential.spark_conf`)."""
    if credential.spark_conf is not None:
        return {} if route == "staging" else dict(credential.spark_conf)
    acct, suffix, container = location.account, location.endpoint_suffix, location.container
    if credential.kind == "default" or route == "staging":
        return {}
    if route == "wasbs":
        host = f"{acct}.blob.{suffix}"
        if credential.kind == "key":
            return {f"fs.azure.account.key.{host}": reveal(credential.account_key) or ""}
        return {f"fs.azure.sas.{container}.{host}": reveal(credential.sas_token) or ""}
    host = f"{acct}.dfs.{suffix}"
    if credential.kind == "key":
        return {f"fs.azure.account.auth.type.{host}": "SharedKey",
                f"fs.azure.account.key.{host}": reveal(credential.account_key) or ""}
    return {f"fs.azure.account.auth.type.{host}": "SAS",
            f"fs.azure.sas.token.provider.type.{host}": "org.apache.hadoop.fs.azurebfs.sas.FixedSASTokenProvider",
            f"fs.azure.sas.fixed.token.{host}": reveal(credential.sas_token) or ""}


# ---------------------------------------------------------------------------------- errors


def _error_code(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)
    status = getattr(exc, "status_code", None)
    return " ".join(str(x) for x in (f"HTTP {status}" if status else None, code) if x)


def source_error(exc: BaseException, location: Location, credential: AzureCredential | None,
                 action: str) -> SourceError:
    """A clear SourceError for an SDK error on the whole source (naming account and container)."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    where = f"container {location.container!r} of storage account {location.account!r}"
    code = _error_code(exc)
    how = f" (credential: {credential.source})" if credential else ""
    if type(exc).__name__ == "CredentialUnavailableError":
        return SourceError(f"no Azure credential available for storage account {location.account!r} "
                           f"(container {location.container!r}): DefaultAzureCredential found none; give "
                           "a SAS token, AZURE_STORAGE_CONNECTION_STRING or NUVYN_AZURE_ACCOUNT_KEY")
    if isinstance(exc, ResourceNotFoundError):
        if "ContainerNotFound" in code or not code:
            return SourceError(f"container {location.container!r} does not exist in storage account "
                               f"{location.account!r}; check data_source_path")
        return SourceError(f"{action} {where} failed: not found ({code})")
    if isinstance(exc, ClientAuthenticationError) or (
            isinstance(exc, HttpResponseError) and getattr(exc, "status_code", None) in (401, 403)):
        return SourceError(f"authentication refused by storage account {location.account!r} while {action} "
                           f"container {location.container!r}{how} [{code or type(exc).__name__}]; "
                           "check the credential and its permissions (Storage Blob Data Reader, or SAS "
                           "with read+list)")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return SourceError(f"storage account {location.account!r} is unreachable at {location.blob_endpoint} "
                           f"while {action} container {location.container!r} ({type(exc).__name__}); "
                           "check the account name, network and firewall")
    return SourceError(f"{action} {where} failed{how}: {type(exc).__name__} {code}".rstrip())


class BlobGoneError(FileNotFoundError):
    """The blob was listed but is gone (deleted between listing and reading)."""


class BlobChangedError(FileChangedError):
    """The blob was replaced after listing (its etag changed)."""


# ---------------------------------------------------------------------------------- requests

THROTTLE_RETRIES = 6  # 429s retried by the store (the SDK retries 5xx itself); 503s count as throttling too
READ_BUFFER_BYTES = 64 * 1024  # the BufferedReader over a RangeReader (which keeps the fetched ranges)
LISTING_AHEAD = 8  # folder listings fetched ahead in a hierarchical walk


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a throttling answer asks for: x-ms-retry-after-ms, else Retry-After (seconds). Pure."""
    if not headers:
        return None
    for key, scale in (("x-ms-retry-after-ms", 0.001), ("retry-after-ms", 0.001), ("Retry-After", 1.0)):
        raw = headers.get(key)
        if raw is None:
            continue
        try:
            return max(0.0, float(str(raw).strip()) * scale)
        except ValueError:
            continue
    return None


def backoff_seconds(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """0.5 s doubling per attempt (at most 30 s), with +-20% jitter. Pure but for `rng`."""
    return float(min(30.0, 0.5 * 2 ** attempt) * (0.8 + 0.4 * rng()))


def storage_retry_policy(limiter: RequestLimiter, retry_total: int) -> Any:
    """azure-storage-blob's ExponentialRetry (5xx, timeouts, connection errors) that also tells the
    limiter when the store throttles (503 ServerBusy) and waits at least what Retry-After asks."""
    from azure.storage.blob import ExponentialRetry

    class ThrottleAwareRetry(ExponentialRetry):
        def increment(self, settings: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            if response is not None and getattr(response, "status_code", None) in (429, 503):
                limiter.throttled()
            return bool(super().increment(settings, request, response=response, error=error))

        def get_backoff_time(self, settings: Any) -> float:
            wait = float(super().get_backoff_time(settings) or 0)
            history = settings.get("history") or []
            response = getattr(history[-1], "http_response", None) if history else None
            asked = retry_after_seconds(getattr(response, "headers", None)) if response is not None else None
            return min(60.0, max(wait, asked or 0.0))

    return ThrottleAwareRetry(initial_backoff=1, increment_base=2, retry_total=retry_total)


def http_transport(pool_size: int) -> Any:
    """azure-core's requests transport over one keep-alive session whose connection pool holds
    `pool_size` connections (requests' default, 10, is smaller than the I/O threads: every
    request beyond it opened a connection and dropped it)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size,
                          max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=True, connection_timeout=20, read_timeout=120)


API_VERSION = "2021-12-02"  # x-ms-version of the ranged GETs (any version the SDK speaks serves them)
STORAGE_SCOPE = "https://storage.azure.com/.default"
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class RangeGetter:
    """Ranged GETs of one container's blobs over urllib3: the bulk of a run's requests (footers,
    samples, read-ahead ranges) at a quarter of azure-core's CPU per request (~0.6 ms against
    ~2.5 ms, measured on Azurite), which decides the time on a few cores. The listing and every
    other call keep the SDK. Same credential (SAS, a Unity Catalog SAS as it renews, shared key, or
    a bearer token from the SDK credential), one keep-alive pool of `pool_size` connections, the environment's proxy and CA
    bundle (as requests reads them), and the store's retry rules: 429/503 and other transient
    answers retried with backoff (Retry-After honoured), throttling told to the limiter."""

    def __init__(self, container_url: str, account: str, credential: AzureCredential, token_credential: Any,
                 pool_size: int, limiter: RequestLimiter, sleep: Callable[[float], None] = time.sleep,
                 retries: int = THROTTLE_RETRIES) -> None:
        import requests
        import urllib3

        self.container_url = container_url.rstrip("/")
        self.account = account
        self.credential = credential
        self.token_credential = token_credential
        self.limiter = limiter
        self.sleep = sleep
        self.retries = retries
        self._token: Any = None
        self._token_lock = threading.Lock()
        key = reveal(credential.account_key) if credential.kind == "key" else None
        self._key = base64.b64decode(key) if key else None
        env = requests.Session().merge_environment_settings(self.container_url, {}, None, None, None)
        verify = env.get("verify", True)
        tls: dict[str, Any] = {}
        if isinstance(verify, str):
            tls["ca_certs"] = verify
        elif verify is False:
            tls["cert_reqs"] = "CERT_NONE"
        else:
            with contextlib.suppress(ImportError):
                import certifi

                tls["ca_certs"] = certifi.where()
        timeout = urllib3.Timeout(connect=20, read=120)
        proxy = (env.get("proxies") or {}).get(self.container_url.split("://", 1)[0])
        self.http: Any = (urllib3.ProxyManager(proxy, maxsize=pool_size, timeout=timeout, retries=False, **tls)
                          if proxy else urllib3.PoolManager(maxsize=pool_size, timeout=timeout, retries=False, **tls))

    def url(self, name: str) -> str:
        url = f"{self.container_url}/{quote(name, safe='~/')}"
        sas = self._sas()
        return url + "?" + sas if sas else url

    def _sas(self) -> str | None:
        """The SAS token's query (without '?'): a renewing SAS's current token (Unity Catalog), or the given one."""
        sas = getattr(self.token_credential, "signature", None)
        if sas is None and self.credential.kind == "sas":
            sas = reveal(self.credential.sas_token)
        return sas.lstrip("?") if sas else None

    def _bearer(self) -> str:
        with self._token_lock:
            if self._token is None or self._token.expires_on - time.time() < 300:
                self._token = self.token_credential.get_token(STORAGE_SCOPE)
            return str(self._token.token)

    def headers(self, url: str, start: int, length: int, etag: str | None) -> dict[str, str]:
        headers = {"x-ms-range": f"bytes={start}-{start + length - 1}"}
        if etag:
            headers["If-Match"] = etag
        return self._signed(url, headers)

    def _signed(self, url: str, headers: dict[str, str]) -> dict[str, str]:
        """`headers` with the date, version and the credential's Authorization (none for a SAS)."""
        headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": API_VERSION, **headers}
        if self._key is not None:
            headers["Authorization"] = f"SharedKey {self.account}:{self.sign(url, headers)}"
        elif self.credential.kind == "default" and hasattr(self.token_credential, "get_token"):
            headers["Authorization"] = f"Bearer {self._bearer()}"
        return headers

    def sign(self, url: str, headers: dict[str, str]) -> str:
        """The Shared Key signature of a GET (Blob service rules, as azure-storage-blob signs)."""
        assert self._key is not None
        parts = urlsplit(url)
        lower = {k.lower(): v for k, v in headers.items()}
        fields = ("content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
                  "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range")
        text = "GET\n" + "".join(lower.get(f, "") + "\n" for f in fields)
        text += "".join(f"{k}:{v}\n" for k, v in sorted(lower.items()) if k.startswith("x-ms-"))
        text += "/" + self.account + parts.path
        for k, v in sorted(parse_qsl(parts.query, keep_blank_values=True)):
            text += f"\n{k.lower()}:{v}"
        return base64.b64encode(hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest()).decode()

    def get(self, name: str, start: int, length: int, etag: str | None, label: str) -> tuple[int, bytes]:
        """(HTTP status, body) of one ranged GET, retried while the answer is transient."""
        url = self.url(name)
        return self._request(url, lambda: self.headers(url, start, length, etag), label)

    def list_page(self, prefix: str, delimiter: str | None, marker: str | None, label: str,
                  max_results: int | None = None) -> tuple[int, bytes]:
        """(HTTP status, body) of one List Blobs page (5000 blobs, metadata included: ADLS folder
        markers), parsed by parse_list_page; the same request the SDK makes, without its deserializer
        (~0.2 ms of CPU per blob: 200 s for a million-blob listing, against ~20 s)."""
        from urllib.parse import urlencode

        params = {"restype": "container", "comp": "list", "include": "metadata"}
        if prefix:
            params["prefix"] = prefix
        if delimiter:
            params["delimiter"] = delimiter
        if marker:
            params["marker"] = marker
        if max_results:
            params["maxresults"] = str(max_results)
        url = f"{self.container_url}?{urlencode(params, quote_via=quote, safe='/')}"
        sas = self._sas()
        if sas:
            url += "&" + sas
        return self._request(url, lambda: self._signed(url, {}), label)

    def _request(self, url: str, headers: Callable[[], dict[str, str]], label: str) -> tuple[int, bytes]:
        import urllib3

        for attempt in range(self.retries + 1):
            try:
                with self.limiter.request():
                    response = self.http.request("GET", url, headers=headers(), preload_content=True)
            except urllib3.exceptions.HTTPError as exc:  # connection refused, reset, timed out
                if attempt == self.retries:
                    raise OSError(f"{label}: the storage account cannot be reached ({type(exc).__name__})") from None
                self.sleep(backoff_seconds(attempt))
                continue
            status = response.status
            if status in RETRYABLE and attempt < self.retries:
                if status in (429, 503):
                    self.limiter.throttled()
                asked = retry_after_seconds(response.headers)
                wait = min(60.0, max(asked or 0.0, backoff_seconds(attempt)))
                logger.info("%s: HTTP %d, retrying in %.1fs", label, status, wait)
                self.sleep(wait)
                continue
            if status < 300:
                self.limiter.succeeded()
            code = response.headers.get("x-ms-error-code", "")
            return status, response.data if status < 300 else code.encode()
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------- the store


class AzureBlobFileStore:
    """Blobs of one container under one prefix. `uri` of a file: `<base>/<blob name>` where base is
    the container's URL in the form the user gave (without SAS); blob names are kept raw."""

    def __init__(self, location: Location, container_client: Any, credential: AzureCredential,
                 settings: Settings | None = None, spark: SparkSession | None = None,
                 limiter: RequestLimiter | None = None, getter: RangeGetter | None = None) -> None:
        _container(location)
        self.location = location
        self.kind = location.kind
        self.client = container_client
        self.credential = credential
        self.settings = settings or Settings()
        route = self.settings.azure_spark_route
        if route == "auto":
            route = "staging" if location.emulator_endpoint else "abfss"
        self.route = route
        self.base = self._container_base(location)
        self._etags: dict[str, tuple[int, str | None]] = {}
        self._spark = spark
        self._spark_configured = False
        self._lock = threading.Lock()
        self._staging_root: str | None = None
        self._staged: dict[str, tuple[str, int]] = {}  # uri -> (local path, bytes)
        self._staged_bytes = 0
        self._staging: dict[str, threading.Event] = {}  # uri -> set when its download ended
        self._finalizer: weakref.finalize[..., AzureBlobFileStore] | None = None
        # requests: at most `threads` in flight (adaptive), one pool of keep-alive connections
        self.threads = io_threads(self.settings, self)
        self.limiter = limiter or RequestLimiter(self.threads, self.settings.io_max_inflight_bytes)
        self.cache = WholeFileCache(self.settings.io_cache_bytes)
        self._pool: ThreadPoolExecutor | None = None  # read-ahead ranges and listing pages
        self._sleep: Callable[[float], None] = time.sleep
        self.getter = getter  # ranged GETs and listings without the SDK's pipeline (None: through the SDK client)
        self.list_page_size: int | None = None  # blobs per listing page (None: the service's 5000)
        self.counter = ReadCounter()  # bytes downloaded from blobs (summary.bytes_read)

    # ------------------------------------------------------------------ construction (the edge)

    @classmethod
    def from_location(cls, location: Location, settings: Settings, *, spark: SparkSession | None = None,
                      secret_reader: SecretReader | None = None, databricks: bool = False,
                      retry_total: int = 3, governed: GovernedCredentials | None = None) -> AzureBlobFileStore:
        """The store with its SDK client. `spark`, on Databricks, reads a secret-scope key and gets
        the credential's fs.azure settings; `databricks`: the runtime's rules apply (Unity Catalog,
        secret scopes; `governed` asks the Databricks API, default databricks-sdk's WorkspaceClient)."""
        from azure.storage.blob import ContainerClient

        if secret_reader is None and spark is not None:
            secret_reader = dbutils_secret_reader(spark)
        credential = resolve_credential(location, settings, databricks=databricks, secret_reader=secret_reader,
                                        governed=governed, spark=spark)
        endpoint = location.blob_endpoint
        assert endpoint is not None
        sdk_credential: Any
        if credential.sdk_credential is not None:
            sdk_credential = credential.sdk_credential
        elif credential.kind == "sas":
            sdk_credential = reveal(credential.sas_token)
        elif credential.kind == "key":
            sdk_credential = {"account_name": location.account, "account_key": reveal(credential.account_key)}
        else:
            if endpoint.startswith("http://"):
                raise SourceError(
                    f"storage account {location.account!r} (container {location.container!r}) is served over "
                    "http (emulator): DefaultAzureCredential needs https; give AZURE_STORAGE_CONNECTION_STRING, "
                    "a SAS token or NUVYN_AZURE_ACCOUNT_KEY"
                )
            from azure.identity import DefaultAzureCredential

            sdk_credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
        threads = io_threads(settings, location)
        limiter = RequestLimiter(threads, settings.io_max_inflight_bytes)
        # one client (one pipeline, one pool of keep-alive connections) for the account and container:
        # blob clients made from it share its transport
        client = ContainerClient(account_url=endpoint, container_name=_container(location),
                                 credential=sdk_credential, transport=http_transport(threads + 8),
                                 retry_policy=storage_retry_policy(limiter, retry_total))
        getter = RangeGetter(f"{endpoint.rstrip('/')}/{quote(_container(location), safe='')}", location.account or "",
                             credential, credential.sdk_credential or (sdk_credential if credential.kind == "default"
                                                                       else None), threads + 8,
                             limiter)
        store = cls(location, client, credential, settings, spark=spark, limiter=limiter, getter=getter)
        logger.info("Azure source: account %s container %s prefix %r (credential: %s, Spark route: %s)",
                    location.account, location.container, location.prefix, credential.source, store.route)
        return store

    @staticmethod
    def _container_base(location: Location) -> str:
        display = location.display
        scheme = display.split("://", 1)[0].lower()
        if scheme in ("abfss", "abfs", "wasbs", "wasb"):
            return display.split("://", 1)[0] + "://" + display.split("://", 1)[1].split("/", 1)[0]
        if location.emulator_endpoint:
            return f"{location.emulator_endpoint}/{quote(location.container or '', safe='')}"
        return display.split("://", 1)[0] + "://" + display.split("://", 1)[1].split("/", 1)[0] + \
            "/" + quote(location.container or "", safe="")

    # ------------------------------------------------------------------ uris

    def uri_of(self, blob_name: str) -> str:
        return f"{self.base}/{blob_name}"

    def blob_name(self, uri: str) -> str:
        if not uri.startswith(self.base + "/"):
            raise ValueError(f"{uri!r} is not in container {self.location.container!r}")
        return uri[len(self.base) + 1:]

    def display(self, uri: str) -> str:
        """https/http forms: percent-encoded blob path (a valid URL); abfss/wasbs: raw (Hadoop path)."""
        if uri == self.base:
            return uri
        name = self.blob_name(uri)
        if self.base.split("://", 1)[0].lower() in ("http", "https"):
            return f"{self.base}/{quote(name, safe='/=-_.~!$()*+,;:@')}"
        return uri

    # ------------------------------------------------------------------ listing

    def _folder_prefix(self) -> str:
        p = self.location.prefix
        return p if (not p or p.endswith("/")) else p + "/"

    def hierarchical(self) -> bool:
        """Folder by folder (NUVYN_AZURE_LISTING; auto: for ADLS Gen2 paths, hierarchical namespace)."""
        mode = self.settings.azure_listing
        return mode == "hierarchical" or (mode == "auto" and self.kind == "adls_gen2")

    def list_files(self, prune: PruneRule) -> Iterator[FileInfo]:
        """Every blob under the prefix, streamed in name order; the next page (or the next folders)
        is fetched while the current one is consumed.

        Flat: one paged listing (5000 blobs a request); a blob below a pruned folder is not reported.
        Hierarchical: one listing per folder, sibling folders listed in parallel, pruned folders
        never listed. Either way a pruned folder is reported once; folder markers (ADLS
        directories, 'x/' blobs) are not files."""
        from azure.core.exceptions import AzureError

        prefix = self._folder_prefix()
        found = False
        try:
            entries = self._walk(prefix, prune) if self.hierarchical() else self._flat(prefix, prune)
            for entry in entries:
                if isinstance(entry, tuple):  # (pruned folder relative to the prefix, reason)
                    folder, reason = entry
                    found = True
                    yield FileInfo(folder + "/", self.uri_of(prefix + folder), 0, skip_reason=reason)
                    continue
                name: str = entry.name
                rel = name[len(prefix):]
                if not rel or rel.endswith("/") or _is_folder_marker(entry):
                    continue
                found = True
                uri = self.uri_of(name)
                size = int(entry.size or 0)
                self._etags[uri] = (size, entry.etag)
                modified = entry.last_modified.timestamp() if entry.last_modified else None
                yield FileInfo(rel, uri, size, modified, entry.etag)
        except (AzureError, OSError) as exc:  # the SDK's errors, turned into one clear SourceError
            raise source_error(exc, self.location, self.credential, "listing") from None
        if found:
            return
        single = self._single_blob()
        if single is not None:
            yield single
            return
        where = f"prefix {self.location.prefix!r}" if self.location.prefix else "the container root"
        raise SourceError(f"no blobs under {where} in container {self.location.container!r} of storage account "
                          f"{self.location.account!r}; check data_source_path")

    def _list_page(self, prefix: str, delimiter: str | None, marker: str | None) -> tuple[list[Any], str | None]:
        """One page of a listing and the marker of the next (None: the last page): the blobs, and with
        a delimiter the sub-folder prefixes before them (the SDK's order). Requested and parsed without
        the SDK's deserializer (RangeGetter.list_page); a refused or failed request is made again by
        the SDK, whose error (or answer) is the listing's; so is one whose answer does not parse."""
        if self.getter is not None:
            try:
                status, body = self.getter.list_page(prefix, delimiter, marker, f"listing {self._label(prefix)}",
                                                     self.list_page_size)
                if status < 300:
                    return parse_list_page(body)
            except (OSError, SyntaxError, ValueError):  # unreachable, or an answer that does not parse (ParseError)
                pass
        per_page = {"results_per_page": self.list_page_size} if self.list_page_size else {}
        paged = (self.client.walk_blobs(name_starts_with=prefix or None, delimiter=delimiter, include=["metadata"],
                                        **per_page)
                 if delimiter else self.client.list_blobs(name_starts_with=prefix or None, include=["metadata"],
                                                          **per_page))
        pages = paged.by_page(continuation_token=marker)
        page = self._call(lambda: next(pages, None))
        return ([] if page is None else list(page)), pages.continuation_token or None

    def _pages(self, prefix: str) -> Iterator[list[Any]]:
        """The pages of a flat listing, each fetched (under the limiter) while the one before is consumed."""
        nxt: Future[tuple[list[Any], str | None]] = self.pool.submit(self._list_page, prefix, None, None)
        while True:
            items, marker = nxt.result()
            if marker is not None:
                nxt = self.pool.submit(self._list_page, prefix, None, marker)
            yield items
            if marker is None:
                return

    def _flat(self, prefix: str, prune: PruneRule) -> Iterator[Any]:
        """Blobs and pruned folders ((relative folder, reason), once each) in name order."""
        reported: set[str] = set()
        for page in self._pages(prefix):
            for blob in page:
                segs = blob.name[len(prefix):].split("/")
                pruned = None
                for i, seg in enumerate(segs[:-1]):
                    reason = prune(seg) if seg else "empty folder name"
                    if reason:
                        pruned = ("/".join(segs[: i + 1]), reason)
                        break
                if pruned is None:
                    yield blob
                elif pruned[0] not in reported:
                    reported.add(pruned[0])
                    yield pruned

    def _folder(self, folder: str) -> list[Any]:
        """The blobs and sub-folder prefixes directly in `folder` (every page), in name order. Runs
        in the pool: its pages are fetched here, one after another (a task never waits on the pool)."""
        items: list[Any] = []
        marker: str | None = None
        while True:
            page, marker = self._list_page(folder, "/", marker)
            items.extend(page)
            if marker is None:
                return items

    def _walk(self, prefix: str, prune: PruneRule) -> Iterator[Any]:
        """Depth first in name order (the flat listing's order); while a folder is walked, the next
        LISTING_AHEAD sibling folders are already being listed. Pruned folders are not listed."""

        def visit(folder: str, listing: Future[list[Any]]) -> Iterator[Any]:
            items = listing.result()
            subs: list[str] = []
            for item in items:
                if _is_prefix(item):
                    seg = item.name[len(folder):].rstrip("/")
                    if not (prune(seg) if seg else "empty folder name"):
                        subs.append(item.name)
            pending: dict[str, Future[list[Any]]] = {}
            queue = iter(subs)

            def top_up() -> None:
                while len(pending) < LISTING_AHEAD:
                    nxt = next(queue, None)
                    if nxt is None:
                        return
                    pending[nxt] = self.pool.submit(self._folder, nxt)

            top_up()
            for item in items:
                if not _is_prefix(item):
                    yield item
                    continue
                sub = pending.pop(item.name, None)
                if sub is None:
                    seg = item.name[len(folder):].rstrip("/")
                    yield (item.name[len(prefix):].rstrip("/"), prune(seg) if seg else "empty folder name")
                    continue
                top_up()
                yield from visit(item.name, sub)

        yield from visit(prefix, self.pool.submit(self._folder, prefix))

    def _single_blob(self) -> FileInfo | None:
        """The prefix itself may name one blob (a one-file source)."""
        name = self.location.prefix
        if not name or name.endswith("/"):
            return None
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            props = self.client.get_blob_client(name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        except (AzureError, OSError) as exc:
            raise source_error(exc, self.location, self.credential, "reading a blob of") from None
        uri = self.uri_of(name)
        self._etags[uri] = (int(props.size), props.etag)
        return FileInfo("", uri, int(props.size), props.last_modified.timestamp() if props.last_modified else None,
                        props.etag)

    # ------------------------------------------------------------------ reading

    def _label(self, name: str) -> str:
        return f"blob {name!r} (container {self.location.container!r}, account {self.location.account!r})"

    @property
    def pool(self) -> ThreadPoolExecutor:
        """Threads for read-ahead ranges and listing pages (never waiting on each other)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="nuvyn-range")
                weakref.finalize(self, self._pool.shutdown, False)
            return self._pool

    def _call(self, request: Callable[[], Any]) -> Any:
        """One request under the limiter. The SDK retries 5xx and connection errors (its retry policy
        tells the limiter about 503s); a 429 is retried here with backoff (Retry-After when given)."""
        from azure.core.exceptions import HttpResponseError

        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                with self.limiter.request():
                    out = request()
                self.limiter.succeeded()
                return out
            except HttpResponseError as exc:
                if getattr(exc, "status_code", None) != 429 or attempt == THROTTLE_RETRIES:
                    raise
                self.limiter.throttled()
                asked = retry_after_seconds(getattr(getattr(exc, "response", None), "headers", None))
                wait = min(60.0, asked if asked is not None else backoff_seconds(attempt))
                logger.info("storage account %s throttles (429): waiting %.1fs", self.location.account, wait)
                self._sleep(wait)
        raise AssertionError("unreachable")

    def _fetch(self, name: str, etag: str | None) -> Fetch:
        """(start, length) -> bytes of one blob: one ranged GET, with If-Match when the listing gave
        the etag, so that a blob replaced mid-read is an error instead of a silent mix of two versions."""
        # the SDK's blob client only where the SDK reads (a client object per file for nothing otherwise)
        blob: Any = self.client.get_blob_client(name) if self.getter is None else None
        label = self._label(name)
        kwargs: dict[str, Any] = {}
        if etag:
            from azure.core import MatchConditions

            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}

        def fetch(start: int, length: int) -> bytes:
            data = download(start, length)
            self.counter.add(len(data))  # every byte fetched from a blob (summary.bytes_read)
            return data

        def download(start: int, length: int) -> bytes:
            from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

            if self.getter is not None:
                return self._get(name, start, length, etag, label)
            try:
                return bytes(self._call(lambda: blob.download_blob(offset=start, length=length, **kwargs).readall()))
            except ResourceNotFoundError:
                raise BlobGoneError(f"{label} disappeared after listing (blob not found)") from None
            except ResourceModifiedError:
                if not self._exists(name):  # a conditional read of a deleted blob can answer 412 (Azurite does)
                    raise BlobGoneError(f"{label} disappeared after listing (blob not found)") from None
                raise BlobChangedError(f"{label} changed after listing (etag mismatch); rerun the job") from None

        return fetch

    def _get(self, name: str, start: int, length: int, etag: str | None, label: str) -> bytes:
        """One ranged GET through the RangeGetter, its answer turned into bytes or a clear error."""
        assert self.getter is not None
        status, body = self.getter.get(name, start, length, etag, label)
        if status < 300:
            return bytes(body)
        code = body.decode("ascii", errors="replace")
        if status == 404:
            raise BlobGoneError(f"{label} disappeared after listing (blob not found)")
        if status == 412:
            if not self._exists(name):  # a conditional read of a deleted blob can answer 412 (Azurite does)
                raise BlobGoneError(f"{label} disappeared after listing (blob not found)")
            raise BlobChangedError(f"{label} changed after listing (etag mismatch); rerun the job")
        if status in (401, 403):
            raise PermissionError(f"{label}: read refused (HTTP {status} {code}); the credential "
                                  f"({self.credential.source}) needs read permission")
        raise OSError(f"{label}: ranged read failed (HTTP {status} {code})".rstrip())

    def _exists(self, name: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._call(self.client.get_blob_client(name).get_blob_properties)
            return True
        except ResourceNotFoundError:
            return False

    def open(self, uri: str) -> BinaryIO:
        """A seekable reader whose reads are few large ranges (sources/ranges.RangeReader): the size
        and etag come from the listing (no HEAD); a small file kept in `cache` costs no request."""
        return self._open(uri, sequential=False)

    def read_range(self, uri: str, start: int, length: int) -> bytes:
        """`length` bytes from `start`: one ranged GET (If-Match the listing's etag when it gave
        one), its body returned as it came (no reader between: a big file's count reads 8 MiB
        ranges this way)."""
        known = self._etags.get(uri)
        return self._fetch(self.blob_name(uri), known[1] if known is not None else None)(start, length)

    def open_sequential(self, uri: str) -> BinaryIO:
        """`open` for a read of the whole file from where it starts: ranges are fetched ahead, in
        parallel, within NUVYN_IO_MAX_INFLIGHT_BYTES."""
        return self._open(uri, sequential=True)

    def _open(self, uri: str, sequential: bool) -> BinaryIO:
        name = self.blob_name(uri)
        known = self._etags.get(uri)
        if known is None:
            from azure.core.exceptions import ResourceNotFoundError

            try:
                props = self._call(self.client.get_blob_client(name).get_blob_properties)
            except ResourceNotFoundError:
                raise BlobGoneError(f"{self._label(name)} not found") from None
            known = (int(props.size), props.etag)
        raw = RangeReader(known[0], self._fetch(name, known[1]), label=self._label(name),
                          tail_bytes=self.settings.io_tail_bytes,
                          read_ahead=ReadAhead(self.pool, self.limiter, max_ahead=min(8, self.threads))
                          if sequential else None,
                          data=self.cache.get(uri), on_whole=functools.partial(self.cache.put, uri))
        return io.BufferedReader(raw, buffer_size=READ_BUFFER_BYTES)

    # ------------------------------------------------------------------ Spark

    def configure_spark(self, spark: SparkSession) -> None:
        """Give Spark the listing's credential for this account (values never logged)."""
        with self._lock:
            if self._spark_configured:
                return
            conf = spark_conf_for(self.location, self.credential, self.route)
            for k, v in conf.items():
                spark.conf.set(k, v)
            self._spark_configured = True
            if conf:
                logger.info("Spark: %d fs.azure settings set for account %s (%s route)", len(conf),
                            self.location.account, self.route)

    def spark_uri(self, uri: str) -> str:
        name = self.blob_name(uri)
        if self.route == "staging":
            return escape_glob("file:" + self._stage(uri, name))
        if not self._spark_configured and self._spark is not None:
            self.configure_spark(self._spark)
        loc = self.location
        if self.route == "wasbs":
            return escape_glob(f"wasbs://{loc.container}@{loc.account}.blob.{loc.endpoint_suffix}/{name}")
        return escape_glob(loc.abfss_uri(name))

    # ------------------------------------------------------------------ staging route

    def _staging_dir(self) -> str:
        if self._staging_root is None:
            parent = self.settings.azure_staging_dir
            if parent:
                os.makedirs(parent, exist_ok=True)
            self._staging_root = tempfile.mkdtemp(prefix="nuvyn-staging-", dir=parent or None)
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._staging_root, True)
        return self._staging_root

    def _stage(self, uri: str, name: str) -> str:
        """Download one blob to <staging>/<container>/<blob name> (once), within the byte budget.
        Downloads of different blobs run at once (tables are extracted in parallel)."""
        segs = name.split("/")
        if any(s in ("", ".", "..") for s in segs):
            raise OSError(f"{self._label(name)} cannot be staged locally (empty, '.' or '..' path segment)")
        while True:
            with self._lock:
                hit = self._staged.get(uri)
                if hit is not None:
                    return hit[0]
                running = self._staging.get(uri)
                if running is None:
                    size = self._etags.get(uri, (0, None))[0]
                    budget = self.settings.azure_staging_max_bytes
                    if self._staged_bytes + size > budget:
                        raise OSError(
                            f"staging {self._label(name)} would exceed NUVYN_AZURE_STAGING_MAX_BYTES={budget} "
                            f"({self._staged_bytes} bytes already staged); raise it or use the abfss route"
                        )
                    self._staged_bytes += size  # reserved now, corrected below
                    done = self._staging[uri] = threading.Event()
                    path = os.path.join(self._staging_dir(), self.location.container or "c", *segs)
                    break
            running.wait()
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".part-nuvyn"
            with self.open_sequential(uri) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 8 * 1024 * 1024)
            os.replace(tmp, path)
            written = os.path.getsize(path)
        except BaseException:
            with self._lock:
                self._staged_bytes -= size
                self._staging.pop(uri, None)
            done.set()
            raise
        with self._lock:
            self._staged[uri] = (path, written)
            self._staged_bytes += written - size
            self._staging.pop(uri, None)
        done.set()
        logger.debug("staged %s (%d bytes)", name, written)
        return path

    def release(self) -> None:
        """Delete every staged file and forget every cached one."""
        self.release_files(list(self._staged))
        self.cache.discard(list(self._etags))

    def release_files(self, uris: Iterable[str]) -> None:
        """After a table: delete its staged files and forget its cached ones (other tables' stay)."""
        uris = list(uris)
        self.cache.discard(uris)
        with self._lock:
            for uri in uris:
                hit = self._staged.pop(uri, None)
                if hit is not None:
                    self._staged_bytes -= hit[1]
                    with contextlib.suppress(OSError):
                        os.remove(hit[0])

    def close(self) -> None:
        self.release()
        if self._finalizer is not None:
            self._finalizer()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        try:
            self.client.close()
        except Exception as exc:  # noqa: BLE001 - closing is best effort
            logger.debug("closing the container client failed: %s", type(exc).__name__)


def _container(location: Location) -> str:
    """The container of an Azure location; SourceError for any other path."""
    if not location.is_azure or not location.container:
        raise SourceError(f"{location.display!r} is not an Azure container path")
    return location.container


@dataclass(frozen=True)
class ListedBlob:
    """A blob of a List Blobs page (the fields of the SDK's BlobProperties the store reads)."""

    name: str
    size: int
    etag: str | None
    last_modified: datetime | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class ListedPrefix:
    """A sub-folder of a delimiter listing (the SDK's BlobPrefix): its name ends with the delimiter."""

    name: str
    size: None = None


def parse_list_page(body: bytes) -> tuple[list[Any], str | None]:
    """(items, next marker) of a List Blobs answer (EnumerationResults XML): the page's prefixes,
    then its blobs, each in the answer's order, as the SDK gives them; a name the service encoded
    (Encoded="true": characters XML cannot hold) is decoded as the SDK decodes it."""
    import xml.etree.ElementTree as ET
    from email.utils import parsedate_to_datetime
    from urllib.parse import unquote

    root = ET.fromstring(body)
    prefixes: list[Any] = []
    blobs: list[Any] = []
    listed = root.find("Blobs")
    for el in () if listed is None else listed:
        name_el = el.find("Name")
        name = (name_el.text or "") if name_el is not None else ""
        if name_el is not None and name_el.get("Encoded") == "true":
            name = unquote(name)
        if el.tag == "BlobPrefix":
            prefixes.append(ListedPrefix(name))
        elif el.tag == "Blob":
            props = el.find("Properties")
            get = props.findtext if props is not None else (lambda _tag: None)
            modified = get("Last-Modified")
            meta_el = el.find("Metadata")
            blobs.append(ListedBlob(name=name, size=int(get("Content-Length") or 0), etag=get("Etag"),
                                    last_modified=parsedate_to_datetime(modified) if modified else None,
                                    metadata={} if meta_el is None else {m.tag: m.text or "" for m in meta_el}))
    return prefixes + blobs, root.findtext("NextMarker") or None


def _is_prefix(item: Any) -> bool:
    """A sub-folder entry of a delimiter listing (BlobPrefix): its name ends with the delimiter."""
    return type(item).__name__ == "BlobPrefix" or (str(getattr(item, "name", "")).endswith("/")
                                                  and getattr(item, "size", None) is None)


def _is_folder_marker(blob: Any) -> bool:
    meta = getattr(blob, "metadata", None) or {}
    return str(meta.get("hdi_isfolder", meta.get("Hdi_isfolder", ""))).lower() == "true"
