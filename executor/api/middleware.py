"""The API's ASGI middlewares, outermost first as create_app installs them: the Host check (DNS
rebinding), bearer authentication, the concurrency limit, the body limit (and finite JSON numbers).
Each answers its refusal itself as {"error": ...}, before the app (and before the body is read)."""

from __future__ import annotations

import hmac
import json
import logging
import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from executor.redaction import Secret
from executor.settings import host_name

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})


async def send_json(send: Send, status: int, body: dict[str, str], headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((v for k, v in scope.get("headers", []) if k == name), None)


class BearerAuthMiddleware:
    """Every path except OPEN_PATHS needs `Authorization: Bearer <token>` (compared in constant time).
    Runs before the body is read, so an unauthenticated client learns nothing about the body rules.
    The token stays a Secret: its value is read for each comparison, never kept as text."""

    def __init__(self, app: ASGIApp, token: Secret | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"authorization") or b""
        scheme, _, given = header.partition(b" ")
        expected = self.token.get_secret_value().encode("utf-8")
        if not (scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), expected)):
            message = "Missing bearer token" if not header else "Invalid bearer token"
            await send_json(send, 401, {"error": f"{message}: send Authorization: Bearer <NUVYN_API_TOKEN>"},
                            {"WWW-Authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)


class HostCheckMiddleware:
    """Requests must name an allowed host in their Host header (DNS rebinding: a page of another site
    whose name resolves to this server must not reach it). `hosts` None: any host."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.hosts is None:
            await self.app(scope, receive, send)
            return
        given = (_header(scope, b"host") or b"").decode("latin-1")
        if host_name(given) not in self.hosts:
            shown = repr(given[:100]) if given else "(none)"
            await send_json(send, 400, {"error": f"Host {shown} is not one this server answers to: use one of "
                                                 f"{', '.join(sorted(self.hosts))} or add it to NUVYN_API_ALLOWED_HOSTS"})
            return
        await self.app(scope, receive, send)


class ConcurrencyLimitMiddleware:
    """At most `limit` requests in progress; one more answers 503 with Retry-After at once. Runs after
    authentication (an unauthenticated request costs its 401 only) and never counts OPEN_PATHS, so
    /health answers under any load. Slow and idle connections are not requests in progress: the
    protocol's header, body and keep-alive timeouts close them (executor/api/http_protocol.py)."""

    def __init__(self, app: ASGIApp, limit: int | None) -> None:
        self.app = app
        self.limit = limit
        self.in_progress = 0  # one event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit is None or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_progress >= self.limit:
            logger.warning("%d requests in progress (NUVYN_API_LIMIT_CONCURRENCY): answering 503", self.in_progress)
            await send_json(send, 503, {"error": f"the server is busy ({self.limit} requests in progress, "
                                                 "NUVYN_API_LIMIT_CONCURRENCY); retry in a moment"},
                            {"Retry-After": "1"})
            return
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1


def _reject_constant(name: str) -> float:
    raise ValueError(f"JSON constant {name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def json_number_problem(body: bytes) -> str | None:
    """The reason a JSON body is refused for its numbers (NaN, Infinity, 1e999), or None. Bodies that
    are not JSON at all are left to the normal validation (which says so)."""
    try:
        json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except ValueError as exc:
        if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
            return None
        return f"Request body is not valid JSON: {exc}; JSON numbers must be finite"
    except RecursionError:
        return None
    return None


class BodyLimitMiddleware:
    """Reads at most `limit` bytes of a request body; a larger one answers 413 (Content-Length is
    checked first, chunked bodies are counted). A body whose numbers are not finite answers 400."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_big = {"error": f"Request body too large: the limit is {self.limit} bytes"}
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.limit:
                    await send_json(send, 413, too_big)
                    return
            except ValueError:
                await send_json(send, 400, {"error": "Invalid Content-Length header"})
                return
        body = await self._read(receive)
        if body is None:  # disconnected
            return
        if len(body) > self.limit:
            await send_json(send, 413, too_big)
            return
        problem = json_number_problem(body) if body else None
        if problem:
            await send_json(send, 400, {"error": problem})
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or as soon as it is over the limit the part read so far (None: the client left)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > self.limit or not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the real messages (disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
