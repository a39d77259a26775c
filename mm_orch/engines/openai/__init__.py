"""The openai engine (any OpenAI-compatible server): its registration; settings.py, engine.py, client.py, stream.py."""

from __future__ import annotations

from mm_orch.engines.openai.settings import OpenAIEngineSettings
from mm_orch.engines.registry import register_engine

register_engine("openai", "mm_orch.engines.openai.engine:OpenAIEngine", settings=OpenAIEngineSettings,
                flags={"base_url": "--base-url", "endpoint": "--endpoint", "tokenizer": "--tokenizer"},
                description="any OpenAI-compatible server, streamed /v1/completions or /v1/chat/completions")
