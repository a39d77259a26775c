"""The baseline gate on synthetic reports: direction, tolerance, noise, missing metrics, environment."""

import pytest

from mm_orch.config import GateSettings
from mm_orch.gate.baseline import comparable_metrics, compare_to_baseline, env_differences
from mm_orch.report import catalogue
from mm_orch.run.repeat import merge_repeats, run_repeated
from tests.report.synthetic import make_report


def by_metric(result):
    return {d.metric: d for d in result.deltas}


@pytest.mark.parametrize("metric, better", [
    ("latency.ttft_ms", "lower"), ("latency.tokens_per_second", "higher"), ("memory.peak_gb", "lower"),
    ("throughput.concurrent_2_rps", "higher"), ("throughput.batch_4_total_tps", "higher"),
    ("throughput.batch_4_efficiency", "higher"), ("latency.distributions.itl_ms.p95", "lower"),
    ("latency.scenarios.in32_out16.tokens_per_second", "higher"),
])
def test_direction_comes_from_the_catalogue(metric, better):
    slot = catalogue.slots(make_report())[metric]
    assert slot.metric.direction == better and slot.metric.unit


def test_comparable_metrics_covers_every_section():
    m = comparable_metrics(make_report())
    assert m["latency.ttft_ms"] == 10.0 and m["memory.peak_gb"] == 0.401 and m["throughput.batch_4_tps"] == 2100.0
    assert m["latency.scenarios.in128_out32.ttft_ms"] == pytest.approx(4.56)
    assert m["latency.distributions.tpot_ms.median"] == pytest.approx(1.9)
    assert "throughput.tokens_per_request" not in m and "throughput.concurrent_2_serialized" not in m


def test_identical_reports_pass_with_every_metric_ok():
    res = compare_to_baseline(make_report(), make_report(), GateSettings())
    assert res.passed and res.deltas and all(d.status == "ok" for d in res.deltas) and not res.env_differences


def test_slower_latency_and_lower_throughput_are_regressions():
    now = make_report(**{"latency.ttft_ms": 15.0, "throughput.batch_4_tps": 1400.0})
    res = compare_to_baseline(now, make_report(), GateSettings(tolerance_pct=10))
    d = by_metric(res)
    assert not res.passed and {r.metric for r in res.regressions} == {"latency.ttft_ms", "throughput.batch_4_tps"}
    assert d["latency.ttft_ms"].change_pct == pytest.approx(50.0)
    assert d["latency.ttft_ms"].worse_pct == pytest.approx(50.0)
    # 2100 -> 1400 tokens/s is 50 % worse measured against the better value, -33.3 % as a plain change
    assert d["throughput.batch_4_tps"].change_pct == pytest.approx(-33.333, rel=1e-3)
    assert d["throughput.batch_4_tps"].worse_pct == pytest.approx(50.0)


def test_faster_and_leaner_are_improvements_not_failures():
    now = make_report(**{"latency.ttft_ms": 5.0, "memory.peak_gb": 0.2, "throughput.single_request_tps": 1400.0})
    res = compare_to_baseline(now, make_report(), GateSettings(tolerance_pct=10))
    assert res.passed
    better = {"latency.ttft_ms", "memory.peak_gb", "throughput.single_request_tps"}
    assert {d.metric for d in res.improvements} == better


def test_within_tolerance_passes_and_per_metric_patterns_win():
    now = make_report(**{"latency.ttft_ms": 10.9, "memory.peak_gb": 0.45})  # +9 % and +12.2 %
    assert compare_to_baseline(now, make_report(), GateSettings(tolerance_pct=10)).regressions[0].metric == \
        "memory.peak_gb"
    gate = GateSettings(tolerance_pct=10, tolerances={"memory.*": 15, "latency.*": 5})
    res = compare_to_baseline(now, make_report(), gate)
    assert [d.metric for d in res.regressions] == ["latency.ttft_ms"]
    assert by_metric(res)["memory.peak_gb"].tolerance_pct == 15


def test_missing_unmeasured_and_ignored_metrics_are_not_compared():
    now = make_report(**{"memory.kv_cache_gb": None, "latency.ttft_ms": 99.0})
    now.throughput.points = [p for p in now.throughput.points if (p.mode, p.level) != ("batch", 4)]
    base = make_report()
    base.throughput.points.append(base.throughput.points[-1].model_copy(update={"level": 8}))
    res = compare_to_baseline(now, base, GateSettings(ignore=["latency.ttft_ms"]))
    assert res.passed
    expected = {"memory.kv_cache_gb": "not measured in the current run",
                "throughput.batch_4_tps": "only in the baseline", "throughput.batch_8_tps": "only in the baseline",
                "latency.ttft_ms": "ignored by gate.ignore"}
    assert {k: res.not_compared.get(k) for k in expected} == expected
    assert "latency.ttft_ms" not in by_metric(res)


def test_environment_differences_hard_and_soft():
    base = make_report()
    now = make_report(**{"system_info.torch_version": "2.14.0", "system_info.cpu": "Other CPU",
                         "model_info.dtype": "bfloat16"})
    hard, soft = env_differences(base, now)
    assert hard == ["dtype: float32 -> bfloat16", "torch_version: 2.13.0+cpu -> 2.14.0"]
    assert soft == ["cpu: Test CPU -> Other CPU"]
    gpu = make_report(**{"system_info.gpu": "NVIDIA H100", "system_info.gpu_driver": "560.1"})
    assert env_differences(base, gpu)[0] == ["gpu: none -> NVIDIA H100"]
    vllm = make_report(**{"system_info.vllm_version": "0.26.0"})
    assert env_differences(base, vllm) == ([], ["vllm_version: none -> 0.26.0"])  # the hf engine: only a note
    vllm.engine = base.engine = "vllm"
    assert env_differences(base, vllm) == (["vllm_version: none -> 0.26.0"], [])  # the vllm engine: refused
    base.engine = "hf"
    build = make_report(**{"system_info.torch_version": "2.13.0"})
    assert env_differences(base, build) == ([], ["torch_version: 2.13.0+cpu -> 2.13.0"])
    res = compare_to_baseline(now, base, GateSettings(), allow_env_mismatch=True)
    assert res.env_mismatch_allowed and len(res.env_differences) == 3


def test_repeat_medians_spread_and_noise():
    runs = [make_report(**{"latency.ttft_ms": v, "memory.peak_gb": 0.4}) for v in (10.0, 30.0, 12.0)]
    merged = merge_repeats(runs)
    assert merged.latency.ttft_ms == 12.0 and merged.repeat.n == 3
    spread = merged.repeat.metrics["latency.ttft_ms"]
    assert (spread.min, spread.median, spread.max, spread.values) == (10.0, 12.0, 30.0, [10.0, 30.0, 12.0])
    # 12 -> 20 ms is beyond a 10 % tolerance but no worse than the baseline's own worst run (30): noise
    now = make_report(**{"latency.ttft_ms": 20.0})
    d = by_metric(compare_to_baseline(now, merged, GateSettings(tolerance_pct=10)))["latency.ttft_ms"]
    assert d.status == "noise" and d.baseline_range == (10.0, 30.0)
    now = make_report(**{"latency.ttft_ms": 31.0})
    assert by_metric(compare_to_baseline(now, merged, GateSettings()))["latency.ttft_ms"].status == "regression"
    calls = iter(runs)
    assert run_repeated(lambda: next(calls), 3).repeat.n == 3


def test_zero_baseline_value_does_not_crash():
    res = compare_to_baseline(make_report(**{"memory.inference_delta_gb": 0.01}),
                              make_report(**{"memory.inference_delta_gb": 0.0}), GateSettings())
    d = by_metric(res)["memory.inference_delta_gb"]
    assert d.status == "regression" and d.change_pct is None and d.worse_pct == 1e6


def test_memory_noise_floor_is_absolute_and_memory_only():
    base = make_report(**{"memory.model_load_gb": 0.009, "latency.ttft_ms": 1.0})
    now = make_report(**{"memory.model_load_gb": 0.012, "latency.ttft_ms": 1.002})  # +33 %, +3 MiB; +0.2 %
    gate = GateSettings(tolerance_pct=0.1, memory_noise_gb=0.004)
    d = by_metric(compare_to_baseline(now, base, gate))
    assert d["memory.model_load_gb"].status == "noise" and d["latency.ttft_ms"].status == "regression"
    bigger = make_report(**{"memory.model_load_gb": 0.014})  # +5 MiB: beyond the floor
    assert by_metric(compare_to_baseline(bigger, base, gate))["memory.model_load_gb"].status == "regression"


def test_repeat_keeps_cold_memory_and_best_statistic_ignores_contention():
    runs = [make_report(**{"memory.model_load_gb": m, "throughput.batch_4_tps": t})
            for m, t in ((0.14, 2100.0), (0.002, 300.0), (0.002, 250.0))]  # runs 2, 3: warm process, busy CPU
    merged = merge_repeats(runs)
    assert merged.memory.model_load_gb == 0.14 and "memory.model_load_gb" not in merged.repeat.metrics
    assert catalogue.values(merged)["throughput.batch_4_tps"] == 300.0  # the median, written into the point
    assert merged.model_dump()["throughput"]["batch_4_tps"] == 300.0  # and so into the MuAI key
    base = make_report()
    median = by_metric(compare_to_baseline(merged, base, GateSettings(tolerance_pct=100)))
    best = by_metric(compare_to_baseline(merged, base, GateSettings(tolerance_pct=100, statistic="best")))
    assert median["throughput.batch_4_tps"].status == "regression"
    assert best["throughput.batch_4_tps"].current == 2100.0 and best["throughput.batch_4_tps"].status == "ok"
    assert best["memory.model_load_gb"].current == 0.14


def test_different_workloads_are_listed_and_report_folders_ignored():
    from mm_orch.config import Config, apply_overrides
    from mm_orch.gate.baseline import workload_differences
    from mm_orch.run.runner import run_config

    base, now = make_report(), make_report()
    a = apply_overrides(Config(), {"benchmark": {"report": {"output_dir": "a"}}})
    b = apply_overrides(Config(), {"benchmark": {"latency": {"output_length": 32}, "report": {"output_dir": "b"}}})
    base.config = run_config(a, "tiny-qwen2", ["latency"], None)
    now.config = run_config(b, "tiny-qwen2", ["latency"], None)
    assert workload_differences(base, now) == ["benchmark.latency.output_length: 100 -> 32"]
    now.config.prompts = ["another prompt"]
    assert workload_differences(base, now)[-1] == "prompts: ['What is the capital of France?'] -> ['another prompt']"
    res = compare_to_baseline(now, base, GateSettings())
    assert res.workload_differences == workload_differences(base, now) and res.passed
