"""A mock OpenAI-compatible server of known timing, for tests, calibration and users.

    python -m mm_orch.mock.server --ttft-ms 80 --itl-ms 15 --tokens 64 --tokens-per-event 4 --no-usage

Streamed /v1/completions and /v1/chat/completions: the first event is due `ttft` after the request has
been read, then one event every tokens_per_event x itl, each holding tokens_per_event tokens (" t0", " t1",
...). It is written on raw asyncio (no web framework) so that it stays cheap at hundreds of streams, and it
measures its own lateness (when each event was written vs when it was due): GET /mock/stats returns it,
POST /mock/reset clears it, so a client's measurement can be corrected for the mock's own delay.
--max-concurrency N makes it a server of known capacity: N requests generate at once, later ones wait in
arrival order (their wait is in their TTFT), so it completes at most N / E2E requests/s (capacity_rps).
GET /mock/trace gives when each streamed request was read and its first event written (perf_counter_ns,
the machine's monotonic clock): on one machine a client can compare them with its own send and arrival
times (the mock's read delay, the delivery delay of first events). GET /metrics serves Prometheus text in
vLLM's series names whose values move exactly with the requests served (mock/metrics.py), for exact checks of
--server-metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import signal
import sys
import time
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.mock.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from mm_orch.mock.metrics import MockMetrics

log = logging.getLogger(__name__)
now_ns = time.perf_counter_ns


class MockTiming(BaseModel):
    """How the mock serves every streamed request."""

    model_config = ConfigDict(extra="forbid")
    ttft_ms: float = Field(80.0, ge=0, description="Delay from reading the request to the first event.")
    itl_ms: float = Field(15.0, ge=0, description="Time per token after the first; events hold several.")
    tokens: int | None = Field(None, ge=1, description="Output tokens per request; None = the request's max_tokens.")
    tokens_per_event: int = Field(1, ge=1, description="Tokens per server-sent event (servers batch them).")
    usage: bool = Field(True, description="Send a usage block when the request asks (stream_options).")
    model: str = Field("mock", description="The model name the server serves.")
    api_key: str | None = Field(None, description="If set, require 'Authorization: Bearer <key>'.")
    drop_fraction: float = Field(0.0, ge=0, le=1, description="Share of streamed requests whose connection is "
                                 "closed mid-stream, after the first event (a server failing part of its "
                                 "requests); which ones is fixed by drop_seed and the order requests are read.")
    drop_seed: int = Field(0, description="Seed of the choice of dropped requests.")
    max_concurrency: int | None = Field(None, ge=1, description="Requests generated at once; more wait in arrival "
                                        "order, their TTFT clock starting when a slot frees (a server of known "
                                        "capacity: max_concurrency / E2E requests/s). None = no limit.")


def expected(timing: MockTiming, n_tokens: int) -> dict[str, float]:
    """What a perfect client measures: TTFT, E2E, TPOT (vLLM's definition) and the event interval, in ms."""
    k = timing.tokens_per_event
    n_events = math.ceil(n_tokens / k)
    e2e = timing.ttft_ms + (n_events - 1) * k * timing.itl_ms
    tpot = (e2e - timing.ttft_ms) / (n_tokens - 1) if n_tokens > 1 else float("nan")
    return {"ttft_ms": timing.ttft_ms, "e2e_ms": e2e, "tpot_ms": tpot, "event_interval_ms": k * timing.itl_ms,
            "events": n_events}


def capacity_rps(timing: MockTiming, n_tokens: int) -> float:
    """The most requests/s the mock completes: max_concurrency requests every E2E (inf without a cap)."""
    if timing.max_concurrency is None:
        return math.inf
    return timing.max_concurrency / (expected(timing, n_tokens)["e2e_ms"] / 1e3)


@dataclass(slots=True)
class Lateness:
    """How late the mock wrote events vs their plan, in ns (first events apart from all events)."""

    first: list[int] = field(default_factory=list)
    every: list[int] = field(default_factory=list)
    requests: int = 0
    reads: list[int] = field(default_factory=list)  # when each streamed request was read (perf_counter_ns)
    first_sent: list[int] = field(default_factory=list)  # when each first event was written

    def summary(self) -> dict:
        def dist(x: list[int]) -> dict | None:
            if not x:
                return None
            s = sorted(x)
            q = lambda p: s[min(len(s) - 1, int(p * len(s)))] / 1e6  # noqa: E731
            return {"count": len(s), "mean_ms": sum(s) / len(s) / 1e6, "median_ms": q(0.5), "p90_ms": q(0.9),
                    "p99_ms": q(0.99), "max_ms": s[-1] / 1e6}

        return {"requests": self.requests, "first_event_late": dist(self.first), "event_late": dist(self.every)}


@dataclass(slots=True)
class _Plan:
    chat: bool
    n: int  # output tokens
    n_in: int  # prompt "tokens" (words, or ids when the prompt is a list)
    usage: bool
    stream: bool


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _json_response(status: int, obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return _head(status, {"Content-Type": "application/json", "Content-Length": str(len(body))}) + body


def _error(status: int, message: str) -> bytes:
    return _json_response(status, {"error": {"message": message, "type": "invalid_request_error"}})


class _Connection(asyncio.Protocol):
    """One client connection: reads requests (keep-alive, one at a time) and answers them."""

    def __init__(self, server: MockServer) -> None:
        self.server, self.buf, self.transport, self.busy = server, b"", None, False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        n = int(headers.get("content-length", "0") or 0)
        if len(self.buf) < end + 4 + n:
            return
        body, self.buf = self.buf[end + 4:end + 4 + n], self.buf[end + 4 + n:]
        method, path = (head[0].split(" ") + ["", ""])[:2]
        self.busy = True
        asyncio.get_running_loop().create_task(self._serve(method, path, headers, body, now_ns()))

    def _done(self) -> None:
        self.busy = False
        if self.transport is not None and self.buf:
            self._next()

    async def _serve(self, method: str, path: str, headers: dict, body: bytes, t_read: int) -> None:
        try:
            out = self.server.route(method, path.split("?")[0], headers, body)
            if isinstance(out, bytes):
                self._write(out)
            elif out.stream:
                await self.server.stream(self, out, t_read)
            else:
                await self.server.whole(self, out)
        finally:
            self._done()

    def _write(self, data: bytes) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(data)
        return True


class MockServer:
    """The routing and streaming logic; run() serves it on a port until stopped."""

    def __init__(self, timing: MockTiming) -> None:
        self.timing, self.late = timing, Lateness()
        self.ticker = _Ticker(self)
        self.metrics = MockMetrics(timing.model, timing.max_concurrency)  # GET /metrics, in vLLM's names
        self._payloads: dict[tuple, bytes] = {}
        # the capacity cap: a FIFO semaphore (asyncio wakes waiters in order); made on first use, in the loop
        self._slots: asyncio.Semaphore | None = None

    async def _slot(self) -> int:
        """Wait for a generation slot (when max_concurrency is set); returns when work on the request starts."""
        if self.timing.max_concurrency is not None:
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.timing.max_concurrency)
            await self._slots.acquire()
        return now_ns()

    def _free(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def route(self, method: str, path: str, headers: dict, body: bytes):
        t = self.timing
        if path == "/mock/stats":
            return _json_response(200, {"timing": t.model_dump(exclude={"api_key"}), **self.late.summary()})
        if path == "/mock/trace":  # raw read times: on one machine, comparable with a client's send times
            return _json_response(200, {"clock": "perf_counter_ns", "reads_ns": self.late.reads,
                                        "first_sent_ns": self.late.first_sent})
        if path == "/mock/reset" and method == "POST":
            self.late = Lateness()
            return _json_response(200, {"reset": True})
        if path == "/metrics":  # like vLLM's, open without the API key; values move exactly with the requests
            body = self.metrics.exposition()
            return _head(200, {"Content-Type": METRICS_CONTENT_TYPE, "Content-Length": str(len(body))}) + body
        if t.api_key and headers.get("authorization") != f"Bearer {t.api_key}":
            return _error(401, "missing or wrong API key")
        if path == "/v1/models":
            return _json_response(200, {"object": "list", "data": [{"id": t.model, "object": "model"}]})
        if path not in ("/v1/completions", "/v1/chat/completions"):
            return _error(404, f"no route {path}")
        if method != "POST":
            return _error(405, f"{method} {path}")
        try:
            req = json.loads(body)
        except ValueError:
            return _error(400, "body is not JSON")
        if not isinstance(req, dict) or req.get("model") != t.model:
            return _error(404, f"model '{req.get('model') if isinstance(req, dict) else None}' not found")
        try:
            n = t.tokens or int(req.get("max_tokens") or req.get("max_completion_tokens") or 16)
        except (TypeError, ValueError):
            return _error(400, "max_tokens must be an integer")
        if n < 1:
            return _error(400, "max_tokens must be >= 1")
        prompt = req.get("prompt") if "prompt" in req else json.dumps(req.get("messages"))
        n_in = len(prompt) if isinstance(prompt, list) else len(str(prompt).split())
        usage = t.usage and bool((req.get("stream_options") or {}).get("include_usage"))
        return _Plan(path.endswith("chat/completions"), n, n_in, usage, bool(req.get("stream")))

    async def whole(self, conn: _Connection, p: _Plan) -> None:
        """A non-streamed request: one JSON document after the whole generation's time."""
        t_read, capped = now_ns(), self.timing.max_concurrency is not None
        if capped:
            self.metrics.queued()
        t_start = await self._slot()
        self.metrics.started(p.n_in, (t_start - t_read) / 1e9 if capped else None)
        try:
            await asyncio.sleep(expected(self.timing, p.n)["e2e_ms"] / 1e3)
        finally:
            self._free()
        self.metrics.tokens(p.n, (now_ns() - t_read) / 1e9)
        self.metrics.ended((now_ns() - t_read) / 1e9, True)
        text = "".join(f" t{i}" for i in range(p.n))
        choice = {"index": 0, "message": {"role": "assistant", "content": text}} if p.chat else \
            {"index": 0, "text": text}
        u = {"prompt_tokens": p.n_in, "completion_tokens": p.n, "total_tokens": p.n_in + p.n}
        conn._write(_json_response(200, {"choices": [choice], **({"usage": u} if self.timing.usage else {})}))

    async def stream(self, conn: _Connection, p: _Plan, t_read: int) -> None:
        """Writes the head now; the ticker writes the events when due; returns when the stream is over.
        With max_concurrency, the events' plan starts when the request gets a slot (its wait is in its TTFT)."""
        self.late.requests += 1
        self.late.reads.append(t_read)
        conn._write(_head(200, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked",
                                "Cache-Control": "no-cache"}))
        capped = self.timing.max_concurrency is not None
        if capped:
            self.metrics.queued()
        t_start = await self._slot() if capped else t_read
        self.metrics.started(p.n_in, (t_start - t_read) / 1e9 if capped else None)
        st = _Stream(conn, p, t_start, asyncio.get_running_loop().create_future(),
                     drop=self._drops(self.late.requests), t_arrived=t_read)
        try:
            self.ticker.add(st, t_start + int(self.timing.ttft_ms * 1e6))
            await st.done
        finally:
            if not st.ended:  # the client went away mid-stream
                self.metrics.ended((now_ns() - t_read) / 1e9, False)
            self._free()

    def _drops(self, k: int) -> bool:
        """Whether the k-th streamed request (from 1, in the order read) is dropped: a seeded draw per request."""
        if self.timing.drop_fraction <= 0:
            return False
        import random

        return random.Random(f"{self.timing.drop_seed}:{k}").random() < self.timing.drop_fraction

    def event(self, st: _Stream, due: int) -> int | None:
        """Write st's next event (and the end of the stream after the last); the next due time or None."""
        t, p, k = self.timing, st.plan, self.timing.tokens_per_event
        first = st.j * k
        key = (p.chat, first, min(p.n, first + k))
        data = self._payloads.get(key)
        if data is None:
            data = self._payloads[key] = _event_bytes(*key)
        sent = now_ns()
        if not st.conn._write(data):
            return None
        self.late.every.append(sent - due)
        self.metrics.tokens(key[2] - first, (sent - st.t_arrived) / 1e9 if st.j == 0 else None)
        if st.j == 0:
            self.late.first.append(sent - due)
            self.late.first_sent.append(sent)
        st.j += 1
        if st.drop and st.conn.transport is not None:  # a dropped request: the connection ends mid-stream
            st.ended = True
            self.metrics.ended((now_ns() - st.t_arrived) / 1e9, False)
            st.conn.transport.abort()
            return None
        if st.j * k < p.n:
            return st.t_read + int((t.ttft_ms + st.j * k * t.itl_ms) * 1e6)
        tail = _DONE  # usage and the end of the stream: one write, right after the last event's
        if p.usage:
            u = {"prompt_tokens": p.n_in, "completion_tokens": p.n, "total_tokens": p.n_in + p.n}
            tail = _chunk(b"data: " + json.dumps({"choices": [], "usage": u}).encode() + b"\n\n") + tail
        st.ended = True  # counted before the client can see the end, so a scrape after it sees it counted
        self.metrics.ended((now_ns() - st.t_arrived) / 1e9, True)
        st.conn._write(tail)
        return None

    async def run(self, host: str, port: int, ready=None) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(self), host, port, backlog=2048)
        bound = server.sockets[0].getsockname()[1]
        if ready is not None:
            ready(bound)
        async with server:
            await server.serve_forever()


@dataclass(slots=True)
class _Stream:
    conn: _Connection
    plan: _Plan
    t_read: int
    done: asyncio.Future
    j: int = 0  # next event
    drop: bool = False  # close the connection after the first event
    t_arrived: int = 0  # when the request was read (the server-side TTFT and E2E count from it)
    ended: bool = False  # its end is counted in the metrics


class _Ticker:
    """One timer for all streams: a heap of (due, stream); each wake-up writes every event now due.

    One timer callback per due time instead of one sleeping coroutine per stream keeps the mock cheap
    (and so on time) at hundreds of concurrent streams."""

    def __init__(self, server: MockServer) -> None:
        self.server, self.heap, self.seq = server, [], 0
        self.timer: asyncio.TimerHandle | None = None
        self.armed = 0

    def add(self, st: _Stream, due: int) -> None:
        import heapq

        self.seq += 1
        heapq.heappush(self.heap, (due, self.seq, st))
        if self.timer is None or due < self.armed:
            self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.heap:
            self.armed = self.heap[0][0]
            self.timer = asyncio.get_running_loop().call_later(max(0.0, (self.armed - now_ns()) / 1e9), self._fire)

    def _fire(self) -> None:
        import heapq

        self.timer = None
        now = now_ns()
        while self.heap and self.heap[0][0] <= now:
            due, _, st = heapq.heappop(self.heap)
            nxt = self.server.event(st, due)
            if nxt is None:
                if not st.done.done():
                    st.done.set_result(None)
            else:
                self.seq += 1
                heapq.heappush(self.heap, (nxt, self.seq, st))
        self._arm()


def _event_bytes(chat: bool, first: int, end: int) -> bytes:
    text = "".join(f" t{i}" for i in range(first, end))
    choice = f'{{"index":0,"delta":{{"content":"{text}"}}}}' if chat else f'{{"index":0,"text":"{text}"}}'
    return _chunk(f'data: {{"choices":[{choice}]}}\n\n'.encode())


def _chunk(payload: bytes) -> bytes:
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


_DONE = _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"


class MockProcess:
    """Context manager: the mock in its own process (its timing unaffected by the caller's GIL), on a free
    loopback port. .base_url, .stats() and .reset() talk to it."""

    def __init__(self, timing: MockTiming | None = None, **kw) -> None:
        self.timing = timing or MockTiming(**kw)
        self.proc = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def args(self) -> list[str]:
        t = self.timing
        out = ["--port", "0", "--ttft-ms", str(t.ttft_ms), "--itl-ms", str(t.itl_ms), "--tokens-per-event",
               str(t.tokens_per_event), "--model", t.model]
        out += ["--tokens", str(t.tokens)] if t.tokens else []
        out += ["--max-concurrency", str(t.max_concurrency)] if t.max_concurrency else []
        out += ["--drop-fraction", str(t.drop_fraction), "--drop-seed", str(t.drop_seed)] if t.drop_fraction else []
        return out + ([] if t.usage else ["--no-usage"])

    def __enter__(self) -> MockProcess:
        import os
        import subprocess

        env = dict(os.environ)
        if self.timing.api_key:
            env["MM_ORCH_MOCK_API_KEY"] = self.timing.api_key
        key = ["--api-key-env", "MM_ORCH_MOCK_API_KEY"] if self.timing.api_key else []
        self.proc = subprocess.Popen([sys.executable, "-m", "mm_orch.mock.server", *self.args(), *key],
                                     stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.__exit__()
            raise RuntimeError(f"the mock server did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1].split("/")[0])
        return self

    def _call(self, method: str, path: str) -> dict:
        import http.client

        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, path)
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def stats(self) -> dict:
        return self._call("GET", "/mock/stats")

    def trace(self) -> dict:
        return self._call("GET", "/mock/trace")

    def reset(self) -> None:
        self._call("POST", "/mock/reset")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
            self.proc.stdout.close()
            self.proc = None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mm_orch.mock.server", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 = any free port (printed on stdout)")
    p.add_argument("--ttft-ms", type=float, default=80.0)
    p.add_argument("--itl-ms", type=float, default=15.0)
    p.add_argument("--tokens", type=int, default=None, help="tokens per response (default: max_tokens)")
    p.add_argument("--tokens-per-event", type=int, default=1)
    p.add_argument("--no-usage", action="store_true", help="never send a usage block")
    p.add_argument("--max-concurrency", type=int, default=None, help="requests generated at once; more wait in "
                   "arrival order (capacity = N / E2E requests/s; default: no limit)")
    p.add_argument("--drop-fraction", type=float, default=0.0, help="share of streamed requests whose connection "
                   "is closed after the first event (seeded by --drop-seed; default 0)")
    p.add_argument("--drop-seed", type=int, default=0)
    p.add_argument("--model", default="mock")
    p.add_argument("--api-key-env", help="require the key held in this environment variable")
    return p


def main(argv: list[str] | None = None) -> int:
    import os

    a = build_parser().parse_args(argv)
    key = os.environ.get(a.api_key_env) if a.api_key_env else None
    try:
        timing = MockTiming(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, tokens=a.tokens, tokens_per_event=a.tokens_per_event,
                            usage=not a.no_usage, model=a.model, api_key=key, max_concurrency=a.max_concurrency,
                            drop_fraction=a.drop_fraction, drop_seed=a.drop_seed)
    except ValueError as e:
        print(f"mock_server: error: {str(e).splitlines()[0:3]}", file=sys.stderr)
        return 2

    def ready(port: int) -> None:
        print(f"mock server listening on http://{a.host}:{port}/v1", flush=True)

    try:  # cheaper per event, so the mock stays closer to its plan; its lateness is measured either way
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    import gc

    gc.collect()
    gc.freeze()  # what start-up imported is never collected again: no long full collections while serving
    task = loop.create_task(MockServer(timing).run(a.host, a.port, ready))
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    loop.add_signal_handler(signal.SIGINT, task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass
    except OSError as e:
        print(f"mock_server: error: cannot listen on {a.host}:{a.port}: {e.strerror}", file=sys.stderr)
        return 2
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
