"""The vLLM engine's registration and configuration; needs no vllm installed."""

from __future__ import annotations

import pytest

from mm_orch.config import Config, apply_overrides
from mm_orch.engines.base import engine_class, engine_names
from mm_orch.errors import ConfigError


def test_registered_and_importable_without_vllm():
    from mm_orch.engines.vllm.engine import VLLMEngine

    assert "vllm" in engine_names()
    assert engine_class("vllm") is VLLMEngine
    assert VLLMEngine.supports_concurrency


def test_from_config_passes_options():
    from mm_orch.engines.vllm.engine import VLLMEngine

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
    from mm_orch.engines.vllm.engine import VLLMEngine
    from mm_orch.errors import EngineError

    with pytest.raises(EngineError):
        VLLMEngine("tiny-qwen2").encode("x")


def test_parallel_settings_reach_vllm():
    from mm_orch.engines.vllm.engine import VLLMEngine

    cfg = apply_overrides(Config(), {"engine": {"name": "vllm", "vllm": {
        "tensor_parallel_size": 2, "distributed_executor_backend": "mp",
        "compilation_config": {"fuse_allreduce_rms": False, "cudagraph_capture_sizes": [32, 1]}}}})
    kw = VLLMEngine.from_config("qwen2.5-7b", cfg).llm_kwargs
    assert kw["distributed_executor_backend"] == "mp"
    assert kw["compilation_config"] == {"pass_config": {"fuse_allreduce_rms": False},
                                        "cudagraph_capture_sizes": [1, 32]}
    plain = VLLMEngine.from_config("qwen2.5-7b", Config()).llm_kwargs
    assert "compilation_config" not in plain and "distributed_executor_backend" not in plain


@pytest.mark.parametrize("bad", [{"distributed_executor_backend": "slurm"},
                                 {"compilation_config": {"level": 3}},
                                 {"compilation_config": {"fuse_allreduce_rms": "maybe"}}])
def test_parallel_settings_are_validated(bad):
    with pytest.raises(ConfigError):
        apply_overrides(Config(), {"engine": {"vllm": bad}})


def test_parallel_layout_splits_weights_and_kv_per_gpu():
    from mm_orch.engines.vllm.memory import parallel_layout

    # Qwen2.5-7B: 28 layers, 4 KV heads; TP 2 halves heads, PP 2 halves layers
    tp = parallel_layout(2, 1, 28, 4, kv_gb=200.0, weights_gb=14.0)
    assert (tp["gpus"], tp["kv_heads_per_gpu"], tp["layers_per_stage"]) == (2, 2, 28)
    assert tp["weights_gb_per_gpu"] == 7.0 and tp["kv_cache_gb_per_gpu"] == 100.0
    pp = parallel_layout(1, 2, 28, 4, kv_gb=200.0, weights_gb=14.0)
    assert (pp["layers_per_stage"], pp["kv_heads_per_gpu"], pp["kv_cache_gb_per_gpu"]) == (14, 4, 100.0)
    # more TP ranks than KV heads: KV heads are replicated, the cache does not shrink past kv_heads ways
    wide = parallel_layout(8, 1, 28, 4, kv_gb=200.0, weights_gb=None)
    assert wide["kv_heads_per_gpu"] == 1 and wide["kv_cache_gb_per_gpu"] == 50.0
    assert wide["weights_gb_per_gpu"] is None


def test_weights_from_config_shapes_match_the_checkpoint_size():
    from mm_orch.engines.vllm.engine import _arch_weights_gb
    from mm_orch.models.registry import BUILTIN

    # Qwen2.5-7B-Instruct has 7.62 B parameters (15.2 GB in bf16); 3B 3.09 B with tied embeddings
    assert _arch_weights_gb(BUILTIN["qwen2.5-7b"].architecture, 2) * 2**30 / 2 / 1e9 == pytest.approx(7.62, abs=0.01)
    assert _arch_weights_gb(BUILTIN["qwen2.5-3b"].architecture, 2) * 2**30 / 2 / 1e9 == pytest.approx(3.09, abs=0.01)
    assert _arch_weights_gb({"model_type": "gpt2"}, 2) is None
