"""Inference engines behind one contract (base.Engine); heavy libraries load only when an engine is used."""

from mm_orch.engines.base import (
    Engine,
    GenerationRequest,
    MemorySnapshot,
    ModelInfo,
    RequestRecord,
    create_engine,
    engine_class,
    engine_names,
)
from mm_orch.engines.registry import register_engine

__all__ = ["Engine", "GenerationRequest", "MemorySnapshot", "ModelInfo", "RequestRecord", "create_engine",
           "engine_class", "engine_names", "register_engine"]
