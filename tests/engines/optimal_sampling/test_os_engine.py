"""DualEngine behind the Engine contract, built from the validated config."""

from __future__ import annotations

import pytest

from mm_orch.config import Config, apply_overrides
from mm_orch.engines.base import GenerationRequest, create_engine, engine_class
from mm_orch.errors import ConfigError


@pytest.fixture(scope="module")
def engine():
    cfg = apply_overrides(Config(), {"engine": {"name": "dual", "device": "cpu"},
                                     "optimal_sampling": {"theta_model": "tiny-qwen2-small",
                                                          "theta_system_prompt": "Solve it."}})
    eng = engine_class("dual").from_config("tiny-qwen2", cfg)
    info = eng.load()
    yield eng, info
    eng.close()


def test_generate_batch_records(engine):
    eng, info = engine
    reqs = [GenerationRequest(prompt="What is 2 + 2?", max_new_tokens=8, temperature=0.7, seed=1),
            GenerationRequest(prompt_token_ids=eng.vocab_token_ids()[:5], max_new_tokens=8, temperature=0.7)]
    recs = eng.generate(reqs)
    assert [r.output_tokens for r in recs] == [8, 8] and all(r.success and r.batched for r in recs)
    assert recs[1].input_tokens == 5
    for r in recs:
        assert len(r.token_times_ns) == 8 and r.start_ns <= r.token_times_ns[0] <= r.token_times_ns[-1] <= r.end_ns
    last = info.extra["last_generate"]
    assert last["alpha"]["count"] == 16 and 0.0 < last["alpha"]["mean"] < 1.0
    assert last["alpha"]["divergences"]["kl_star"] > 0
    assert info.extra["theta_model"] == "tiny-qwen2-small" and info.extra["memory_per_model_gb"]["theta_weights"] > 0


def test_stream_timestamps_every_token(engine):
    eng, _ = engine
    seen = []
    rec = eng.stream(GenerationRequest(prompt="Hello", max_new_tokens=6, temperature=0.0),
                     on_token=lambda tok, t: seen.append((tok, t)))
    assert rec.output_tokens == 6 and not rec.batched
    assert [t for _, t in seen] == rec.token_times_ns
    assert [tok for tok, _ in seen] == rec.output_token_ids
    assert rec.token_times_ns == sorted(rec.token_times_ns)


def test_stats_cover_every_generated_token(engine):
    eng, _ = engine
    before = eng.stats()["alpha"].get("count", 0)
    eng.generate([GenerationRequest(prompt="One", max_new_tokens=5), GenerationRequest(prompt="Two", max_new_tokens=5)])
    eng.stream(GenerationRequest(prompt="Three", max_new_tokens=3))
    alpha = eng.stats()["alpha"]
    assert alpha["count"] == before + 13 and sum(alpha["histogram"]["counts"]) == alpha["count"]
    assert alpha["p5"] <= alpha["p50"] <= alpha["p95"] and alpha["divergences"]["kl_star"] > 0


def test_concurrent_callers_are_served_one_at_a_time(engine):
    from concurrent.futures import ThreadPoolExecutor

    eng, _ = engine
    prompts = ["What is the capital of France?", "Explain quantum computing briefly."]
    reqs = [GenerationRequest(prompt=prompts[i % 2], max_new_tokens=32) for i in range(12)]
    with ThreadPoolExecutor(2) as pool:  # unserialised, the calls trampled each other's step counters
        recs = list(pool.map(eng.stream, reqs))
    assert [r.output_tokens for r in recs] == [32] * 12 and all(r.success for r in recs), [r.error for r in recs]


def test_kv_cache_counts_both_models(engine):
    from mm_orch.benchmark.memory import MemoryBenchmark

    eng, info = engine
    r = MemoryBenchmark().measure_inference(eng, eng.vocab_token_ids()[:20], 8, info)
    per_token = sum(info.extra["kv_bytes_per_token"].values())  # teacher 2,048 + theta 512 bytes
    assert per_token == 2048 + 512 and r.kv_cache_gb == per_token * (20 + 8) / 2**30
    assert info.max_context == 4096


def test_registry_and_config_errors():
    assert type(create_engine("dual", model_name="tiny-qwen2")).__name__ == "DualEngine"
    with pytest.raises(ConfigError, match="alpha_method"):
        apply_overrides(Config(), {"optimal_sampling": {"alpha_method": "newton"}})
    with pytest.raises(ConfigError, match="fixed_alpha"):
        apply_overrides(Config(), {"optimal_sampling": {"fixed_alpha": 1.5}})


def test_placement_settings_reach_the_engine_and_its_report(engine):
    eng, info = engine
    assert info.extra["placement"] == {"teacher": "cpu", "theta": "cpu"}
    cfg = apply_overrides(Config(), {"optimal_sampling": {"theta_device": "cuda:1", "overlap": False}})
    other = engine_class("dual").from_config("tiny-qwen2", cfg)
    assert other.options["theta_device"] == "cuda:1" and other.options["overlap"] is False
    with pytest.raises(ConfigError, match="theta_device"):
        apply_overrides(Config(), {"optimal_sampling": {"theta_device": "../gpu"}})
