"""The OpenAI-compatible engine against a real HTTP server on loopback with known TTFT and ITL."""

import pytest

from mm_orch.benchmark.latency import LatencyBenchmark
from mm_orch.benchmark.throughput import ThroughputBenchmark
from mm_orch.engines import GenerationRequest
from mm_orch.engines.openai.engine import OpenAIEngine
from mm_orch.engines.openai.settings import OpenAIEngineSettings as Settings
from mm_orch.errors import ConfigError, EngineError
from mm_orch.mock.server import MockProcess

TTFT_MS, ITL_MS = 80.0, 20.0


@pytest.fixture(scope="module")
def engine():
    with MockProcess(ttft_ms=TTFT_MS, itl_ms=ITL_MS, model="mock") as server:
        e = OpenAIEngine("tiny-qwen2", settings=Settings(base_url=server.base_url, served_model="mock"))
        e.load()
        yield e
        e.close()


def test_measured_latency_matches_the_servers_delays(engine):
    r = LatencyBenchmark(warmup_runs=1, test_runs=3).run(engine, ["Hello there"], output_length=10)
    m = r.metrics
    assert m.completed == 3 and m.output_tokens == 30
    assert TTFT_MS - 1 <= m.ttft_ms.median <= TTFT_MS + 40
    assert ITL_MS - 1 <= m.itl_ms.median <= ITL_MS + 15
    assert r.tpot_ms == pytest.approx(m.tpot_ms.mean) and ITL_MS - 1 <= m.tpot_ms.median <= ITL_MS + 15


def test_token_id_prompts_and_usage_counts(engine):
    ids = engine.vocab_token_ids()[:37]
    rec = engine.stream(GenerationRequest(prompt_token_ids=ids, max_new_tokens=4))
    assert rec.success and rec.input_tokens == 37 and rec.output_tokens == 4 and rec.text == " t0 t1 t2 t3"


def test_concurrent_requests_overlap_on_the_server(engine):
    bench = ThroughputBenchmark(duration_seconds=0.5, tokens_per_request=5, warmup_tokens=0)
    one = bench.measure_concurrent(engine, ["a"], num_concurrent=1)
    four = bench.measure_concurrent(engine, ["a"], num_concurrent=4)
    assert not four.serialized
    assert four.requests_per_second > 2.5 * one.requests_per_second  # server-side overlap


def test_errors_are_clear():
    with pytest.raises(ConfigError, match="base_url must start with http"):
        OpenAIEngine("m", settings=Settings(base_url="localhost:1"))
    with pytest.raises(EngineError, match="cannot reach http://127.0.0.1:9/v1/models"):
        OpenAIEngine("m", settings=Settings(base_url="http://127.0.0.1:9/v1", timeout_s=2)).load()
    with MockProcess(model="mock") as server:
        with pytest.raises(ConfigError, match=r"serves \['mock'\], not 'other'"):
            OpenAIEngine("other", settings=Settings(base_url=server.base_url)).load()
        e = OpenAIEngine("mock", settings=Settings(base_url=server.base_url, served_model="mock"))
        e.load()
        e.settings.served_model = "gone"
        rec = e.stream(GenerationRequest(prompt="x", max_new_tokens=2))
        assert not rec.success and "HTTP 404" in rec.error
        e.close()


def test_the_report_never_presents_client_memory_as_the_models():
    from mm_orch.config import Config, apply_overrides
    from mm_orch.run.runner import run_benchmark

    with MockProcess(ttft_ms=1.0, itl_ms=1.0, model="mock") as server:
        cfg = apply_overrides(Config(), {"engine": {"name": "openai", "openai": {"base_url": server.base_url,
                                                                                "served_model": "mock"}}})
        report = run_benchmark(cfg, "tiny-qwen2", ["memory"])
    mem = report.memory
    for fig in (mem.model_load, mem.inference_delta, mem.peak, mem.kv_cache):
        assert fig.value_gb is None and fig.source is None and "held by the server" in fig.reason
    assert report.model_dump()["memory"]["peak_gb"] is None and report.model_info.device == "remote"
