"""One parsed, typed location for every path form the executor accepts. Pure.

Forms:
  /abs/path, ./rel/path, file:///abs/path                       -> local
  dbfs:/path, /dbfs/path                                        -> dbfs (read through /dbfs FUSE)
  https://<account>.blob.core.windows.net/<container>/<prefix>  -> azure_blob
  https://<account>.dfs.core.windows.net/<filesystem>/<prefix>  -> adls_gen2
  abfss://<container>@<account>.dfs.core.windows.net/<prefix>   -> adls_gen2
  wasbs://<container>@<account>.blob.core.windows.net/<prefix>  -> azure_blob
  http://<host>:<port>/<account>/<container>/<prefix>           -> azure_blob (emulator, Azurite)
A SAS token in the query string is kept apart (`sas_token`) and never shown.

The emulator form is accepted only for the hosts given in `emulator_hosts`: the endpoint named by
AZURE_STORAGE_CONNECTION_STRING (BlobEndpoint=, or UseDevelopmentStorage=true) and the explicit
NUVYN_AZURE_EMULATOR_HOSTS list (see `emulator_hosts`). Any other http(s) host is refused with
HostNotAllowed before anything connects to it, so no credential can be sent to a caller-chosen host.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from executor.errors import PayloadError, SettingsError
from executor.redaction import strip_query
from executor.settings import Secret, Settings

_HOST_RE = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.(?P<svc>blob|dfs)\.(?P<suffix>core\.windows\.net|core\.chinacloudapi\.cn|core\.usgovcloudapi\.net)$", re.I)
DEV_STORAGE_ENDPOINT = "127.0.0.1:10000"  # UseDevelopmentStorage=true


class HostNotAllowed(PayloadError):
    """An http(s) data_source_path names a host that is neither Azure storage nor an allowed emulator."""


def _netloc(text: str) -> str:
    """'http://Host:10000/acct' or 'host:10000' -> 'host:10000' (lower case, no user info)."""
    text = text.strip()
    if "://" in text:
        text = urlsplit(text).netloc
    return text.rsplit("@", 1)[-1].strip().strip("/").lower()


def parse_connection_string(text: str) -> dict[str, str]:
    """'A=1;B=x==' -> {'a': '1', 'b': 'x=='}: keys lower-cased, values may contain '='. Pure."""
    out: dict[str, str] = {}
    for part in text.strip().split(";"):
        if "=" not in part:
            continue
        k, v = part.split("=", 1)
        out[k.strip().lower()] = v.strip()
    return out


def emulator_hosts(connection_string: Secret | str | None, explicit: str | None) -> frozenset[str]:
    """The emulator endpoints (host:port, lower case) the executor may talk to. Pure.

    From the connection string: its BlobEndpoint host:port, or 127.0.0.1:10000 with
    UseDevelopmentStorage=true; from `explicit` (NUVYN_AZURE_EMULATOR_HOSTS): comma-separated
    host:port entries. Nothing else: loopback is not trusted implicitly."""
    hosts: set[str] = set()
    text = connection_string.get_secret_value() if isinstance(connection_string, Secret) else connection_string
    if text:
        parts = parse_connection_string(text)
        if parts.get("usedevelopmentstorage", "").lower() == "true":
            hosts.add(DEV_STORAGE_ENDPOINT)
        endpoint = parts.get("blobendpoint", "")
        if endpoint and not _HOST_RE.match(urlsplit(endpoint).hostname or ""):
            hosts.add(_netloc(endpoint))
    for entry in (explicit or "").split(","):
        if entry.strip():
            hosts.add(_netloc(entry))
    return frozenset(h for h in hosts if h)


@dataclass(frozen=True)
class Location:
    kind: str  # local | dbfs | azure_blob | adls_gen2
    display: str  # the path as given, without query string (no secrets)
    local_path: str | None = None  # local / dbfs: a path the driver can open
    account: str | None = None
    container: str | None = None
    prefix: str = ""  # blob name prefix, no leading '/', decoded
    endpoint_suffix: str = "core.windows.net"
    emulator_endpoint: str | None = None  # http://127.0.0.1:10000/<account>
    sas_token: Secret | None = field(default=None, repr=False, compare=False)

    @property
    def is_azure(self) -> bool:
        return self.kind in ("azure_blob", "adls_gen2")

    @property
    def blob_endpoint(self) -> str | None:
        if not self.is_azure:
            return None
        if self.emulator_endpoint:
            return self.emulator_endpoint
        return f"https://{self.account}.blob.{self.endpoint_suffix}"

    @property
    def root_name(self) -> str:
        """The last segment of the path: the name of a table rooted at the location itself."""
        if self.is_azure:
            tail = self.prefix.rstrip("/") or (self.container or "")
        else:
            tail = (self.local_path or self.display).rstrip("/")
        name = tail.rsplit("/", 1)[-1]
        return name or "root"

    def abfss_uri(self, blob_path: str = "") -> str:
        """The abfss:// URI Spark reads on Databricks (for both the blob and the dfs forms)."""
        path = blob_path if blob_path else self.prefix
        return f"abfss://{self.container}@{self.account}.dfs.{self.endpoint_suffix}/{path}"

    def __repr__(self) -> str:  # never print the SAS token
        return f"Location(kind={self.kind!r}, display={self.display!r})"


def _clean_prefix(path: str) -> str:
    return unquote(path).lstrip("/")


def parse_location(path: str, storage_hint: str | None = None,
                   emulator_hosts: Collection[str] = ()) -> Location:
    """Parse a data_source_path; raise PayloadError naming the path (without secrets).

    `emulator_hosts`: host:port entries (see `emulator_hosts()`) where the emulator form is allowed."""
    raw = path.strip()
    shown = strip_query(raw)
    if not raw:
        raise PayloadError("data_source_path is empty")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    sas = Secret(parts.query) if parts.query else None  # known to the redactor from here on

    if scheme in ("", "file") or (len(scheme) == 1 and raw[1:3] in (":\\", ":/")):
        local = unquote(parts.path) if scheme == "file" else raw
        if local.startswith("/dbfs/") or local == "/dbfs":
            return Location("dbfs", shown, local_path=local)
        return Location("local", shown, local_path=os.path.abspath(os.path.expanduser(local)))
    if scheme == "dbfs":
        rest = raw[len("dbfs:"):]
        rest = "/" + rest.lstrip("/")
        return Location("dbfs", shown, local_path="/dbfs" + rest)
    if scheme in ("abfss", "abfs", "wasbs", "wasb"):
        if "@" not in parts.netloc:
            raise PayloadError(
                f"data_source_path {shown!r}: expected {scheme}://<container>@<account>.<dfs|blob>.core.windows.net/<path>"
            )
        container, host = parts.netloc.split("@", 1)
        m = _HOST_RE.match(host)
        if not m or not container:
            raise PayloadError(f"data_source_path {shown!r}: {host!r} is not an Azure storage host")
        kind = "adls_gen2" if scheme.startswith("abfs") else "azure_blob"
        return Location(kind, shown, account=m.group("account").lower(), container=unquote(container),
                        prefix=_clean_prefix(parts.path), endpoint_suffix=m.group("suffix").lower(),
                        sas_token=sas)
    if scheme in ("http", "https"):
        host = parts.hostname or ""
        m = _HOST_RE.match(host)
        segs = [s for s in parts.path.split("/")]
        if m:
            segs = segs[1:] if segs and segs[0] == "" else segs
            if not segs or not segs[0]:
                raise PayloadError(f"data_source_path {shown!r} names no container")
            kind = "adls_gen2" if m.group("svc").lower() == "dfs" else "azure_blob"
            return Location(kind, shown, account=m.group("account").lower(), container=unquote(segs[0]),
                            prefix=_clean_prefix("/".join(segs[1:])), endpoint_suffix=m.group("suffix").lower(),
                            sas_token=sas)
        netloc = _netloc(parts.netloc)
        if netloc in {h.lower() for h in emulator_hosts}:
            segs = segs[1:] if segs and segs[0] == "" else segs
            if len(segs) < 2 or not segs[0] or not segs[1]:
                raise PayloadError(
                    f"data_source_path {shown!r}: the emulator form is http://<host>:<port>/<account>/<container>/<prefix>"
                )
            endpoint = f"{parts.scheme}://{parts.netloc.split('@')[-1]}/{segs[0]}"
            return Location("azure_blob", shown, account=segs[0], container=unquote(segs[1]),
                            prefix=_clean_prefix("/".join(segs[2:])), emulator_endpoint=endpoint,
                            sas_token=sas)
        raise HostNotAllowed(
            f"data_source_path {shown!r}: host {netloc!r} is not an Azure storage host "
            "(<account>.blob|dfs.core.windows.net) nor an allowed emulator endpoint; an emulator must be the "
            "BlobEndpoint of AZURE_STORAGE_CONNECTION_STRING or be listed in NUVYN_AZURE_EMULATOR_HOSTS (host:port)")
    raise PayloadError(
        f"data_source_path {shown!r} has an unsupported scheme {scheme!r}; expected a local path, dbfs:/, "
        "https://<account>.blob|dfs.core.windows.net/..., abfss://, wasbs:// or the Azurite emulator URL"
    )


PUBLIC_CLOUD = "core.windows.net"
_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")
CredentialTarget = tuple[str, str]
"""(account, where): `where` is the endpoint suffix (core.windows.net, core.chinacloudapi.cn, ...) of a
cloud account, or the host:port of an emulator."""


def credential_target(location: Location) -> CredentialTarget:
    """The endpoint a request for `location` goes to, as (account, suffix or emulator host:port). Pure."""
    account = (location.account or "").lower()
    if location.emulator_endpoint:
        return account, _netloc(location.emulator_endpoint)
    return account, location.endpoint_suffix.lower()


def show_target(target: CredentialTarget) -> str:
    account, where = target
    return f"{account}.blob.{where}" if where.startswith("core.") else f"http://{where}/{account}"


def credential_targets(text: str | None) -> frozenset[CredentialTarget]:
    """NUVYN_AZURE_CREDENTIAL_ACCOUNTS -> the endpoints the server's own credential may serve. Pure.

    `acct` is the public cloud (acct.blob.core.windows.net) only; another cloud is named by its host
    (`acct.blob.core.chinacloudapi.cn`, `acct.dfs.core.usgovcloudapi.net`, with or without https://),
    an emulator by its endpoint (`http://127.0.0.1:10000/devstoreaccount1`). SettingsError names a bad entry."""
    targets: set[CredentialTarget] = set()
    for entry in (e.strip() for e in (text or "").split(",")):
        if not entry:
            continue
        low = entry.lower().rstrip("/")
        if _ACCOUNT_RE.match(low):
            targets.add((low, PUBLIC_CLOUD))
            continue
        parts = urlsplit(low if "://" in low else "https://" + low)
        m = _HOST_RE.match(parts.hostname or "")
        if m and parts.path in ("", "/") and not parts.query and parts.scheme == "https" and "@" not in parts.netloc:
            targets.add((m.group("account").lower(), m.group("suffix").lower()))
            continue
        segs = [x for x in parts.path.split("/") if x]
        if "://" in low and parts.scheme in ("http", "https") and len(segs) == 1 and not m and parts.port \
                and "@" not in parts.netloc and not parts.query:
            targets.add((segs[0], _netloc(parts.netloc)))
            continue
        raise SettingsError(
            f"NUVYN_AZURE_CREDENTIAL_ACCOUNTS entry {entry!r} is not understood: use an account name (public cloud, "
            "<account>.blob.core.windows.net), <account>.blob.<endpoint suffix> for another cloud (e.g. "
            "acct.blob.core.chinacloudapi.cn) or an emulator endpoint http://<host>:<port>/<account>")
    return frozenset(targets)


STORAGE_KINDS = ("local", "dbfs", "azure_blob", "adls_gen2")


def source_location(path: str, data_source_type: str, settings: Settings) -> Location:
    """The Location of a job's data_source_path: its data_source_type is the hint when it names a
    storage kind; emulator hosts come from the settings; a SAS token in the path is a Secret (known to
    the redactor since parse_location)."""
    hint = data_source_type if data_source_type in STORAGE_KINDS else None
    location = parse_location(path, hint, emulator_hosts(settings.azure_connection_string,
                                                          settings.azure_emulator_hosts))
    return location
