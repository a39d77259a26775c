"""The hf engine (Hugging Face Transformers): its registration; settings.py, engine.py, graphs.py."""

from __future__ import annotations

from mm_orch.engines.hf.settings import HFEngineSettings
from mm_orch.engines.registry import register_engine

register_engine("hf", "mm_orch.engines.hf.engine:HFEngine", settings=HFEngineSettings,
                flags={"static_cache": "--static-cache", "attn_implementation": "--attn-implementation",
                       "quantization": "--quantization"},
                description="Transformers generate on CPU or CUDA, one request at a time")
