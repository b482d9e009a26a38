"""Keep secrets (SAS tokens, account keys, bearer tokens) out of logs, tables and errors.

Pure functions: no Spark, no Azure, no HTTP.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"

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


def redact_text(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """Replace known secret values and secret-looking key=value pairs in free text."""
    if not text:
        return text
    out = text
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, REDACTED)
    out = _KV_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", out)
    out = _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", out)
    out = _HADOOP_RE.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
    out = _ACCOUNT_KEY_RE.sub(REDACTED, out)
    return out


class SecretRegistry:
    """Secrets known to this process, so that every log line and error text can be scrubbed."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, *values: str | None) -> None:
        for v in values:
            if v and len(v) >= 4:
                self._secrets.add(v)

    def redact(self, text: str) -> str:
        return redact_text(text, sorted(self._secrets, key=len, reverse=True))


SECRETS = SecretRegistry()
"""Process-wide registry: credentials register here when they are loaded."""
