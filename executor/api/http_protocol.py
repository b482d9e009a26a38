"""uvicorn's h11 protocol, hardened against slow and oversized clients.

uvicorn closes idle keep-alive connections (timeout_keep_alive) but, on its own:
- waits forever for the headers of a request that has started to arrive or never arrives;
- waits forever for a request body (a client that sends one byte now and then holds its connection,
  and, when the app reads the body, a task);
- bounds only an *incomplete* request head (h11_max_incomplete_event_size): a 100 KB head sent in
  one write is parsed whole and accepted;
- answers 503 to every request, /health included, once `limit_concurrency` connections are open,
  counting idle and slow sockets, so unauthenticated slow clients keep the server "down" (the server
  runs without uvicorn's limit: executor.api.app.ConcurrencyLimitMiddleware counts authenticated
  requests in progress instead, never /health).

This subclass closes a connection that has not delivered complete request headers within
`header_timeout` seconds (of connecting, or of the first byte of a new request), answers 408 and
closes a connection whose request body has not fully arrived within `body_timeout` seconds of its
head (also after the app answered early, e.g. 401), answers 431 and closes when a request head is
larger than `max_head_bytes` (complete or not)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024


def head_size(event: h11.Request) -> int:
    """The bytes of a parsed request head: request line, header lines, the blank line."""
    size = len(event.method) + 1 + len(event.target) + len(b" HTTP/1.1\r\n") + 2
    return size + sum(len(name) + 2 + len(value) + 2 for name, value in event.headers.raw_items())


def _json_response(status: int, reason: bytes, message: str) -> tuple[h11.Response, bytes]:
    body = json.dumps({"error": message}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    return h11.Response(status_code=status, headers=headers, reason=reason), body


class HardenedH11Protocol(H11Protocol):
    """uvicorn's H11Protocol with the limits of the module docstring; hardened_protocol() makes a subclass
    with the server's values."""

    header_timeout: float = 10.0
    body_timeout: float | None = None
    max_head_bytes: int = MAX_HEAD_BYTES
    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _head_too_large = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        next_event = self.conn.next_event

        def checked_next_event() -> Any:
            # the raw bytes a head takes: what h11 consumed from its buffer to produce the Request
            # (whitespace h11 strips from values counts too)
            before = len(self.conn.trailing_data[0]) if self.conn.their_state is h11.IDLE else 0
            try:
                event = next_event()
            except h11.RemoteProtocolError as exc:
                # an incomplete head past h11_max_incomplete_event_size (the same bound, reached when
                # the head arrives in several reads): h11 says 431, uvicorn would answer 400
                self._head_too_large = self._head_too_large or exc.error_status_hint == 431
                raise
            if isinstance(event, h11.Request):
                raw = before - len(self.conn.trailing_data[0])
                if max(raw, head_size(event)) > self.max_head_bytes:
                    self._head_too_large = True
                    raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
                if self.conn.their_state is h11.SEND_BODY:
                    self._arm_body()
            elif isinstance(event, h11.EndOfMessage):
                self._disarm_body()
            return event

        self.conn.next_event = checked_next_event  # type: ignore[method-assign]

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
            self._disarm_body()
        elif self._awaiting_headers():
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_body()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        logger.info("refusing a request head larger than %d bytes", self.max_head_bytes)
        self._disarm_body()
        self._send_and_close(431, b"Request Header Fields Too Large",
                             f"the request head is larger than {self.max_head_bytes} bytes")

    def _send_and_close(self, status: int, reason: bytes, message: str) -> None:
        response, body = _json_response(status, reason, message)
        try:
            self.transport.write(self.conn.send(response))
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:  # a response was under way already: just close
            pass
        self.transport.close()

    def _awaiting_headers(self) -> bool:
        idle_cycle = self.cycle is None or self.cycle.response_complete
        return self.conn.their_state == h11.IDLE and idle_cycle

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if self._awaiting_headers() and not self.transport.is_closing():
            logger.info("closing a connection that sent no complete request headers in %s s", self.header_timeout)
            self.transport.close()

    def _arm_body(self) -> None:
        self._disarm_body()
        if self.body_timeout is not None:
            self._body_timer = self.loop.call_later(self.body_timeout, self._body_expired)

    def _disarm_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_expired(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        logger.info("closing a connection whose request body did not arrive within %s s", self.body_timeout)
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.disconnected = True  # the app reads a disconnect; its own answer goes nowhere
            cycle.message_event.set()
            self._send_and_close(408, b"Request Timeout",
                                 f"the request body did not arrive within {self.body_timeout:g} s "
                                 "(NUVYN_API_BODY_TIMEOUT_S)")
        else:
            self.transport.close()


def hardened_protocol(header_timeout: float, body_timeout: float | None = None, *,
                      max_head_bytes: int = MAX_HEAD_BYTES) -> type[H11Protocol]:
    """The protocol class uvicorn is given (uvicorn.Config(http=...)): HardenedH11Protocol with these limits."""
    return type("HardenedH11Protocol", (HardenedH11Protocol,), {
        "header_timeout": header_timeout, "body_timeout": body_timeout, "max_head_bytes": max_head_bytes})
