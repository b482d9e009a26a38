"""Which sources a server may read, and which accounts its own Azure credentials may serve. Pure.

NUVYN_API_SOURCE_ROOTS (comma-separated) lists what `nuvyn-executor serve` accepts:
  /abs/local/root          local files at or below this folder (resolved with realpath)
  dbfs:/mnt/prefix         DBFS paths at or below this prefix (also /dbfs/mnt/prefix)
  account/container[/pfx]  Azure Blob / ADLS Gen2 paths of that account and container (below pfx)
Every path is resolved before the check (realpath: `..`, `~`, `file://`, symlinks), so a request
cannot climb out of a root. Unset: Azure paths only (local and DBFS paths are refused and the
message says how to allow them).

NUVYN_AZURE_CREDENTIAL_ACCOUNTS (comma-separated) lists the storage endpoints the server's own
credential (NUVYN_AZURE_ACCOUNT_KEY, the Databricks secret-scope key, DefaultAzureCredential) may
be used for: `acct` is acct.blob.core.windows.net (public cloud) only; `acct.blob.core.chinacloudapi.cn`
names another cloud, `http://127.0.0.1:10000/devstoreaccount1` an emulator. A connection string
serves only its own endpoint.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Collection
from dataclasses import dataclass

from executor.errors import ExecutorError, SettingsError
from executor.settings import SourceGuardSettings
from executor.sources.azure import ACCOUNT_KEY, DEFAULT, SECRET_SCOPE
from executor.sources.databricks_credentials import SERVICE_PRINCIPAL
from executor.sources.local import ConfinedRoot, LocalFileStore
from executor.sources.location import CredentialTarget, Location, credential_target, credential_targets, show_target

ROOTS_ENV = "NUVYN_API_SOURCE_ROOTS"
ACCOUNTS_ENV = "NUVYN_AZURE_CREDENTIAL_ACCOUNTS"

# Local and DBFS paths, by Location.kind: (what is refused without the setting, how to set it, the
# roots a path must resolve inside, how to allow a path outside them).
_PATH_RULES: dict[str, tuple[str, str, str, str]] = {
    "local": ("local paths", f"set it to the folders it may read (e.g. {ROOTS_ENV}=/data/lake)", "local roots",
              f"add its folder to {ROOTS_ENV} or use a path below an allowed root"),
    "dbfs": ("DBFS paths", f"set it (e.g. {ROOTS_ENV}=dbfs:/mnt/lake)", "DBFS prefixes",
             f"add the prefix to {ROOTS_ENV}"),
}


class SourceNotAllowed(ExecutorError):
    """The data source lies outside what this server may read (HTTP 403)."""


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _blob_prefix(prefix: str) -> str | None:
    """A blob prefix with '.' / '..' segments resolved; None when it climbs above the container."""
    if not prefix:
        return ""
    depth = 0
    for seg in prefix.split("/"):
        if seg == "..":
            depth -= 1
            if depth < 0:
                return None
        elif seg not in ("", "."):
            depth += 1
    return posixpath.normpath("/" + prefix).lstrip("/")


@dataclass(frozen=True)
class SourcePolicy:
    local_roots: tuple[str, ...] = ()  # realpath'd
    dbfs_roots: tuple[str, ...] = ()  # /dbfs/... (normalised)
    azure_roots: tuple[tuple[str, str, str], ...] = ()  # (account, container, prefix)
    configured: bool = False

    @classmethod
    def parse(cls, text: str | None) -> SourcePolicy:
        """Parse NUVYN_API_SOURCE_ROOTS; raise SourceNotAllowed naming a bad entry."""
        local: list[str] = []
        dbfs: list[str] = []
        azure: list[tuple[str, str, str]] = []
        entries = [e.strip() for e in (text or "").split(",") if e.strip()]
        for entry in entries:
            if entry.lower().startswith("dbfs:"):
                dbfs.append(posixpath.normpath("/dbfs/" + entry[5:].lstrip("/")))
            elif entry.startswith("/dbfs/") or entry == "/dbfs":
                dbfs.append(posixpath.normpath(entry))
            elif entry.startswith(("/", "~")) or entry.lower().startswith("file://"):
                local.append(_real(entry[7:] if entry.lower().startswith("file://") else entry))
            else:
                parts = entry.strip("/").split("/", 2)
                if len(parts) < 2 or not parts[0] or not parts[1] or "://" in entry:
                    raise SourceNotAllowed(
                        f"{ROOTS_ENV} entry {entry!r} is not understood: use an absolute local folder, "
                        "dbfs:/<prefix> or <account>/<container>[/<prefix>]")
                prefix = _blob_prefix(parts[2] if len(parts) > 2 else "")
                if prefix is None:
                    raise SourceNotAllowed(f"{ROOTS_ENV} entry {entry!r} climbs above its container")
                azure.append((parts[0].lower(), parts[1], prefix))
        return cls(tuple(local), tuple(dbfs), tuple(azure), configured=bool(entries))

    def check(self, location: Location) -> str | None:
        """Raise SourceNotAllowed (naming the setting) unless `location` is inside a root. Returns the
        local or DBFS root it resolved under (None for Azure)."""
        return self.resolve(location)[0]

    def resolve(self, location: Location) -> tuple[str | None, str | None]:
        """(root, resolved path) of a local or DBFS location inside a root, (None, None) for Azure;
        SourceNotAllowed otherwise."""
        if location.kind in _PATH_RULES:
            if location.kind == "local":
                real, roots = _real(location.local_path or location.display), self.local_roots
            else:
                path = location.local_path or "/dbfs"
                # /dbfs exists only on Databricks: resolve '..' lexically there is no FUSE to follow
                real = _real(path) if os.path.exists("/dbfs") else posixpath.normpath(path)
                roots = self.dbfs_roots
            what, how_to_set, roots_name, fix = _PATH_RULES[location.kind]
            if not self.configured:
                raise SourceNotAllowed(
                    f"{what} are refused: this server has no {ROOTS_ENV}; {how_to_set} and restart the server")
            inside = [r for r in roots if _within(real, r)]
            if not inside:
                raise SourceNotAllowed(
                    f"data_source_path {location.display!r} resolves outside the {roots_name} allowed by "
                    f"{ROOTS_ENV}; {fix}")
            return max(inside, key=len), real
        if not self.configured:
            return None, None  # Azure: the credential rules (check_credential_account) still apply
        prefix = _blob_prefix(location.prefix)
        if prefix is None:
            raise SourceNotAllowed(f"data_source_path {location.display!r} climbs above its container")
        for account, container, root in self.azure_roots:
            if (account == (location.account or "").lower() and container == location.container
                    and (not root or _within(prefix, root))):
                return None, None
        raise SourceNotAllowed(
            f"data_source_path {location.display!r} (account {location.account!r}, container "
            f"{location.container!r}) is outside the Azure roots allowed by {ROOTS_ENV}; add "
            f"<account>/<container>[/<prefix>] to {ROOTS_ENV}")


@dataclass(frozen=True)
class SourceGuard:
    """A job the API's local launcher started (SourceGuardSettings.enforce_roots): its source is
    checked again against the server's roots when the job opens it (the API checked it when the job
    was created, maybe minutes before; a queued job recovered after a restart was not checked by
    this server at all), and a local or DBFS source is read through a store confined to the root it
    resolved under (executor.sources.local.ConfinedRoot: no link followed out of it, no file with
    more than one hard link)."""

    policy: SourcePolicy

    @classmethod
    def from_settings(cls, settings: SourceGuardSettings) -> SourceGuard | None:
        if not settings.enforce_roots:
            return None
        return cls(SourcePolicy.parse(settings.source_roots))

    def check(self, location: Location) -> None:
        self._resolve(location)

    def _resolve(self, location: Location) -> tuple[str | None, str | None]:
        try:
            return self.policy.resolve(location)
        except SourceNotAllowed as exc:
            raise SourceNotAllowed(f"the job checked its source again (it may have changed since the API accepted "
                                   f"it): {exc}") from None

    def local_store(self, location: Location) -> LocalFileStore:
        """The store of a local or DBFS location, confined to its root (SourceNotAllowed outside)."""
        root, real = self._resolve(location)
        if root is None or real is None:
            raise SourceNotAllowed(f"data_source_path {location.display!r} is not a local or DBFS path")
        below = [] if real == root else real[len(root.rstrip("/")) + 1:].split("/")
        confined = ConfinedRoot(root)
        path = location.local_path or location.display
        if location.kind == "dbfs":
            return LocalFileStore(path, kind="dbfs", fuse_root="/dbfs", spark_scheme="dbfs:", confined=confined,
                                  below=below)
        return LocalFileStore(path, confined=confined, below=below)


def check_credential_account(location: Location, source: str, allowed: Collection[CredentialTarget]) -> None:
    """The server's own credential (`source`, see executor.sources.azure) serves only the listed
    endpoints (account name + cloud suffix, or emulator host; see parse_accounts)."""
    if source not in (ACCOUNT_KEY, SERVICE_PRINCIPAL, SECRET_SCOPE, DEFAULT):
        return
    target = credential_target(location)
    if target not in allowed:
        account = target[0]
        raise SourceNotAllowed(
            f"storage account {account!r} at {show_target(target)} is not one this server's own Azure credential "
            f"({source}) may be used for: add it to {ACCOUNTS_ENV} (a bare name is the public cloud, "
            "core.windows.net; name another cloud as <account>.blob.<suffix>), or give a SAS token in "
            "data_source_path")


def parse_accounts(text: str | None) -> frozenset[CredentialTarget]:
    """NUVYN_AZURE_CREDENTIAL_ACCOUNTS -> endpoints; SourceNotAllowed naming a bad entry."""
    try:
        return credential_targets(text)
    except SettingsError as exc:
        raise SourceNotAllowed(str(exc)) from None
