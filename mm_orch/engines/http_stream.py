"""A lean HTTP/1.1 client on asyncio for streamed (server-sent events) responses.

Why not httpx/aiohttp here: a benchmark client must not distort what it measures. On 2 CPU cores at
hundreds of concurrent streams, the per-read cost of a general client (its parser, its stream machinery,
an async iterator per line) is what delays the next read and inflates TTFT. This client does the minimum
per read inside the protocol callback: take the time (perf_counter_ns), unframe chunked encoding, cut
complete SSE events and keep (arrival time, payload bytes). JSON is decoded once the response is over.
It speaks plain HTTP/1.1 with keep-alive, chunked or sized bodies, and TLS through the ssl module.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mm_orch.errors import ConfigError

now_ns = time.perf_counter_ns


@dataclass(slots=True)
class StreamedResponse:
    """Raw outcome of one request: status, SSE data payloads with their arrival times, or a plain body."""

    status: int = 0
    events: list[tuple[int, bytes]] = field(default_factory=list)  # (arrival ns, payload after 'data:')
    body: bytes = b""  # the body when it is not an event stream (errors, non-streamed answers)
    first_byte_ns: int = 0


class _Protocol(asyncio.Protocol):
    """One connection; parses one response at a time into a StreamedResponse."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self._reset()

    def _reset(self) -> None:
        self.res = StreamedResponse()
        self.done: asyncio.Future | None = None
        self.head = b""
        self.raw = b""  # undecoded body bytes
        self.sse = b""  # decoded body bytes not yet cut into events
        self.in_head, self.chunked, self.left, self.is_sse = True, False, -1, False

    def start(self, data: bytes) -> asyncio.Future:
        self._reset()
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.done

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport, self.reusable = None, False
        if self.done is not None and not self.done.done():
            if not self.in_head and not self.chunked and self.left < 0:
                self._finish()  # a body delimited by the connection closing
            else:
                why = f": {exc}" if exc else ""
                self.done.set_exception(ConnectionError(f"connection closed mid-response{why}"))

    def data_received(self, data: bytes) -> None:
        t = now_ns()
        if self.done is None or self.done.done():
            return
        if self.in_head:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.res.first_byte_ns = t
            data = self.head[end + 4:]
            self._parse_head(self.head[:end])
        if self.chunked:
            self._unchunk(data, t)
        else:
            self._take(data, t)
            if self.left == 0:
                self._finish()

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        self.res.status = int(lines[0].split(" ", 2)[1])
        h = {k.strip().lower(): v.strip().lower() for k, _, v in (x.partition(":") for x in lines[1:])}
        self.in_head, self.head = False, b""
        self.chunked = "chunked" in h.get("transfer-encoding", "")
        self.left = int(h["content-length"]) if "content-length" in h and not self.chunked else -1
        self.is_sse = h.get("content-type", "").startswith("text/event-stream")
        self.reusable = h.get("connection") != "close" and (self.chunked or self.left >= 0)

    def _take(self, data: bytes, t: int) -> None:
        if self.left > 0:
            data = data[:self.left]
            self.left -= len(data)
        if not self.is_sse:
            self.res.body += data
            return
        self.sse += data
        if b"\n\n" not in self.sse and b"\r\n\r\n" not in self.sse:
            return
        if b"\r" in self.sse:
            self.sse = self.sse.replace(b"\r\n", b"\n")
        *complete, self.sse = self.sse.split(b"\n\n")
        for event in complete:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self.res.events.append((t, line[5:].strip()))

    def _unchunk(self, data: bytes, t: int) -> None:
        buf = self.raw + data
        i, out = 0, []
        while True:
            if self.left > 0:  # inside a chunk: take what is there
                piece = buf[i:i + self.left]
                out.append(piece)
                i += len(piece)
                self.left -= len(piece)
                if self.left > 0:
                    break
                self.left = -2  # expect the CRLF after the chunk
            if self.left == -2:
                if len(buf) - i < 2:
                    break
                i, self.left = i + 2, -1
            eol = buf.find(b"\r\n", i)
            if eol < 0:
                break
            size = int(buf[i:eol].split(b";")[0], 16)
            i = eol + 2
            if size == 0:  # last chunk (trailers are not used by SSE servers)
                self.raw = b""
                self._take(b"".join(out), t)
                self._finish()
                return
            self.left = size
        self.raw = buf[i:]
        if out:
            self._take(b"".join(out), t)

    def _finish(self) -> None:
        if self.is_sse and self.sse.strip():  # a last event without its blank line
            self.sse += b"\n\n"
            self._take(b"", now_ns())
        if self.done is not None and not self.done.done():
            self.done.set_result(self.res)


class HttpStreamClient:
    """A keep-alive connection pool to one origin; post() streams one request and returns its raw events."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, connect_timeout_s: float = 30.0) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ConfigError(f"base_url must be http(s)://host[:port][/path], got '{base_url}'")
        self.host, self.https = u.hostname, u.scheme == "https"
        self.port = u.port or (443 if self.https else 80)
        self.prefix = u.path.rstrip("/")
        host_header = self.host if u.port is None else f"{self.host}:{u.port}"
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._fixed = f"Host: {host_header}\r\n{extra}".encode("latin-1")
        self.connect_timeout_s = connect_timeout_s
        self._idle: deque[_Protocol] = deque()
        self._ssl = ssl_module.create_default_context() if self.https else None

    async def _connection(self) -> _Protocol:
        while self._idle:
            conn = self._idle.pop()
            if conn.transport is not None and not conn.transport.is_closing():
                return conn
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(_Protocol, self.host, self.port, ssl=self._ssl), self.connect_timeout_s)
        return conn

    async def open(self, n: int) -> int:
        """Open connections until n are idle in the pool (before a measured phase); returns how many are."""
        need = n - len(self._idle)
        if need > 0:
            loop = asyncio.get_running_loop()
            made = await asyncio.gather(*(asyncio.wait_for(loop.create_connection(
                _Protocol, self.host, self.port, ssl=self._ssl), self.connect_timeout_s) for _ in range(need)),
                return_exceptions=True)
            self._idle.extend(conn for x in made if not isinstance(x, BaseException) for conn in x[1:])
        return len(self._idle)

    def request_bytes(self, method: str, path: str, body: bytes = b"") -> bytes:
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode() + self._fixed
        if method == "POST":
            head += b"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        return head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    async def send(self, data: bytes) -> StreamedResponse:
        """Send a prepared request (request_bytes) and wait for the whole response."""
        conn = await self._connection()
        try:
            res = await conn.start(data)
        except BaseException:
            if conn.transport is not None:
                conn.transport.abort()  # a half-read response cannot be reused (also on timeout/cancel)
            raise
        if conn.reusable and conn.transport is not None:
            self._idle.append(conn)
        elif conn.transport is not None:
            conn.transport.close()
        return res

    async def get(self, path: str) -> StreamedResponse:
        return await self.send(self.request_bytes("GET", path))

    def close(self) -> None:
        while self._idle:
            conn = self._idle.pop()
            if conn.transport is not None:
                conn.transport.close()
