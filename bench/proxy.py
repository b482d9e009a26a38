"""A latency-adding TCP proxy for an HTTP/1.1 storage endpoint (Azurite), with counters.

Same behaviour as the team's `latency-proxy` tool (kept here so that `python -m bench --remote`
needs nothing outside the repository): every chunk read from one side is written to the other
side `delay_ms` later (pipelined: delays do not add up across chunks; no bandwidth cap), and a new
connection's first request waits `connect_rtts` round trips more (the TCP handshake a real client
waits for; TLS would add one or two). `--delay-ms 10` gives a 20 ms round trip per request on a
reused connection and 40 ms for the first request of a new one.

Counters: connections opened, peak open, HTTP requests by kind (LIST, GET_RANGE, GET_WHOLE, HEAD,
PUT...), bytes each way, requested range sizes. Control port (plain HTTP on 127.0.0.1):
`GET /stats` (JSON), `GET /reset`, `GET /set?delay_ms=10&connect_rtts=1`.

    python -m bench.proxy --listen 127.0.0.1:0 --upstream 127.0.0.1:AZURITE_PORT --control 127.0.0.1:0

prints one line `listening <port> control <port>` once both sockets are bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

STATE: dict[str, float] = {"delay_ms": 0.0, "connect_rtts": 1}
STATS: dict[str, Any] = {}
# the connection handlers: asyncio keeps only weak references to tasks, and a handler whose client
# has gone (its stream protocol drops the task) while it waits for the upstream to close was
# collected mid-wait ("Task was destroyed but it is pending!", its upstream connection leaked)
HANDLERS: set[asyncio.Task[Any]] = set()
_RANGE = re.compile(rb"bytes=(\d+)-(\d*)")


def reset() -> None:
    """New counters; connections still open stay counted as open (peak_open starts from them)."""
    still_open = STATS.get("open", 0)
    STATS.clear()
    STATS.update(connections=0, open=still_open, peak_open=still_open, requests=0, kinds=Counter(), bytes_c2s=0,
                 bytes_s2c=0, range_bytes_requested=0, range_sizes=Counter(), upstream_reconnects=0,
                 started=time.time())


reset()


def classify(method: str, target: str, headers: dict[bytes, bytes]) -> tuple[str, int | None]:
    q = parse_qs(urlsplit(target).query)
    comp = (q.get("comp") or [""])[0]
    restype = (q.get("restype") or [""])[0]
    rng = headers.get(b"x-ms-range") or headers.get(b"range")
    length = None
    if rng:
        m = _RANGE.search(rng)
        if m and m.group(2):
            length = int(m.group(2)) - int(m.group(1)) + 1
    if method == "GET" and comp == "list":
        return "LIST", None
    if method == "GET" and restype == "container":
        return "GET_CONTAINER_PROPS", None
    if method == "HEAD":
        return "HEAD", None
    if method == "GET":
        return ("GET_RANGE" if rng else "GET_WHOLE"), length
    return f"{method}{'_' + comp if comp else ''}", None


class RequestParser:
    """Finds request heads in one connection's client stream (bodies skipped by Content-Length)."""

    def __init__(self) -> None:
        self.buf = b""
        self.skip = 0

    def feed(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.skip:
                take = min(self.skip, len(self.buf))
                self.skip -= take
                self.buf = self.buf[take:]
                if self.skip:
                    return
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 1 << 20:
                    self.buf = b""
                return
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            lines = head.split(b"\r\n")
            try:
                method, target, _version = lines[0].decode("latin-1").split(" ", 2)
            except ValueError:
                continue
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                headers[k.strip().lower()] = v.strip()
            kind, length = classify(method, target, headers)
            STATS["requests"] += 1
            STATS["kinds"][kind] += 1
            if length is not None:
                STATS["range_bytes_requested"] += length
                bucket = ("<=64KiB" if length <= 65536 else "<=1MiB" if length <= 1 << 20
                          else "<=4MiB" if length <= 4 << 20 else ">4MiB")
                STATS["range_sizes"][bucket] += 1
            cl = headers.get(b"content-length")
            if cl and cl.isdigit():
                self.skip = int(cl)


class Delayed:
    """Writes chunks to one side, each `delay` after it was read from the other (pipelined)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()
        self.task = asyncio.create_task(self._send())

    def put(self, due: float, data: bytes | None) -> None:
        self.queue.put_nowait((due, data))

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, data = await self.queue.get()
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if data is None:
                    if self.writer.can_write_eof():
                        self.writer.write_eof()
                    return
                self.writer.write(data)
                if self.writer.transport.get_write_buffer_size() > 1 << 20:
                    await self.writer.drain()
        except (ConnectionError, OSError):
            return


async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, upstream: tuple[str, int]) -> None:
    """One client connection. The upstream connection is opened on the client's first bytes and
    opened again when the upstream closed an idle one: Azurite closes connections idle for 5 s
    (its keep-alive setting is not read, v3), Azure keeps them minutes; so the counters show the
    client's connections, not Azurite's timeouts (reopened upstreams: `upstream_reconnects`)."""
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    if me is not None:
        HANDLERS.add(me)
        me.add_done_callback(HANDLERS.discard)
    STATS["connections"] += 1
    STATS["open"] += 1
    STATS["peak_open"] = max(STATS["peak_open"], STATS["open"])
    d = STATE["delay_ms"] / 1000.0
    hold = loop.time() + STATE["connect_rtts"] * 2 * d + d  # the handshake, then the one-way delay
    to_client = Delayed(client_w)
    parser = RequestParser()
    up: dict[str, Any] = {"writer": None, "sender": None, "reader": None, "opened": 0}

    async def from_upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sender: Delayed) -> None:
        try:
            while data := await reader.read(1 << 16):
                STATS["bytes_s2c"] += len(data)
                to_client.put(loop.time() + STATE["delay_ms"] / 1000.0, data)
        except (ConnectionError, OSError):
            pass
        if up["writer"] is writer:
            up["writer"] = None  # closed (idle): the next request opens another
            sender.put(loop.time(), None)  # its sender ends too
            writer.close()

    async def to_upstream(data: bytes, due: float) -> None:
        if up["writer"] is None:
            r, w = await asyncio.open_connection(*upstream)
            up["opened"] += 1
            if up["opened"] > 1:
                STATS["upstream_reconnects"] += 1
            up["writer"], up["sender"] = w, Delayed(w)
            up["reader"] = asyncio.create_task(from_upstream(r, w, up["sender"]))
        up["sender"].put(due, data)

    try:
        while data := await client_r.read(1 << 16):
            STATS["bytes_c2s"] += len(data)
            parser.feed(data)
            await to_upstream(data, max(loop.time() + STATE["delay_ms"] / 1000.0, hold))
    except (ConnectionError, OSError):
        pass
    finally:
        if up["sender"] is not None:
            up["sender"].put(loop.time(), None)
            await asyncio.gather(up["sender"].task, return_exceptions=True)
        if up["reader"] is not None:
            await asyncio.gather(up["reader"], return_exceptions=True)
        to_client.put(loop.time() + STATE["delay_ms"] / 1000.0, None)
        await asyncio.gather(to_client.task, return_exceptions=True)
        for w in (up["writer"], client_w):
            try:
                if w is not None:
                    w.close()
            except Exception:  # noqa: BLE001 - closing a dead socket
                pass
        STATS["open"] -= 1


async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    parts = urlsplit(head.split(b" ", 2)[1].decode())
    body: dict[str, Any]
    if parts.path == "/reset":
        reset()
        body = {"ok": True}
    elif parts.path == "/set":
        q = parse_qs(parts.query)
        for key in ("delay_ms", "connect_rtts"):
            if key in q:
                STATE[key] = float(q[key][0])
        body = dict(STATE)
    else:
        body = {**{k: (dict(v) if isinstance(v, Counter) else v) for k, v in STATS.items()}, **STATE}
    data = json.dumps(body).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
                 + str(len(data)).encode() + b"\r\n\r\n" + data)
    await writer.drain()
    writer.close()


def _hostport(s: str) -> tuple[str, int]:
    h, p = s.rsplit(":", 1)
    return h, int(p)


async def serve(listen: str, upstream: str, control_at: str) -> None:
    up = _hostport(upstream)
    srv = await asyncio.start_server(lambda r, w: handle(r, w, up), *_hostport(listen), backlog=1024)
    ctl = await asyncio.start_server(control, *_hostport(control_at))
    print(f"listening {srv.sockets[0].getsockname()[1]} control {ctl.sockets[0].getsockname()[1]}", flush=True)
    async with srv, ctl:
        await asyncio.gather(srv.serve_forever(), ctl.serve_forever())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.proxy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--control", default="127.0.0.1:0")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--connect-rtts", type=int, default=1)
    a = ap.parse_args(argv)
    STATE["delay_ms"] = a.delay_ms
    STATE["connect_rtts"] = a.connect_rtts
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # stop at once, open connections and all
    asyncio.run(serve(a.listen, a.upstream, a.control))


if __name__ == "__main__":
    main()
