"""Keep secrets (SAS tokens, account keys, bearer tokens) out of logs, tables and errors.

A secret value is held as a `Secret`: masked in repr and str, read only with get_secret_value().
Constructing a Secret is the one way a value becomes known to the redactor: `Secret.__init__` is
the only writer of `SECRETS` (which has no public way to add a value), so a secret is redacted
exactly when it is typed as one, wherever it was loaded (settings, a SAS token in a path, a Unity
Catalog credential, a presigned link). `SECRETS.redact(text)` replaces every known value and the
secret-looking patterns (sig=..., AccountKey=..., Bearer ..., fs.azure.account.key..., long base64)
in free text: the logging filter, error texts, the API's error bodies and the tables' error columns
go through it.

Pure: no Spark, no Azure, no HTTP.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"
MIN_SECRET_CHARS = 4  # shorter values would redact ordinary words

# key=value pairs whose value is a secret, in connection strings, SAS query strings and configs.
_SECRET_KEYS = (
    "sig",
    "accountkey",
    "sharedaccesssignature",
    "password",
    "pwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "api_key",
    "apikey",
)
_KV_RE = re.compile(
    r"(?i)\b(" + "|".join(re.escape(k) for k in _SECRET_KEYS) + r")=([^;&\s'\"]+)"
)
_BEARER_RE = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
# Hadoop style config keys that carry secrets: fs.azure.account.key.<acct>=<key>, fs.azure.sas...
_HADOOP_RE = re.compile(r"(?i)(fs\.azure\.(?:account\.key|sas)[^\s=:]*\s*[=:]\s*)(\S+)")
# Base64 blobs that look like storage account keys (88 chars ending in ==).
_ACCOUNT_KEY_RE = re.compile(r"[A-Za-z0-9+/]{80,}={0,2}")


def strip_query(url: str) -> str:
    """Drop the query string and fragment of a URL (where SAS tokens live); keep the rest."""
    if "?" not in url and "#" not in url:
        return url
    parts = urlsplit(url)
    if parts.scheme and parts.netloc:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return url.split("?", 1)[0].split("#", 1)[0]


def redact_text(text: str, secrets: Sequence[str] = ()) -> str:
    """Replace the given secret values and secret-looking key=value pairs in free text."""
    if not text:
        return text
    out = text
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            out = out.replace(secret, REDACTED)
    out = _KV_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", out)
    out = _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", out)
    out = _HADOOP_RE.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
    out = _ACCOUNT_KEY_RE.sub(REDACTED, out)
    return out


_PART_KEYS = ("accountkey", "sharedaccesssignature")


def _secret_parts(value: str) -> list[str]:
    """The parts of a secret that are secrets on their own: a URL's query string (a presigned link), a
    connection string's AccountKey and SharedAccessSignature (with and without its '?'). A Secret's
    value is known in every form it is used in."""
    parts = [value.partition("?")[2]] if "://" in value else []
    for item in value.split(";"):
        key, sep, part = item.partition("=")
        if sep and key.strip().lower() in _PART_KEYS:
            parts += [part.strip(), part.strip().lstrip("?")]
    return parts


class Redactor:
    """The values of every Secret constructed in this process (read side: `redact`, `knows`).

    Values are added only by `Secret.__init__` (through `_remember`); longest first, so a secret
    that contains another is replaced whole."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def _remember(self, value: str) -> None:
        forms = {value, value.strip(), value.strip().lstrip("?"), *_secret_parts(value)}
        new = {v for v in forms if len(v) >= MIN_SECRET_CHARS} - self._values
        if not new:
            return
        with self._lock:
            self._values |= new
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def knows(self, value: str) -> bool:
        """True when `value` is the value of a Secret constructed in this process."""
        return value in self._values

    def redact(self, text: str) -> str:
        return redact_text(text, self._ordered)


SECRETS = Redactor()
"""The process's redactor: every Secret's value, written only by Secret.__init__."""


class Secret:
    """A secret value (key, connection string, SAS token, bearer token, client secret): repr and str
    are masked; the value is read only through get_secret_value(). Constructing one makes the value
    known to SECRETS, so it never reaches a log line, an error text or a table."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds a str, not {type(value).__name__}")
        self._value = value
        SECRETS._remember(value)  # the one writer of the redactor

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))  # a copy in another process registers there too
