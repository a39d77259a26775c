"""The vLLM engine's registration and configuration; needs no vllm installed."""

from __future__ import annotations

import pytest

from mm_orch.config import Config, apply_overrides
from mm_orch.engines.base import engine_class, engine_names
from mm_orch.errors import ConfigError


def test_registered_and_importable_without_vllm():
    from mm_orch.engines.vllm import VLLMEngine

    assert "vllm" in engine_names()
    assert engine_class("vllm") is VLLMEngine
    assert VLLMEngine.supports_concurrency


def test_from_config_passes_options():
    from mm_orch.engines.vllm import VLLMEngine

    cfg = apply_overrides(Config(), {"engine": {"name": "vllm", "load_format": "dummy", "dtype": "bfloat16",
                                                "vllm": {"gpu_memory_utilization": 0.5, "max_model_len": 2048,
                                                         "enforce_eager": True, "tensor_parallel_size": 2,
                                                         "enable_prefix_caching": False,
                                                         "cpu_kvcache_space_gb": 3}}})
    eng = VLLMEngine.from_config("qwen2.5-3b", cfg)
    assert eng.llm_kwargs == {"gpu_memory_utilization": 0.5, "max_model_len": 2048, "enforce_eager": True,
                              "tensor_parallel_size": 2, "pipeline_parallel_size": 1,
                              "enable_prefix_caching": False}
    assert (eng.load_format, eng.dtype, eng.cpu_kvcache_space_gb, eng.multiprocessing) == ("dummy", "bfloat16", 3,
                                                                                          None)


@pytest.mark.parametrize("bad", [{"gpu_memory_utilization": 1.5}, {"tensor_parallel_size": 0}, {"nope": 1}])
def test_bad_options_are_config_errors(bad):
    with pytest.raises(ConfigError):
        apply_overrides(Config(), {"engine": {"vllm": bad}})


def test_unloaded_engine_raises_engine_error():
    from mm_orch.engines.vllm import VLLMEngine
    from mm_orch.errors import EngineError

    with pytest.raises(EngineError):
        VLLMEngine("tiny-qwen2").encode("x")
