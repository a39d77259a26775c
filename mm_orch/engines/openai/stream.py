"""A lean HTTP/1.1 client on asyncio for streamed (server-sent events) responses.

Why not httpx/aiohttp here: a benchmark client must not distort what it measures. On 2 CPU cores at
hundreds of concurrent streams, the per-read cost of a general client (its parser, its stream machinery,
an async iterator per line) is what delays the next read and inflates TTFT. This client does the minimum
per read inside the protocol callback: take the time (perf_counter_ns), unframe chunked encoding, cut
complete SSE events and keep (arrival time, payload bytes). JSON is decoded once the response is over.
It speaks plain HTTP/1.1 with keep-alive, chunked or sized bodies, and TLS through the ssl module.

A response's start and end are taken where the bytes go out and come in (the write, the read with the
last byte), not when a coroutine resumes, which on a busy loop can be tens of ms later. begin() writes a
request synchronously on an idle pooled connection, and an on_end callback runs inside the read with the
last byte: a closed-loop dispatcher can send the next request there, before anything is decoded.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mm_orch.errors import ConfigError

now_ns = time.perf_counter_ns


@dataclass(slots=True)
class StreamedResponse:
    """Raw outcome of one request: status, SSE data payloads with their arrival times, or a plain body."""

    status: int = 0
    # each event's arrival (ns) and its payload after 'data:': two flat lists, no tuple per event (fewer
    # objects for the garbage collector to track while hundreds of streams are open)
    times: list[int] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    body: bytes = b""  # the body when it is not an event stream (errors, non-streamed answers)
    first_byte_ns: int = 0
    start_ns: int = 0  # right before the request's bytes were written (or before connecting)
    end_ns: int = 0  # arrival of the response's last byte


class _Protocol(asyncio.Protocol):
    """One connection; parses one response at a time into a StreamedResponse.

    When a response is complete the connection goes back to its pool (if reusable) and on_end runs, both
    inside the read, then the future resolves; a timeout aborts the connection and fails the future."""

    def __init__(self, pool: deque | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self.pool = pool
        self.timer: asyncio.TimerHandle | None = None
        self.on_end: Callable[[], None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.res = StreamedResponse()
        self.done: asyncio.Future | None = None
        self.head = b""
        self.raw = b""  # undecoded body bytes
        self.sse = b""  # decoded body bytes not yet cut into events
        self.in_head, self.chunked, self.left, self.is_sse = True, False, -1, False

    def start(self, data: bytes, timeout_s: float | None = None, on_end: Callable[[], None] | None = None,
              start_ns: int = 0) -> asyncio.Future:
        self._reset()
        loop = asyncio.get_running_loop()
        self.done, self.on_end = loop.create_future(), on_end
        self.done.add_done_callback(self._cancelled)
        if timeout_s:
            self.timer = loop.call_later(timeout_s, self._timed_out, timeout_s)
        self.res.start_ns = start_ns or now_ns()
        self.transport.write(data)
        return self.done

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport, self.reusable = None, False
        if self.done is not None and not self.done.done():
            if not self.in_head and not self.chunked and self.left < 0:
                self._finish(now_ns())  # a body delimited by the connection closing
            else:
                why = f": {exc}" if exc else ""
                self._fail(ConnectionError(f"connection closed mid-response{why}"))

    def _cancelled(self, fut: asyncio.Future) -> None:
        """A waiter given up (task cancelled): the half-read response makes the connection useless."""
        if fut.cancelled() and fut is self.done:
            self.on_end, self.reusable = None, False
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if self.transport is not None:
                self.transport.abort()

    def _timed_out(self, timeout_s: float) -> None:
        self.timer = None
        if self.done is not None and not self.done.done():
            self.reusable = False
            if self.transport is not None:
                self.transport.abort()  # a half-read response cannot be reused
            self._fail(TimeoutError(f"no complete response after {timeout_s:g} s"))

    def _fail(self, exc: BaseException) -> None:
        done = self.done
        self._ended()
        if not done.done():
            done.set_exception(exc)

    def _ended(self) -> None:
        """The exchange is over: stop the timer, then run on_end (once)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        cb, self.on_end = self.on_end, None
        if cb is not None:
            cb()

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
                self._finish(t)

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
        if self.left > 0 and not self.chunked:  # a sized body (in a chunked one, left counts the chunk)
            data = data[:self.left]
            self.left -= len(data)
        if not self.is_sse:
            self.res.body += data
            return
        if not self.sse and data.startswith(b"data:") and data.find(b"\n") == len(data) - 2 \
                and data.endswith(b"\n\n"):  # the usual read: exactly one event of one data line
            self.res.times.append(t)
            self.res.payloads.append(data[5:-2].strip())
            return
        sse = self.sse + data if self.sse else data
        if b"\n\n" not in sse and b"\r\n\r\n" not in sse:
            self.sse = sse
            return
        if b"\r" in sse:
            sse = sse.replace(b"\r\n", b"\n")
        *complete, self.sse = sse.split(b"\n\n")
        times, payloads = self.res.times, self.res.payloads
        for event in complete:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    times.append(t)
                    payloads.append(line[5:].strip())

    def _unchunk(self, data: bytes, t: int) -> None:
        if not self.raw and self.left == -1:  # the usual read: exactly one whole chunk
            eol = data.find(b"\r\n")
            try:
                end = eol + 2 + int(data[:eol], 16) if eol > 0 else -1
            except ValueError:  # chunk extensions: the general path below
                end = -1
            if eol + 2 < end and len(data) == end + 2 and data.endswith(b"\r\n"):
                self._take(data[eol + 2:end], t)
                return
        buf = self.raw + data if self.raw else data
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
                if out:
                    self._take(out[0] if len(out) == 1 else b"".join(out), t)
                self._finish(t)
                return
            self.left = size
        self.raw = buf[i:] if i < len(buf) else b""
        if out:
            self._take(out[0] if len(out) == 1 else b"".join(out), t)

    def _finish(self, t: int) -> None:
        if self.is_sse and self.sse.strip():  # a last event without its blank line
            self.sse += b"\n\n"
            self._take(b"", t)
        self.res.end_ns = t
        done, res = self.done, self.res  # on_end may start the next exchange on this connection
        if self.reusable and self.transport is not None and not self.transport.is_closing():
            if self.pool is not None:
                self.pool.append(self)  # idle again before on_end, which may send the next request on it
        elif self.transport is not None:
            self.transport.close()
        self._ended()
        if done is not None and not done.done():
            done.set_result(res)


class HttpStreamClient:
    """A keep-alive connection pool to one origin; send() streams one request and returns its raw events."""

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

    def _idle_connection(self) -> _Protocol | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    def _factory(self) -> _Protocol:
        return _Protocol(self._idle)

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(self._factory, self.host, self.port, ssl=self._ssl), self.connect_timeout_s)
        return conn

    async def open(self, n: int) -> int:
        """Open connections until n are idle in the pool (before a measured phase); returns how many are."""
        need = n - len(self._idle)
        if need > 0:
            loop = asyncio.get_running_loop()
            made = await asyncio.gather(*(asyncio.wait_for(loop.create_connection(
                self._factory, self.host, self.port, ssl=self._ssl), self.connect_timeout_s) for _ in range(need)),
                return_exceptions=True)
            self._idle.extend(conn for x in made if not isinstance(x, BaseException) for conn in x[1:])
        return len(self._idle)

    def begin(self, data: bytes, timeout_s: float | None = None,
              on_end: Callable[[], None] | None = None) -> asyncio.Future | None:
        """Write a prepared request now on an idle connection; its future gives the StreamedResponse.
        None when no connection is idle (then send() connects)."""
        conn = self._idle_connection()
        return None if conn is None else conn.start(data, timeout_s, on_end)

    async def send(self, data: bytes, timeout_s: float | None = None, on_end: Callable[[], None] | None = None,
                   fut: asyncio.Future | None = None) -> StreamedResponse:
        """Send a prepared request (request_bytes), or wait for one begin() sent, for the whole response.
        A new connection's handshake counts in the response's time (start_ns is taken before it)."""
        if fut is None:
            fut = self.begin(data, timeout_s, on_end)
        if fut is None:
            t = now_ns()
            conn = await self._connect()
            left = None if timeout_s is None else max(1e-3, timeout_s - (now_ns() - t) / 1e9)
            fut = conn.start(data, left, on_end, start_ns=t)
        return await fut

    async def get(self, path: str, timeout_s: float | None = None) -> StreamedResponse:
        return await self.send(self.request_bytes("GET", path), timeout_s)

    def request_bytes(self, method: str, path: str, body: bytes = b"") -> bytes:
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode() + self._fixed
        if method == "POST":
            head += b"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        return head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    def close(self) -> None:
        while self._idle:
            conn = self._idle.pop()
            if conn.transport is not None:
                conn.transport.close()
