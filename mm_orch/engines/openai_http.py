"""Any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp...) through streamed /v1/completions.

Each streamed chunk is timestamped when it reaches the client; token counts come from the server's usage
block when it sends one. Memory is the server's business: only this client's RSS is visible here.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mm_orch.engines.base import (
    Engine,
    GenerationRequest,
    MemorySnapshot,
    ModelInfo,
    RequestRecord,
    TokenCallback,
    now_ns,
    require_loaded,
)
from mm_orch.errors import ConfigError, EngineError
from mm_orch.monitor import memory


class OpenAIEngine(Engine):
    name = "openai"
    supports_concurrency = True  # the server batches concurrent requests

    def __init__(self, model_name: str, base_url: str = "http://127.0.0.1:8000/v1", served_model: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 600.0, tokenizer: str | None = None,
                 user_models: dict | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"openai base_url must start with http:// or https://, got '{base_url}'")
        self.model_name, self.base_url = model_name, base_url.rstrip("/")
        self.served_model = served_model or model_name
        self.api_key = os.environ.get(api_key_env) if api_key_env else None
        self.timeout_s, self.tokenizer_name = timeout_s, tokenizer or model_name
        self.user_models = user_models or {}
        self.client = None
        self.tokenizer = None
        self._local = threading.local()

    @classmethod
    def from_config(cls, model_name: str, cfg) -> OpenAIEngine:
        o = cfg.engine.openai
        return cls(model_name, o.base_url, o.served_model, o.api_key_env, o.timeout_s, o.tokenizer, dict(cfg.models))

    def load(self) -> ModelInfo:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout_s,
                                   limits=httpx.Limits(max_connections=256, max_keepalive_connections=256))
        t0 = now_ns()
        try:
            r = self.client.get("/models")
            r.raise_for_status()
            served = [m.get("id") for m in r.json().get("data", [])]
        except Exception as e:
            raise EngineError(self.name, f"cannot reach {self.base_url}/models: {type(e).__name__}: {e}") from None
        if served and self.served_model not in served:
            raise ConfigError(f"the server at {self.base_url} serves {served}, not '{self.served_model}' "
                              "(set engine.openai.served_model)")
        self._load_tokenizer()
        return ModelInfo(self.model_name, self.base_url, None, None, None, dtype="server", dtype_bytes=0,
                         device="remote", load_format="server", load_seconds=(now_ns() - t0) / 1e9,
                         extra={"base_url": self.base_url, "served_model": self.served_model,
                                "memory": "held by the server process; not visible to this client"})

    def _load_tokenizer(self) -> None:
        """A local tokenizer for token counts and exact-length prompts; optional (counts then come from usage)."""
        try:
            from mm_orch.models import ensure_local_model
            from mm_orch.models.manager import load_tokenizer

            self.tokenizer = load_tokenizer(ensure_local_model(self.tokenizer_name, "dummy", self.user_models))
        except Exception:  # an unknown served name: run without one
            self.tokenizer = None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def encode(self, text: str) -> list[int]:
        if self.tokenizer is None:
            raise ConfigError(f"no local tokenizer for '{self.tokenizer_name}' (set engine.openai.tokenizer)")
        return self.tokenizer.encode(text, add_special_tokens=False)

    def vocab_token_ids(self) -> list[int]:
        if self.tokenizer is None:
            raise ConfigError(f"no local tokenizer for '{self.tokenizer_name}' (set engine.openai.tokenizer)")
        from mm_orch.models.manager import ordinary_token_ids

        return ordinary_token_ids(self.tokenizer)

    def _body(self, req: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.served_model, "prompt": req.prompt if req.prompt is not None else req.prompt_token_ids,
            "max_tokens": req.max_new_tokens, "temperature": req.temperature, "top_p": req.top_p, "stream": True,
            "stream_options": {"include_usage": True},
        }
        if req.ignore_eos:  # vLLM/SGLang extensions for a fixed output length
            body |= {"ignore_eos": True, "min_tokens": req.max_new_tokens}
        if req.top_k:
            body["top_k"] = req.top_k
        if req.seed is not None:
            body["seed"] = req.seed
        return body

    def stream(self, request: GenerationRequest, on_token: TokenCallback | None = None) -> RequestRecord:
        client = require_loaded(self, self.client)
        rec = RequestRecord(start_ns=now_ns())
        texts: list[str] = []
        usage: dict[str, Any] = {}
        try:
            with client.stream("POST", "/completions", json=self._body(request)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
                for line in r.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        if choice.get("text"):
                            t = now_ns()
                            rec.token_times_ns.append(t)
                            texts.append(choice["text"])
                            if on_token is not None:
                                on_token(-1, t)  # the server sends text, not ids
        except Exception as e:  # a failed request is data
            rec.success, rec.error = False, f"{type(e).__name__}: {str(e)[:200]}"
        rec.end_ns = now_ns()
        rec.text = "".join(texts)
        rec.output_tokens = int(usage.get("completion_tokens") or len(rec.token_times_ns))
        rec.input_tokens = int(usage.get("prompt_tokens") or (len(request.prompt_token_ids or [])
                               or (len(self.encode(request.prompt)) if self.tokenizer else 0)))
        rec.batched = rec.output_tokens != len(rec.token_times_ns)  # several tokens per chunk
        return rec

    def generate(self, requests: list[GenerationRequest]) -> list[RequestRecord]:
        """A 'batch' to a server is the requests sent at once; the server batches them."""
        if not requests:
            return []
        with ThreadPoolExecutor(len(requests), thread_name_prefix="openai") as pool:
            return list(pool.map(self.stream, requests))

    def memory_snapshot(self) -> MemorySnapshot:
        snap = memory.snapshot("cpu")
        snap.notes.append("client process only: the server's memory is not visible over HTTP")
        return snap
