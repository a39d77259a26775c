"""engine.openai: the openai engine's own settings, and the part of them a job sent over HTTP may set."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mm_orch.settings.strict import Strict


class OpenAIEngineSettings(Strict):
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible API root (…/v1).")
    served_model: str | None = Field(None, description="Model name the server expects; None = --model.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key, if any.")
    timeout_s: float = Field(600.0, gt=0, description="Per-request timeout in seconds.")
    tokenizer: str | None = Field(None, description="Local model alias/folder whose tokenizer builds exact-length "
                                  "prompts and counts tokens when the server sends no usage; None = --model.")
    endpoint: Literal["completions", "chat"] = Field("completions", description="/v1/completions or "
                                                     "/v1/chat/completions.")


class HttpOpenAISettings(Strict):
    """engine.openai over HTTP: no api_key_env (the server's config names the key); base_url from an allow-list."""

    base_url: str | None = Field(None, max_length=500, description="One of the server config's "
                                 "api.allowed_base_urls; None = the server config's base_url.")
    served_model: str | None = Field(None, max_length=200, description="Model name the server expects.")
    timeout_s: float | None = Field(None, gt=0, le=3600, description="Per-request timeout in seconds.")
    tokenizer: str | None = Field(None, max_length=200, description="A registered model alias whose tokenizer "
                                  "builds exact-length prompts (never a path over HTTP).")
