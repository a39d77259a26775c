"""A small, complete synthetic report (schema 2) for gate, Markdown, plot and JUnit tests (no model run)."""

from __future__ import annotations

from mm_orch.report import catalogue
from mm_orch.report.metrics import MetricsSummary, histogram
from mm_orch.report.model import Distribution, MemoryFigure, Report


def _dist(mean: float, count: int = 40) -> dict:
    return {"mean": mean, "median": mean * 0.95, "p90": mean * 1.2, "p95": mean * 1.3, "p99": None,
            "min": mean * 0.8, "max": mean * 2.0, "std": mean * 0.1, "count": count}


def _itl_histogram(mean: float) -> dict:
    return histogram(mean * (0.8 + 1.2 * (i / 39) ** 3) for i in range(40)).model_dump()


def _run(name: str, n_in: int | None, n_out: int, ttft: float, tpot: float) -> dict:
    e2e = ttft + tpot * (n_out - 1)
    return {"name": name, "input_length": n_in, "output_length": n_out, "completed": 40,
            "distributions": {"ttft_ms": _dist(ttft), "tpot_ms": _dist(tpot), "e2e_latency_ms": _dist(e2e),
                              "itl_ms": _dist(tpot), "request_tokens_per_second": _dist(n_out / e2e * 1000)},
            "itl_histogram": _itl_histogram(tpot)}


def _metrics(rps: float, tps: float, e2e: float) -> dict:
    return MetricsSummary(completed=10, failed=0, wall_time_s=1.0, input_tokens=100, output_tokens=1000,
                          output_tokens_per_second=tps, total_tokens_per_second=tps * 1.1, requests_per_second=rps,
                          ttft_ms=Distribution(**_dist(5.0, 10)), tpot_ms=None,
                          e2e_latency_ms=Distribution(**_dist(e2e, 10)), itl_ms=None,
                          request_tokens_per_second=None).model_dump()


def _point(mode: str, level: int, rps: float, tps: float, total: float | None = None, eff: float | None = None,
           serialized: bool = False) -> dict:
    return {"mode": mode, "level": level, "requests_per_second": rps, "output_tokens_per_second": tps,
            "total_tokens_per_second": total if total is not None else tps * 1.2, "batch_efficiency": eff,
            "serialized": serialized, "tokens_per_request": 100, "metrics": _metrics(rps, tps, 100.0 * level)}


def _fig(v: float, source: str = "psutil RSS") -> dict:
    return {"value_gb": v, "source": source}


def base_dict() -> dict:
    head = _run("test_prompts", None, 100, 10.0, 2.0)
    head["distributions"]["e2e_latency_ms"] = _dist(208.0)
    head["distributions"]["request_tokens_per_second"] = _dist(480.0)
    return {
        "schema_version": 2, "model_name": "tiny-qwen2", "engine": "hf", "timestamp": "2026-01-01T00:00:00Z",
        "system_info": {"gpu": None, "gpu_driver": None, "cuda_version": None, "cpu": "Test CPU", "cpu_count": 2,
                        "python_version": "3.11.7", "torch_version": "2.13.0+cpu", "transformers_version": "5.23.0",
                        "vllm_version": None, "mm_orch_version": "0.1.0", "git_sha": "abc1234def"},
        "config": None,
        "model_info": {"name": "tiny-qwen2", "dtype": "float32", "dtype_bytes": 4, "device": "cpu",
                       "load_format": "auto"},
        "latency": head | {"scenarios": [_run(f"in{i}_out{o}", i, o, 2.0 + i / 50, 1.5)
                                         for i in (32, 128) for o in (16, 32)]},
        "memory": {"model_load": _fig(0.143), "inference_delta": _fig(0.0105), "peak": _fig(0.401),
                   "kv_cache": _fig(0.0003, "model config"),
                   "load": {"memory_gb": 0.143, "before_gb": 0.25, "after_gb": 0.393, "source": "psutil RSS",
                            "weights_gb": 0.0034}},
        "throughput": {"tokens_per_request": 100, "points": [
            _point("single", 1, 7.0, 700.0), _point("concurrent", 1, 7.0, 700.0),
            _point("concurrent", 2, 12.0, 1200.0, serialized=True), _point("batch", 1, 7.0, 700.0, 900.0, 1.0),
            _point("batch", 4, 21.0, 2100.0, 2700.0, 0.75)]},
        "validation": {"passed": True, "model_name": "tiny-qwen2", "failures": [], "skipped": [],
                       "checked": [{"metric": "memory.peak_gb", "actual": 0.401, "target": 4.0, "comparison": "<=",
                                    "target_name": "max_memory_gb", "unit": "GiB", "passed": True}]},
    }


def set_value(report: Report, key: str, value) -> None:
    """A catalogue key (latency.ttft_ms, memory.peak_gb, throughput.batch_4_tps...) or an attribute path
    (system_info.torch_version, model_info.dtype) set to value; None marks a memory figure not measured."""
    slot = catalogue.slots(report).get(key)
    if slot is None:
        *path, leaf = key.split(".")
        owner = report
        for p in path:
            owner = getattr(owner, p)
        setattr(owner, leaf, value)
    elif value is None and isinstance(slot.owner, MemoryFigure):
        slot.owner.value_gb, slot.owner.source, slot.owner.reason = None, None, "not measured (test)"
    else:
        slot.set(value)


def make_report(**changes) -> Report:
    """changes: key -> new value, e.g. make_report(**{"latency.ttft_ms": 20.0})."""
    r = Report.model_validate(base_dict())
    for key, value in changes.items():
        set_value(r, key, value)
    return r
