"""Model registry, offline default models and loading."""

from mm_orch.models.local import cache_dir, ensure_local_model, read_architecture
from mm_orch.models.manager import LoadedModel, ModelConfig, ModelManager
from mm_orch.models.registry import BUILTIN, ModelSpec, known_models, resolve_model

DEFAULT_MODEL = "tiny-qwen2"

__all__ = [
    "BUILTIN", "DEFAULT_MODEL", "LoadedModel", "ModelConfig", "ModelManager", "ModelSpec", "cache_dir",
    "ensure_local_model", "known_models", "read_architecture", "resolve_model",
]
