"""The openai engine (any OpenAI-compatible server): its registration; settings.py, engine.py, client.py, stream.py."""

from __future__ import annotations

from typing import Any

from mm_orch.engines.capabilities import Capabilities, LoadMode
from mm_orch.engines.openai.settings import HttpOpenAISettings, OpenAIEngineSettings
from mm_orch.engines.registry import register_engine


class OpenAICapabilities(Capabilities):
    """The model runs in a server: no GPU or memory here, any name it serves, requests sent to base_url."""

    remote = True
    model_fields = ("tokenizer",)
    http_settings = HttpOpenAISettings  # no api_key_env over HTTP: the server's config names the key

    def load_mode(self, engine: Any) -> LoadMode:
        return "async_http"

    def outbound_urls(self, settings: Any) -> dict[str, str]:
        return {"base_url": settings.base_url.rstrip("/")}

    def metrics_url(self, settings: Any) -> str | None:
        """The /metrics beside the OpenAI root (http://h:8000/v1 -> http://h:8000/metrics), as vLLM, SGLang and
        TGI serve it."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(settings.base_url)
        path = parts.path.rstrip("/")
        path = path[:-3] if path.endswith("/v1") else path
        return urlunsplit((parts.scheme, parts.netloc, path + "/metrics", "", ""))


register_engine("openai", "mm_orch.engines.openai.engine:OpenAIEngine", settings=OpenAIEngineSettings,
                flags={"base_url": "--base-url", "endpoint": "--endpoint", "tokenizer": "--tokenizer"},
                description="any OpenAI-compatible server, streamed /v1/completions or /v1/chat/completions",
                capabilities=OpenAICapabilities())
