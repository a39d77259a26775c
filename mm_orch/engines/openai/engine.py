"""Any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp...) through streamed completions or chat.

The requests go through the async client (openai_client.py) on one event loop in a background thread, so
the blocking Engine contract (stream, generate) and the open-loop load test share the same client code.
Token counts: the server's usage, else the local tokenizer, else one per event (stats() says which).
Memory is the server's business: only this client's RSS is visible here.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from mm_orch.engines.base import (
    CommonSettings,
    Engine,
    GenerationRequest,
    MemorySnapshot,
    ModelInfo,
    RequestRecord,
    TokenCallback,
    now_ns,
    require_loaded,
)
from mm_orch.engines.openai.client import AsyncOpenAIClient, ClientSettings, Streamed
from mm_orch.engines.openai.settings import OpenAIEngineSettings
from mm_orch.errors import ConfigError, EngineError, MmOrchError
from mm_orch.monitor import memory


def load_tokenizer_for(name: str, user_models: dict | None = None, explicit: bool = True):
    """A local tokenizer from a registered alias or a local folder; (tokenizer, note).

    explicit=False (the served model's own name) falls back to none with a note instead of failing."""
    from mm_orch.models.local import ensure_local_model
    from mm_orch.models.manager import load_tokenizer
    from mm_orch.models.registry import resolve_model

    try:
        resolve_model(name, user_models)  # a registered alias or a local folder, else ModelNotFoundError
        path = ensure_local_model(name, "auto", user_models)  # a hub alias: the real tokenizer, if reachable
        return load_tokenizer(Path(path)), f"tokenizer of '{name}'"
    except MmOrchError as e:
        if explicit:
            raise ConfigError(f"--tokenizer {name}: {e}") from None
        return None, f"no local tokenizer for '{name}': token counts come from the server's usage"
    except Exception as e:  # a folder without tokenizer files
        if explicit:
            raise ConfigError(f"--tokenizer {name}: cannot load a tokenizer: {type(e).__name__}: {e}") from None
        return None, f"no local tokenizer for '{name}' ({type(e).__name__}): counts come from the server's usage"


class OpenAIEngine(Engine):
    name = "openai"
    supports_concurrency = True  # the server batches concurrent requests

    def __init__(self, model_name: str, common: CommonSettings | None = None,
                 settings: OpenAIEngineSettings | None = None, user_models: dict | None = None) -> None:
        o = settings or OpenAIEngineSettings()  # common (device, dtype, ...): the server's business
        if not o.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"openai base_url must start with http:// or https://, got '{o.base_url}'")
        if o.endpoint not in ("completions", "chat"):
            raise ConfigError(f"openai endpoint must be completions or chat, got '{o.endpoint}'")
        self.model_name = model_name
        self.settings = ClientSettings(base_url=o.base_url.rstrip("/"), served_model=o.served_model or model_name,
                                       endpoint=o.endpoint, api_key_env=o.api_key_env or None, timeout_s=o.timeout_s)
        self.tokenizer_name, self.tokenizer_explicit = o.tokenizer or model_name, o.tokenizer is not None
        self.user_models = user_models or {}
        self.tokenizer = None
        self.tokenizer_note = "not loaded"
        self.client: AsyncOpenAIClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sources: Counter[str] = Counter()
        self._events = self._tokens = 0

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def load(self) -> ModelInfo:
        t0 = now_ns()
        self.tokenizer, self.tokenizer_note = load_tokenizer_for(self.tokenizer_name, self.user_models,
                                                                 self.tokenizer_explicit)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="openai-client-loop", daemon=True)
        self._thread.start()
        self.client = AsyncOpenAIClient(self.settings, self.tokenizer)
        try:
            served = self._run(self.client.models())
        except Exception as e:
            self.close()
            raise EngineError(self.name, f"cannot reach {self.base_url}/models: {type(e).__name__}: {e}") from None
        if served and self.settings.served_model not in served:
            self.close()
            raise ConfigError(f"the server at {self.base_url} serves {served}, not '{self.settings.served_model}' "
                              "(set engine.openai.served_model)")
        return ModelInfo(self.model_name, self.base_url, None, None, None, dtype="server", dtype_bytes=0,
                         device="remote", load_format="server", load_seconds=(now_ns() - t0) / 1e9,
                         extra={"base_url": self.base_url, "served_model": self.settings.served_model,
                                "endpoint": self.settings.endpoint, "tokenizer": self.tokenizer_note,
                                "memory": "held by the server process; not visible to this client"})

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, require_loaded(self, self._loop)).result()

    def close(self) -> None:
        if self._loop is not None:
            if self.client is not None:
                self._loop.call_soon_threadsafe(self.client.close)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._loop.close()
        self._loop, self._thread, self.client = None, None, None

    def _need_tokenizer(self):
        if self.tokenizer is None:
            raise ConfigError(f"{self.tokenizer_note}; exact-length prompts need one (--tokenizer NAME_OR_PATH, "
                              "or engine.openai.tokenizer)")
        return self.tokenizer

    def encode(self, text: str) -> list[int]:
        return self._need_tokenizer().encode(text, add_special_tokens=False)

    def vocab_token_ids(self) -> list[int]:
        from mm_orch.models.manager import ordinary_token_ids

        return ordinary_token_ids(self._need_tokenizer())

    def note(self, s: Streamed) -> RequestRecord:
        """Counts where token numbers came from (reported by stats()); returns the record."""
        if s.count_source is not None:
            self._sources[s.count_source] += 1
            self._events += s.events
            self._tokens += s.record.output_tokens
        return s.record

    def stream(self, request: GenerationRequest, on_token: TokenCallback | None = None) -> RequestRecord:
        client = require_loaded(self, self.client)
        rec = self.note(self._run(client.stream(request)))
        if on_token is not None:  # after the fact: the server sends text, not ids
            for t in rec.token_times_ns:
                on_token(-1, t)
        return rec

    def generate(self, requests: list[GenerationRequest]) -> list[RequestRecord]:
        """A 'batch' to a server is the requests sent at once; the server batches them."""
        client = require_loaded(self, self.client)

        async def all_at_once():
            return await asyncio.gather(*(client.stream(r) for r in requests))

        return [self.note(s) for s in self._run(all_at_once())] if requests else []

    def stats(self) -> dict[str, Any]:
        return {"token_counts": {"source": dict(self._sources), "tokenizer": self.tokenizer_note,
                                 "tokens_per_event": self._tokens / self._events if self._events else None},
                "endpoint": self.settings.endpoint}

    def memory_snapshot(self) -> MemorySnapshot:
        snap = memory.snapshot("cpu")
        snap.notes.append("client process only: the server's memory is not visible over HTTP")
        return snap
