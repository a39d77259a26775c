"""The openai engine's plug-in record: its settings (engine.openai), flags and registration; the engine
is openai_http.py."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.engines.registry import register_engine


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OpenAIEngineSettings(_Strict):
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible API root (…/v1).")
    served_model: str | None = Field(None, description="Model name the server expects; None = --model.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key, if any.")
    timeout_s: float = Field(600.0, gt=0, description="Per-request timeout in seconds.")
    tokenizer: str | None = Field(None, description="Local model alias/folder whose tokenizer builds exact-length "
                                  "prompts; None = --model.")


register_engine("openai", "mm_orch.engines.openai_http:OpenAIEngine", settings=OpenAIEngineSettings,
                flags={"base_url": "--base-url"}, description="any OpenAI-compatible server, streamed /v1/completions")
