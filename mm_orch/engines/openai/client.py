"""The async OpenAI-compatible streaming client: /v1/completions or /v1/chat/completions.

Per request: the body is prepared before the clock starts, the start is taken right before the bytes
go out, every server-sent event is timestamped when its bytes arrive (http_stream.py), and the JSON is
decoded after the response is over (fetch, then finish: the load test decodes after its measured phase).
Token counts come from the server's `usage` when it sends one, else
from a local tokenizer over the streamed text, else each event counts as one token; the source is kept
per request. An event that carries several tokens gives each of them the event's arrival time.
A failed request (HTTP error, bad stream, timeout, refused connection) is a RequestRecord with
success=False, never an exception.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.engines.base import GenerationRequest, RequestRecord, now_ns
from mm_orch.engines.openai.stream import HttpStreamClient, StreamedResponse
from mm_orch.errors import ConfigError

Endpoint = Literal["completions", "chat"]
CountSource = Literal["usage", "tokenizer", "events"]


class ClientSettings(BaseModel):
    """Everything a client process needs to talk to the server (picklable, for worker processes)."""

    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(description="API root, e.g. http://127.0.0.1:8000/v1.")
    served_model: str = Field(description="The model name sent in each request.")
    endpoint: Endpoint = Field("completions", description="completions (/v1/completions) or chat.")
    api_key_env: str | None = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")
    timeout_s: float = Field(600.0, gt=0, description="Whole-request timeout.")


@dataclass(slots=True)
class Streamed:
    """A request's record plus what the load report needs about its stream."""

    record: RequestRecord
    events: int  # content-bearing events
    count_source: CountSource | None  # None for a failed request


@dataclass(slots=True)
class Fetched:
    """A response as it came in, not decoded yet (AsyncOpenAIClient.fetch -> finish)."""

    rec: RequestRecord  # start and end set
    req: GenerationRequest
    res: StreamedResponse


def spread_tokens(total: int, weights: list[int]) -> list[int]:
    """Split `total` tokens over events in proportion to weights (largest remainder), every event >= 1
    when there are at least as many tokens as events."""
    n = len(weights)
    if n == 0:
        return []
    if total == n:
        return [1] * n
    floor = 1 if total >= n else 0
    rest = total - floor * n
    w = [max(x, 0) for x in weights]
    s = sum(w) or n
    if not sum(w):
        w = [1] * n
    shares = [rest * x / s for x in w]
    out = [floor + int(x) for x in shares]
    left = total - sum(out)
    for i in sorted(range(n), key=lambda i: shares[i] - int(shares[i]), reverse=True)[:left]:
        out[i] += 1
    return out


def _text_of(choice: dict[str, Any]) -> str:
    if "text" in choice:
        return choice.get("text") or ""
    delta = choice.get("delta") or choice.get("message") or {}
    return delta.get("content") or ""


class _Once:
    """A callback that runs at most once, whoever calls it (the connection, or the client on failure)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn

    def __call__(self) -> None:
        fn, self.fn = self.fn, None
        if fn is not None:
            fn()


class AsyncOpenAIClient:
    """One event loop's client. Prepare bodies with body(); send with stream()."""

    def __init__(self, settings: ClientSettings, tokenizer: Any = None) -> None:
        self.s, self.tokenizer = settings, tokenizer
        key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = HttpStreamClient(settings.base_url, headers)
        self.path = "/chat/completions" if settings.endpoint == "chat" else "/completions"

    def body(self, req: GenerationRequest) -> bytes:
        """The HTTP request bytes for one GenerationRequest (built before the clock starts)."""
        b: dict[str, Any] = {"model": self.s.served_model, "max_tokens": req.max_new_tokens,
                             "temperature": req.temperature, "top_p": req.top_p, "stream": True,
                             "stream_options": {"include_usage": True}}
        if self.s.endpoint == "chat":
            b["messages"] = [{"role": "user", "content": self._text(req)}]
        else:
            b["prompt"] = req.prompt if req.prompt is not None else req.prompt_token_ids
        if req.ignore_eos:  # vLLM/SGLang extensions for a fixed output length
            b |= {"ignore_eos": True, "min_tokens": req.max_new_tokens}
        if req.top_k:
            b["top_k"] = req.top_k
        if req.seed is not None:
            b["seed"] = req.seed
        return self.http.request_bytes("POST", self.path, json.dumps(b).encode())

    def _text(self, req: GenerationRequest) -> str:
        if req.prompt is not None:
            return req.prompt
        if self.tokenizer is None:
            raise ConfigError("the chat endpoint needs text prompts: token-id prompts need a tokenizer "
                              "(--tokenizer) to be decoded")
        return self.tokenizer.decode(req.prompt_token_ids)

    def input_tokens(self, req: GenerationRequest) -> int:
        if req.prompt_token_ids is not None:
            return len(req.prompt_token_ids)
        return len(self.tokenizer.encode(req.prompt, add_special_tokens=False)) if self.tokenizer else 0

    def begin(self, data: bytes, on_end: Callable[[], None] | None = None) -> asyncio.Future | None:
        """Write a prepared request now if a pooled connection is idle; pass the future to stream(fut=...).
        None when none is idle (stream() then connects). on_end: see stream()."""
        return self.http.begin(data, self.s.timeout_s, on_end)

    async def stream(self, req: GenerationRequest, data: bytes | None = None, fut: asyncio.Future | None = None,
                     on_end: Callable[[], None] | None = None) -> Streamed:
        """One request, start to decoded record. on_end runs once when the exchange is over (inside the read
        of the last byte, or on failure), before any decoding: a closed loop sends its next request there."""
        return self.finish(await self.fetch(req, data, fut, on_end))

    async def fetch(self, req: GenerationRequest, data: bytes | None = None, fut: asyncio.Future | None = None,
                    on_end: Callable[[], None] | None = None) -> Streamed | Fetched:
        """stream() without the decoding: a failed request's Streamed, or the raw response for finish()."""
        data = data if data is not None else self.body(req)
        end = _Once(on_end) if on_end is not None else None
        rec = RequestRecord(start_ns=now_ns())
        try:
            res = await self.http.send(data, self.s.timeout_s, end, fut)
        except TimeoutError:
            return self._failed(rec, f"timeout after {self.s.timeout_s:g} s")
        except (OSError, ConnectionError, ValueError, IndexError) as e:
            return self._failed(rec, f"{type(e).__name__}: {str(e)[:200]}")
        finally:
            if end is not None:
                end()
        rec.start_ns, rec.end_ns = res.start_ns or rec.start_ns, res.end_ns or now_ns()
        return Fetched(rec, req, res)

    def finish(self, x: Streamed | Fetched) -> Streamed:
        """The decoded record of what fetch() returned (JSON, token counts)."""
        if isinstance(x, Streamed):
            return x
        rec, req, res = x.rec, x.req, x.res
        if res.status >= 400 or res.status < 200:
            return self._failed(rec, f"HTTP {res.status}: {res.body[:200].decode(errors='replace')}")
        try:
            return self._record(rec, req, res)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            return self._failed(rec, f"bad event stream: {type(e).__name__}: {str(e)[:160]}")

    def _failed(self, rec: RequestRecord, error: str) -> Streamed:
        rec.success, rec.error = False, error
        rec.end_ns = rec.end_ns or now_ns()
        return Streamed(rec, 0, None)

    def _record(self, rec: RequestRecord, req: GenerationRequest, res: StreamedResponse) -> Streamed:
        stamps, payloads = res.times, res.payloads
        if payloads and payloads[-1] == b"[DONE]":
            stamps, payloads = stamps[:-1], payloads[:-1]
        if b"[DONE]" in payloads:  # anywhere else (servers send it last)
            keep = [i for i, p in enumerate(payloads) if p != b"[DONE]"]
            stamps, payloads = [stamps[i] for i in keep], [payloads[i] for i in keep]
        # one decoder call for the whole stream (a JSON array of the events): a fifth of the CPU of one per event
        objs = json.loads(b"[" + b",".join(payloads) + b"]") if payloads else []
        if len(objs) != len(payloads):
            raise ValueError("an event's data is not exactly one JSON value")
        times, texts, usage = [], [], {}
        for t, obj in zip(stamps, objs, strict=True):
            if obj.get("error"):
                raise ValueError(f"server error in stream: {str(obj['error'])[:160]}")
            usage = obj.get("usage") or usage
            for choice in obj.get("choices") or ():
                text = _text_of(choice)
                if text:
                    times.append(t)
                    texts.append(text)
        if not times:
            rec.success, rec.error = False, f"no tokens in the response (HTTP {res.status})"
            return Streamed(rec, 0, None)
        rec.text = "".join(texts)
        source: CountSource
        if usage.get("completion_tokens"):
            total, source = int(usage["completion_tokens"]), "usage"
        elif self.tokenizer is not None:
            total, source = len(self.tokenizer.encode(rec.text, add_special_tokens=False)), "tokenizer"
        else:
            total, source = len(times), "events"
        weights = [len(x) for x in texts]
        if self.tokenizer is not None and total != len(times):
            weights = [len(self.tokenizer.encode(x, add_special_tokens=False)) for x in texts]
        per_event = spread_tokens(total, weights)
        rec.token_times_ns = [t for t, k in zip(times, per_event, strict=True) for _ in range(k)]
        rec.output_tokens = total
        rec.input_tokens = int(usage.get("prompt_tokens") or self.input_tokens(req))
        rec.batched = total > len(times)  # several tokens per event: they share its arrival time
        return Streamed(rec, len(times), source)

    async def models(self) -> list[str]:
        res = await self.http.get("/models", self.s.timeout_s)
        if res.status >= 400:
            raise ConnectionError(f"HTTP {res.status}: {res.body[:200].decode(errors='replace')}")
        return [m.get("id") for m in json.loads(res.body or b"{}").get("data", [])]

    def close(self) -> None:
        self.http.close()
