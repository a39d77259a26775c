"""The guide's Python API on the real HF engine with tiny-qwen2."""

import pytest

from mm_orch.benchmark.latency import LatencyBenchmark
from mm_orch.benchmark.memory import MemoryBenchmark
from mm_orch.benchmark.prompts import grid_scenarios, load_prompt_file, synthetic_prompt_ids
from mm_orch.benchmark.throughput import ThroughputBenchmark
from mm_orch.errors import ConfigError
from mm_orch.report.metrics import kv_cache_bytes

PROMPTS = ["What is the capital of France?", "Explain quantum computing briefly."]


class Counter:
    def __init__(self):
        self.n = 0

    def phase(self, name, total):
        pass

    def advance(self, n=1):
        self.n += n


def test_latency_counts_only_measured_runs(hf_engine):
    progress = Counter()
    bench = LatencyBenchmark(warmup_runs=2, test_runs=3, progress=progress)
    r = bench.run(engine=hf_engine, prompts=PROMPTS, output_length=10)
    assert r.metrics.completed == 6 and progress.n == bench.steps(2) == 8
    assert r.metrics.output_tokens == 60 and r.metrics.itl_ms.count == 6 * 9
    assert 0 < r.ttft_ms < r.e2e_latency_ms
    assert r.tpot_ms == pytest.approx(r.metrics.tpot_ms.mean)
    assert r.tokens_per_second == pytest.approx(r.metrics.request_tokens_per_second.mean)


def test_synthetic_prompts_have_exact_length(hf_engine):
    ids = synthetic_prompt_ids(hf_engine.vocab_token_ids(), 77, seed=3)
    assert len(ids) == 77 and ids == synthetic_prompt_ids(hf_engine.vocab_token_ids(), 77, seed=3)
    r = LatencyBenchmark(0, 1).run(hf_engine, [ids], output_length=4)
    assert r.input_tokens_mean == 77
    grid = grid_scenarios(hf_engine, [16, 64], [4, 8])
    assert [(s.input_length, s.output_length) for s in grid] == [(16, 4), (16, 8), (64, 4), (64, 8)]


def test_throughput_modes(hf_engine):
    bench = ThroughputBenchmark(duration_seconds=0.2, tokens_per_request=6, min_requests=2)
    single = bench.measure_single_request(engine=hf_engine, prompts=PROMPTS)
    m = single.metrics
    assert m.completed >= 2 and m.output_tokens == 6 * m.completed
    assert single.requests_per_second == pytest.approx(m.completed / m.wall_time_s)
    conc = bench.measure_concurrent(engine=hf_engine, prompts=PROMPTS, num_concurrent=3)
    assert conc.metrics.completed >= 2 and conc.serialized  # HF serves one request at a time
    # all three clients send at once and are served one by one: the second request's first token comes after
    # the first request has ended, and that wait is part of its TTFT. So some TTFT is at least the shortest
    # E2E, whatever the machine's load (a ratio of medians over two requests flaked under load).
    c = conc.metrics
    assert c.ttft_ms.max >= c.e2e_latency_ms.min
    assert m.ttft_ms.max <= m.e2e_latency_ms.max  # a lone client never waits for another request
    batch = bench.measure_batch(engine=hf_engine, prompts=PROMPTS, batch_size=4)
    assert batch.metrics.completed % 4 == 0 and batch.metrics.output_tokens == 6 * batch.metrics.completed
    assert batch.total_tokens_per_second > batch.tokens_per_second


def test_memory_inference_and_kv_cache(hf_engine):
    info = hf_engine.info
    r = MemoryBenchmark().measure_inference(engine=hf_engine, prompt=list(range(10, 74)), output_length=16,
                                            model_info=info)
    assert r.source.startswith("psutil") and r.memory_delta_gb >= 0 and r.peak_memory_gb >= r.before_gb
    expected = kv_cache_bytes(info.num_layers, info.num_kv_heads, info.head_dim, 4, 64 + 16) / 2**30
    assert r.kv_cache_gb == pytest.approx(expected)


def test_model_load_memory_through_model_manager():
    from mm_orch.models import ModelConfig, ModelManager

    manager = ModelManager()
    r = MemoryBenchmark().measure_model_load(manager, ModelConfig(model_name="tiny-qwen2", device="cpu"))
    params = sum(p.numel() for p in manager.current.model.parameters())
    assert r.weights_gb == pytest.approx(params * 4 / 2**30)
    assert r.source.startswith("psutil") and r.load_seconds > 0
    manager.unload()


def test_bad_arguments_are_config_errors(hf_engine, tmp_path):
    with pytest.raises(ConfigError):
        LatencyBenchmark(test_runs=0)
    with pytest.raises(ConfigError, match="at least one prompt"):
        LatencyBenchmark(0, 1).run(hf_engine, [], 4)
    with pytest.raises(ConfigError, match="num_concurrent must be >= 1"):
        ThroughputBenchmark(1, 4).measure_concurrent(hf_engine, PROMPTS, 0)
    bad = tmp_path / "p.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(ConfigError, match="expected a JSON list"):
        load_prompt_file(str(bad))
    with pytest.raises(ConfigError, match="holds no prompts"):
        (tmp_path / "e.txt").write_text("\n\n")
        load_prompt_file(str(tmp_path / "e.txt"))


def test_load_memory_is_null_with_reason_when_sources_differ():
    from mm_orch.engines.base import ModelInfo
    from mm_orch.monitor.snapshot import MemorySnapshot

    info = ModelInfo("m", None, 1, 1, 32, "bfloat16", 2, "cuda", "dummy", num_parameters=1000)
    # Before: no CUDA here, so only RSS; after: a torch-allocator reading. Mixing them would be a lie.
    _, r = MemoryBenchmark().measure_load(lambda: info, lambda: MemorySnapshot(gpu_allocated_gb=5.0), "cuda")
    assert r.memory_gb is None and "offers no" in r.note and r.weights_gb == pytest.approx(2000 / 2**30)


def test_library_imports_are_not_counted_as_model_load_memory():
    # A fresh interpreter, so Transformers is not imported yet: its ~100+ MiB must land in libraries_gb,
    # and model_load_gb stay near the tiny model's own few MiB (the bug CI caught: 0.14 GiB "model load").
    import json
    import subprocess
    import sys

    code = ("import json; from mm_orch.benchmark.memory import MemoryBenchmark; "
            "from mm_orch.engines.base import CommonSettings; from mm_orch.engines.hf.engine import HFEngine; "
            "_, r = MemoryBenchmark().measure_engine_load(HFEngine('tiny-qwen2', CommonSettings(device='cpu')), "
            "'cpu'); "
            "print(json.dumps(r.model_dump()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["libraries_gb"] > 0.05  # importing Transformers and the Qwen2 classes
    assert r["weights_gb"] < r["memory_gb"] < 0.05
    assert r["libraries_gb"] > 2 * r["memory_gb"]


def test_latency_keeps_per_request_samples_with_cpu_figures(hf_engine):
    """samples=True keeps each request's figures; cpu_figures adds process CPU and the step reference timed
    between requests, whose time stays out of the phase's wall time."""
    import torch

    bench = LatencyBenchmark(warmup_runs=1, test_runs=3, cpu_figures=True)
    threads = torch.get_num_threads()
    r = bench.run(engine=hf_engine, prompts=PROMPTS, output_length=8, samples=True)
    s = r.samples
    assert len(s) == 6 and s.output_tokens == [8] * 6 and s.dropped == 0
    assert min(s.ttft_ms) == pytest.approx(r.metrics.ttft_ms.min, rel=1e-4) and all(x > 0 for x in s.tpot_ms)
    assert max(s.ttft_ms) == pytest.approx(r.metrics.ttft_ms.max, rel=1e-4)  # the same requests (samples keep 5 digits)
    assert all(c > 0 for c in s.cpu_ms) and s.cpu_ms_per_token[0] == pytest.approx(s.cpu_ms[0] / 8, rel=1e-3)
    assert len(s.step_reference_cpu_ms) == 6 and all(x > 0 for x in s.step_reference_cpu_ms)
    assert s.step_reference_id.startswith("mm_orch-step-v2:") and torch.get_num_threads() == threads
    assert r.metrics.wall_time_s < sum(s.e2e_latency_ms) / 1e3 * 1.5  # the reference's time is not in it
    plain = LatencyBenchmark(warmup_runs=0, test_runs=1).run(hf_engine, PROMPTS, 4, samples=True).samples
    assert plain.cpu_ms is None and plain.step_reference_cpu_ms is None and len(plain) == 2
    assert LatencyBenchmark(0, 1).run(hf_engine, PROMPTS, 4).samples is None


def test_step_reference_is_fixed_and_leaves_torch_as_it_found_it():
    import torch

    from mm_orch.benchmark.step_reference import StepReference

    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    ref = StepReference(tokens=2)
    assert torch.rand(1) == expected  # building it does not draw from the caller's generator
    wall, cpu = ref.sample()
    assert wall > 0 and cpu > 0 and ref.id == "mm_orch-step-v2:qwen2-h128-l4-v1024:gen2"
