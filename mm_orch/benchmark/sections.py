"""Assembling the typed report's sections from benchmark results (schema: schema.py)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from mm_orch.benchmark.latency import LatencyResult
from mm_orch.benchmark.memory import InferenceMemoryResult, LoadMemoryResult
from mm_orch.benchmark.throughput import ThroughputResult
from mm_orch.report.metrics import MetricsSummary, batch_efficiency
from mm_orch.report.model import (
    SCHEMA_VERSION,
    InferenceMemory,
    LatencyDistributions,
    LatencyRun,
    LatencySection,
    LoadMemory,
    MemoryFigure,
    MemorySection,
    ModelInfoSection,
    Report,
    ThroughputPoint,
    ThroughputSection,
)

__all__ = ["SCHEMA_VERSION", "Report", "assemble_report", "latency_section", "memory_section",
           "model_info_section", "throughput_section"]


def _distributions(m: MetricsSummary) -> LatencyDistributions:
    return LatencyDistributions(ttft_ms=m.ttft_ms, tpot_ms=m.tpot_ms, e2e_latency_ms=m.e2e_latency_ms,
                                itl_ms=m.itl_ms, request_tokens_per_second=m.request_tokens_per_second)


def _run(name: str, r: LatencyResult, input_length: int | None, cls: type[LatencyRun] = LatencyRun,
         **extra: Any) -> LatencyRun:
    m = r.metrics
    return cls(name=name, input_length=input_length, output_length=r.output_length,
               input_tokens_mean=r.input_tokens_mean, fixed_output_length=r.fixed_output_length,
               warmup_runs=r.warmup_runs, test_runs=r.test_runs, completed=m.completed, failed=m.failed,
               errors=m.errors, wall_time_s=m.wall_time_s, chunked_token_arrival=m.chunked_token_arrival,
               distributions=_distributions(m), itl_histogram=m.itl_histogram, **extra)


def latency_section(headline: LatencyResult | None, scenarios: list[tuple[Any, LatencyResult]] = ()
                    ) -> LatencySection | None:
    if headline is None:
        return None
    runs = [_run(s.name, r, s.input_length) for s, r in scenarios]
    return _run("test_prompts", headline, None, LatencySection, scenarios=runs)


def _figure(value: float | None, source: str | None, reason: str) -> MemoryFigure:
    return MemoryFigure(value_gb=value, source=source if value is not None else None,
                        reason=None if value is not None else reason)


def memory_section(load: LoadMemoryResult | None, inference: InferenceMemoryResult | None,
                   kv_reason: str = "the engine does not report this model's KV layout") -> MemorySection | None:
    if load is None and inference is None:
        return None
    inf_src = inference.source if inference else None
    return MemorySection(
        model_load=_figure(load.memory_gb if load else None, load.source if load else None,
                           (load.note if load else None) or "load memory not measured"),
        inference_delta=_figure(inference.memory_delta_gb if inference else None, inf_src,
                                "inference memory not measured"),
        peak=_figure(inference.peak_memory_gb if inference else None, inf_src,
                     "measure_peak is off" if inference else "inference memory not measured"),
        kv_cache=_figure(inference.kv_cache_gb if inference else None, "model config (layers, kv heads, head "
                         "dim, dtype) x tokens", kv_reason if inference else "inference memory not measured"),
        load=LoadMemory(**load.model_dump()) if load else None,
        inference=InferenceMemory(**inference.model_dump()) if inference else None)


def throughput_section(results: list[ThroughputResult]) -> ThroughputSection | None:
    if not results:
        return None
    # batch 1 is the single-request phase run through generate(): the default config runs only the latter
    batch1 = next((r.tokens_per_second for r in results if r.mode == "batch" and r.level == 1),
                  next((r.tokens_per_second for r in results if r.mode == "single"), None))
    points = [ThroughputPoint(
        mode=r.mode, level=r.level, requests_per_second=r.requests_per_second,
        output_tokens_per_second=r.tokens_per_second, total_tokens_per_second=r.total_tokens_per_second,
        batch_efficiency=batch_efficiency(r.tokens_per_second, r.level, batch1) if r.mode == "batch" else None,
        serialized=r.serialized, source=r.source, tokens_per_request=r.tokens_per_request, metrics=r.metrics,
        goodput=r.goodput)
        for r in results]
    return ThroughputSection(points=points, tokens_per_request=results[0].tokens_per_request)


def model_info_section(info: Any) -> ModelInfoSection:
    """From the engine's ModelInfo dataclass."""
    return ModelInfoSection.model_validate(asdict(info))


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def assemble_report(model_name: str, engine: str, **sections: Any) -> Report:
    """A Report from typed sections (latency=, memory=, throughput=, config=, system_info=, ...)."""
    return Report(model_name=model_name, engine=engine, timestamp=now_utc(), **sections)
