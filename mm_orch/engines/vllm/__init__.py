"""The vllm engine: its registration; settings.py, engine.py (LLM.generate and the step loop), memory.py."""

from __future__ import annotations

from mm_orch.engines.registry import register_engine
from mm_orch.engines.vllm.settings import VLLMEngineSettings

register_engine("vllm", "mm_orch.engines.vllm.engine:VLLMEngine", settings=VLLMEngineSettings,
                description="vLLM: LLM.generate for batches, its step loop for per-token streams")
