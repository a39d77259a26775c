"""The hf engine (Hugging Face Transformers): its registration; settings.py, engine.py, graphs.py."""

from __future__ import annotations

from typing import Any

from mm_orch.engines.capabilities import Capabilities
from mm_orch.engines.hf.settings import HFEngineSettings
from mm_orch.engines.registry import register_engine


class HFCapabilities(Capabilities):
    """One device, one request at a time; the only engine with beam search and bitsandbytes weights."""

    beam_search = True

    def validate(self, settings: Any, running: str) -> None:
        if settings.quantization and running != "hf":
            raise ValueError(f"hf.quantization: only the hf engine quantizes weights, not '{running}'")


register_engine("hf", "mm_orch.engines.hf.engine:HFEngine", settings=HFEngineSettings,
                flags={"static_cache": "--static-cache", "attn_implementation": "--attn-implementation",
                       "quantization": "--quantization"},
                description="Transformers generate on CPU or CUDA, one request at a time",
                capabilities=HFCapabilities())
