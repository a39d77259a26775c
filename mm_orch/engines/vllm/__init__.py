"""The vllm engine: its registration; settings.py, engine.py (LLM.generate and the step loop), memory.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mm_orch.engines.capabilities import Capabilities
from mm_orch.engines.registry import register_engine
from mm_orch.engines.vllm.settings import VLLMEngineSettings


class VLLMCapabilities(Capabilities):
    """A GPU per tensor-parallel rank and pipeline stage; max_model_len caps the context."""

    library_version = "vllm_version"

    def gpus(self, settings: Any, device: str) -> int:
        return 0 if device == "cpu" else settings.tensor_parallel_size * settings.pipeline_parallel_size

    def context_limits(self, settings: Any, context_of: Callable[[str], int | None]) -> list[int | None]:
        return [settings.max_model_len]


register_engine("vllm", "mm_orch.engines.vllm.engine:VLLMEngine", settings=VLLMEngineSettings,
                description="vLLM: LLM.generate for batches, its step loop for per-token streams",
                capabilities=VLLMCapabilities())
