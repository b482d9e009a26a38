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

import contextlib
import importlib
import io
import logging
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from executor.errors import SourceError
from executor.redaction import Secret
from executor.settings import Settings, reveal
from executor.sources.base import FileInfo, PruneRule
from executor.sources.databricks_credentials import SERVICE_PRINCIPAL, UNITY_CATALOG, GovernedCredentials
from executor.sources.local import escape_glob
from executor.sources.location import Location, parse_connection_string

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

READ_AHEAD_BYTES = 4 * 1024 * 1024
"""Each ranged download fetches at least this much (the reader's read-ahead buffer)."""

SAS, CONNECTION_STRING, ACCOUNT_KEY, SECRET_SCOPE, DEFAULT = (
    "SAS token from the path", "AZURE_STORAGE_CONNECTION_STRING", "NUVYN_AZURE_ACCOUNT_KEY",
    "Databricks secret scope", "DefaultAzureCredential")

SecretReader = Callable[[str, str], str]


# ---------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class AzureCredential:
    """Which credential serves an account, and where it came from (`source`, safe to show)."""

    source: str  # one of SAS, CONNECTION_STRING, ACCOUNT_KEY, UNITY_CATALOG, SERVICE_PRINCIPAL, SECRET_SCOPE, DEFAULT
    sas_token: str | None = field(default=None, repr=False)
    account_key: str | None = field(default=None, repr=False)
    # Databricks' credentials (executor.sources.databricks_credentials): the storage SDK's credential
    # object (a renewing SAS or a token credential) and the fs.azure settings Spark gets instead of
    # those derived from the key or SAS (empty: Spark reads through Unity Catalog).
    sdk_credential: Any = field(default=None, repr=False, compare=False)
    spark_conf: dict[str, str] | None = field(default=None, repr=False, compare=False)

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
        return AzureCredential(SAS, sas_token=token)
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
            return AzureCredential(CONNECTION_STRING, sas_token=cs["sharedaccesssignature"].lstrip("?"))
        if cs.get("accountkey"):
            return AzureCredential(CONNECTION_STRING, account_key=cs["accountkey"])
        raise SourceError(
            "AZURE_STORAGE_CONNECTION_STRING has neither AccountKey nor SharedAccessSignature "
            f"(storage account {account!r}, container {location.container!r})"
        )
    if account_key:
        return AzureCredential(ACCOUNT_KEY, account_key=account_key.strip())
    if source in (UNITY_CATALOG, SERVICE_PRINCIPAL):
        found = (governed or GovernedCredentials()).resolve(location, settings, spark)
        if found is not None:
            if found.source == SERVICE_PRINCIPAL:
                check_credential_target(location, settings, SERVICE_PRINCIPAL)
            return AzureCredential(found.source, sas_token=found.sas.token if found.sas else None,
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
            return AzureCredential(SECRET_SCOPE, account_key=key.get_secret_value().strip())
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
            return {f"fs.azure.account.key.{host}": credential.account_key or ""}
        return {f"fs.azure.sas.{container}.{host}": credential.sas_token or ""}
    host = f"{acct}.dfs.{suffix}"
    if credential.kind == "key":
        return {f"fs.azure.account.auth.type.{host}": "SharedKey",
                f"fs.azure.account.key.{host}": credential.account_key or ""}
    return {f"fs.azure.account.auth.type.{host}": "SAS",
            f"fs.azure.sas.token.provider.type.{host}": "org.apache.hadoop.fs.azurebfs.sas.FixedSASTokenProvider",
            f"fs.azure.sas.fixed.token.{host}": credential.sas_token or ""}


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


class BlobChangedError(OSError):
    """The blob was replaced after listing (its etag changed)."""


# ---------------------------------------------------------------------------------- reader


class BlobRangeReader(io.RawIOBase):
    """A seekable raw reader of one blob: each read is a ranged download (offset, length).

    Wrapped in io.BufferedReader by `AzureBlobFileStore.open` (read-ahead buffer). When the etag
    from the listing is known every range is fetched with If-Match, so a blob replaced mid-read
    is an error instead of a silent mix of two versions."""

    def __init__(self, blob_client: Any, size: int, etag: str | None, label: str,
                 min_read: int = READ_AHEAD_BYTES) -> None:
        super().__init__()
        self._blob = blob_client
        self._size = size
        self._etag = etag
        self._label = label
        self._pos = 0
        self._min_read = min_read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(f"negative seek position {pos} in {self._label}")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError(f"I/O operation on closed blob reader ({self._label})")
        want = len(buffer)
        if want == 0 or self._pos >= self._size:
            return 0
        length = min(max(want, 1), self._size - self._pos)
        data = self._download(self._pos, length)
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def _download(self, offset: int, length: int) -> bytes:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        kwargs: dict[str, Any] = {}
        if self._etag:
            kwargs = {"etag": self._etag, "match_condition": MatchConditions.IfNotModified}
        try:
            return self._blob.download_blob(offset=offset, length=length, **kwargs).readall()
        except ResourceNotFoundError:
            raise BlobGoneError(f"{self._label} disappeared after listing (blob not found)") from None
        except ResourceModifiedError:
            if not self._exists():  # a conditional read of a deleted blob can answer 412 (Azurite does)
                raise BlobGoneError(f"{self._label} disappeared after listing (blob not found)") from None
            raise BlobChangedError(f"{self._label} changed after listing (etag mismatch); rerun the job") from None

    def _exists(self) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._blob.get_blob_properties()
            return True
        except ResourceNotFoundError:
            return False

    @property
    def size(self) -> int:
        return self._size


# ---------------------------------------------------------------------------------- the store


class AzureBlobFileStore:
    """Blobs of one container under one prefix. `uri` of a file: `<base>/<blob name>` where base is
    the container's URL in the form the user gave (without SAS); blob names are kept raw."""

    def __init__(self, location: Location, container_client: Any, credential: AzureCredential,
                 settings: Settings | None = None, spark: SparkSession | None = None) -> None:
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
        self._finalizer: weakref.finalize | None = None

    # ------------------------------------------------------------------ construction (the edge)

    @classmethod
    def from_location(cls, location: Location, settings: Settings, *, spark: SparkSession | None = None,
                      secret_reader: SecretReader | None = None, databricks: bool = False,
                      retry_total: int = 3, governed: GovernedCredentials | None = None) -> AzureBlobFileStore:
        """The store with its SDK client. `spark`, on Databricks, reads a secret-scope key and gets
        the credential's fs.azure settings; `databricks`: the runtime's rules apply (Unity Catalog,
        secret scopes; `governed` asks the Databricks API, default databricks-sdk's WorkspaceClient)."""
        from azure.storage.blob import ContainerClient, ExponentialRetry

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
            sdk_credential = credential.sas_token
        elif credential.kind == "key":
            sdk_credential = {"account_name": location.account, "account_key": credential.account_key}
        else:
            if endpoint.startswith("http://"):
                raise SourceError(
                    f"storage account {location.account!r} (container {location.container!r}) is served over "
                    "http (emulator): DefaultAzureCredential needs https; give AZURE_STORAGE_CONNECTION_STRING, "
                    "a SAS token or NUVYN_AZURE_ACCOUNT_KEY"
                )
            from azure.identity import DefaultAzureCredential

            sdk_credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
        client = ContainerClient(account_url=endpoint, container_name=_container(location),
                                 credential=sdk_credential, connection_timeout=20, read_timeout=120,
                                 retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2,
                                                               retry_total=retry_total))
        store = cls(location, client, credential, settings, spark=spark)
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

    def list_files(self, prune: PruneRule) -> Iterator[FileInfo]:
        """Flat, paged listing of every blob under the prefix (one request per 5000 blobs).

        Folders are '/'-separated name segments: a blob below a pruned segment is not reported;
        the pruned folder is, once. Folder markers (ADLS directories, 'x/' blobs) are not files."""
        from azure.core.exceptions import AzureError

        prefix = self._folder_prefix()
        found = False
        reported: set[str] = set()
        try:
            for blob in self.client.list_blobs(name_starts_with=prefix or None, include=["metadata"]):
                name: str = blob.name
                rel = name[len(prefix):]
                if not rel or rel.endswith("/") or _is_folder_marker(blob):
                    continue
                found = True
                segs = rel.split("/")
                pruned = None
                for i, seg in enumerate(segs[:-1]):
                    reason = prune(seg) if seg else "empty folder name"
                    if reason:
                        pruned = ("/".join(segs[: i + 1]), reason)
                        break
                if pruned:
                    folder, reason = pruned
                    if folder not in reported:
                        reported.add(folder)
                        yield FileInfo(folder + "/", self.uri_of(prefix + folder), 0, skip_reason=reason)
                    continue
                uri = self.uri_of(name)
                size = int(blob.size or 0)
                self._etags[uri] = (size, blob.etag)
                modified = blob.last_modified.timestamp() if blob.last_modified else None
                yield FileInfo(rel, uri, size, modified, blob.etag)
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

    def open(self, uri: str) -> BinaryIO:
        name = self.blob_name(uri)
        blob = self.client.get_blob_client(name)
        known = self._etags.get(uri)
        if known is None:
            from azure.core.exceptions import ResourceNotFoundError

            try:
                props = blob.get_blob_properties()
            except ResourceNotFoundError:
                raise BlobGoneError(f"{self._label(name)} not found") from None
            known = (int(props.size), props.etag)
        raw = BlobRangeReader(blob, known[0], known[1], self._label(name))
        return io.BufferedReader(raw, buffer_size=READ_AHEAD_BYTES)

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
        """Download one blob to <staging>/<container>/<blob name> (once), within the byte budget."""
        with self._lock:
            hit = self._staged.get(uri)
            if hit is not None:
                return hit[0]
            segs = name.split("/")
            if any(s in ("", ".", "..") for s in segs):
                raise OSError(f"{self._label(name)} cannot be staged locally (empty, '.' or '..' path segment)")
            size = self._etags.get(uri, (0, None))[0]
            budget = self.settings.azure_staging_max_bytes
            if self._staged_bytes + size > budget:
                raise OSError(
                    f"staging {self._label(name)} would exceed NUVYN_AZURE_STAGING_MAX_BYTES={budget} "
                    f"({self._staged_bytes} bytes already staged); raise it or use the abfss route"
                )
            path = os.path.join(self._staging_dir(), self.location.container or "c", *segs)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".part-nuvyn"
            with self.open(uri) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, READ_AHEAD_BYTES)
            os.replace(tmp, path)
            written = os.path.getsize(path)
            self._staged[uri] = (path, written)
            self._staged_bytes += written
            logger.debug("staged %s (%d bytes)", name, written)
            return path

    def release(self) -> None:
        """Delete every staged file (the extractor calls this after each table: bounded batches)."""
        with self._lock:
            for path, _ in self._staged.values():
                with contextlib.suppress(OSError):
                    os.remove(path)
            self._staged.clear()
            self._staged_bytes = 0

    def close(self) -> None:
        self.release()
        if self._finalizer is not None:
            self._finalizer()
        try:
            self.client.close()
        except Exception as exc:  # noqa: BLE001 - closing is best effort
            logger.debug("closing the container client failed: %s", type(exc).__name__)


def _container(location: Location) -> str:
    """The container of an Azure location; SourceError for any other path."""
    if not location.is_azure or not location.container:
        raise SourceError(f"{location.display!r} is not an Azure container path")
    return location.container


def _is_folder_marker(blob: Any) -> bool:
    meta = getattr(blob, "metadata", None) or {}
    return str(meta.get("hdi_isfolder", meta.get("Hdi_isfolder", ""))).lower() == "true"
