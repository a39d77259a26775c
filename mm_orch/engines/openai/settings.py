"""The openai engine's plug-in record: its settings (engine.openai), flags and registration; the engine
is openai_http.py."""

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
