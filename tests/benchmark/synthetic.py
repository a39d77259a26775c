"""A small, complete synthetic report for gate, Markdown, plot and JUnit tests (no model run)."""

from __future__ import annotations

import copy

from mm_orch.benchmark.metrics import histogram


def _dist(mean: float) -> dict:
    return {"mean": mean, "median": mean * 0.95, "p90": mean * 1.2, "p95": mean * 1.3, "p99": mean * 1.6,
            "min": mean * 0.8, "max": mean * 2.0, "std": mean * 0.1, "count": 40}


def _itl_histogram(mean: float) -> dict:
    return histogram(mean * (0.8 + 1.2 * (i / 39) ** 3) for i in range(40)).model_dump()


def _scenario(n_in: int, n_out: int) -> dict:
    ttft, tpot = 2.0 + n_in / 50, 1.5
    e2e = ttft + tpot * (n_out - 1)
    return {"name": f"in{n_in}_out{n_out}", "input_length": n_in, "output_length": n_out, "ttft_ms": ttft,
            "tpot_ms": tpot, "e2e_latency_ms": e2e, "tokens_per_second": n_out / e2e * 1000, "failed": 0,
            "distributions": {k: _dist(v) for k, v in
                              (("ttft_ms", ttft), ("tpot_ms", tpot), ("e2e_latency_ms", e2e), ("itl_ms", tpot))},
            "itl_histogram": _itl_histogram(tpot)}


def make_report(**changes: float) -> dict:
    """changes: dotted metric -> new value, e.g. make_report(**{"latency.ttft_ms": 20.0})."""
    r = {
        "schema_version": "1.0", "model_name": "tiny-qwen2", "engine": "hf", "timestamp": "2026-01-01T00:00:00Z",
        "system_info": {"gpu": None, "gpu_driver": None, "cuda_version": None, "cpu": "Test CPU", "cpu_count": 2,
                        "python_version": "3.11.7", "torch_version": "2.13.0+cpu", "transformers_version": "5.23.0",
                        "vllm_version": None, "mm_orch_version": "0.1.0", "git_sha": "abc1234def"},
        "config": {}, "model_info": {"device": "cpu", "dtype": "float32", "load_format": "auto"},
        "latency": {"ttft_ms": 10.0, "tpot_ms": 2.0, "e2e_latency_ms": 208.0, "tokens_per_second": 480.0,
                    "output_length": 100, "failed": 0,
                    "distributions": {"ttft_ms": _dist(10.0), "tpot_ms": _dist(2.0), "e2e_latency_ms": _dist(208.0),
                                      "itl_ms": _dist(2.0), "request_tokens_per_second": _dist(480.0)},
                    "itl_histogram": _itl_histogram(2.0),
                    "scenarios": [_scenario(i, o) for i in (32, 128) for o in (16, 32)]},
        "memory": {"model_load_gb": 0.143, "inference_delta_gb": 0.0105, "peak_gb": 0.401, "kv_cache_gb": 0.0003,
                   "load": {"weights_gb": 0.0034, "source": "psutil RSS"}, "inference": {"source": "psutil RSS"},
                   "missing": {}},
        "throughput": {"single_request_tps": 700.0, "single_request_rps": 7.0, "concurrent_1_rps": 7.0,
                       "concurrent_1_tps": 700.0, "concurrent_2_rps": 12.0, "concurrent_2_tps": 1200.0,
                       "concurrent_2_serialized": True, "batch_1_tps": 700.0, "batch_1_total_tps": 900.0,
                       "batch_1_efficiency": 1.0, "batch_4_tps": 2100.0, "batch_4_total_tps": 2700.0,
                       "batch_4_efficiency": 0.75, "tokens_per_request": 100, "details": []},
        "validation": {"passed": True, "model_name": "tiny-qwen2", "failures": [], "skipped": [],
                       "checked": [{"metric": "memory.peak_gb", "actual": 0.401, "target": 4.0, "comparison": "<=",
                                    "target_name": "max_memory_gb", "passed": True}]},
    }
    r = copy.deepcopy(r)
    for dotted, value in changes.items():
        cur = r
        *path, leaf = dotted.split(".")
        for p in path:
            cur = cur[p]
        cur[leaf] = value
    return r
