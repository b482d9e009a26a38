"""uvicorn's h11 protocol with a request-header timeout.

uvicorn closes idle keep-alive connections (timeout_keep_alive) but waits forever for the headers of
a request that has started to arrive or never arrives (a half-open connection costs nothing to
hold open). This subclass closes a connection that has not delivered complete request headers
within `header_timeout` seconds of connecting, or of the first byte of a new request."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)


def header_timeout_protocol(header_timeout: float) -> type[H11Protocol]:
    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._awaiting_headers():
                self._arm()
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _awaiting_headers(self) -> bool:
            idle_cycle = self.cycle is None or self.cycle.response_complete
            return self.conn.their_state == h11.IDLE and idle_cycle

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expire(self) -> None:
            self._header_timer = None
            if self._awaiting_headers() and not self.transport.is_closing():
                logger.info("closing a connection that sent no complete request headers in %s s", header_timeout)
                self.transport.close()

    return HeaderTimeoutH11Protocol
