"""The report: assembling sections from benchmark results, and the schema every report satisfies."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict

from mm_orch.benchmark.latency import LatencyResult
from mm_orch.benchmark.memory import InferenceMemoryResult, LoadMemoryResult
from mm_orch.benchmark.metrics import batch_efficiency
from mm_orch.benchmark.throughput import ThroughputResult

SCHEMA_VERSION = "1.0"


class ReportSchema(BaseModel):
    """Required top-level keys (more are allowed); used to check reports read back from disk."""

    model_config = ConfigDict(extra="allow")
    schema_version: str
    model_name: str
    engine: str
    timestamp: str
    system_info: dict[str, Any] | None
    config: dict[str, Any]
    latency: dict[str, Any] | None
    memory: dict[str, Any] | None
    throughput: dict[str, Any] | None
    validation: dict[str, Any] | None


def latency_section(headline: LatencyResult | None, scenarios: list[tuple[Any, LatencyResult]] = ()
                    ) -> dict[str, Any] | None:
    if headline is None and not scenarios:
        return None
    out: dict[str, Any] = {}
    if headline is not None:
        m = headline.metrics
        out |= {
            "ttft_ms": headline.ttft_ms, "tpot_ms": headline.tpot_ms,
            "tokens_per_second": headline.tokens_per_second, "e2e_latency_ms": headline.e2e_latency_ms,
            "output_length": headline.output_length, "fixed_output_length": headline.fixed_output_length,
            "requests": m.completed, "failed": m.failed, "errors": m.errors,
            "distributions": {k: getattr(m, k).model_dump() if getattr(m, k) else None
                              for k in ("ttft_ms", "tpot_ms", "e2e_latency_ms", "itl_ms",
                                        "request_tokens_per_second")},
            "itl_histogram": m.itl_histogram.model_dump() if m.itl_histogram else None,
        }
    out["scenarios"] = [
        {"name": s.name, "input_length": s.input_length, "output_length": s.output_length,
         "ttft_ms": r.ttft_ms, "tpot_ms": r.tpot_ms, "e2e_latency_ms": r.e2e_latency_ms,
         "tokens_per_second": r.tokens_per_second, "failed": r.metrics.failed,
         "completed": r.metrics.completed, "errors": r.metrics.errors,
         "distributions": {k: getattr(r.metrics, k).model_dump() if getattr(r.metrics, k) else None
                           for k in ("ttft_ms", "tpot_ms", "e2e_latency_ms", "itl_ms")},
         "itl_histogram": r.metrics.itl_histogram.model_dump() if r.metrics.itl_histogram else None}
        for s, r in scenarios
    ]
    return out


def memory_section(load: LoadMemoryResult | None, inference: InferenceMemoryResult | None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
    if load is None and inference is None:
        return None
    missing = {}
    if inference is None:
        missing |= {"inference_delta_gb": "inference memory not measured", "peak_gb": "not measured"}
    if load is not None and load.memory_gb is None:
        missing["model_load_gb"] = load.note
    if inference is not None and inference.kv_cache_gb is None:
        missing["kv_cache_gb"] = "engine does not report the KV layout of this model"
    out = {
        "model_load_gb": load.memory_gb if load else None,
        "inference_delta_gb": inference.memory_delta_gb if inference else None,
        "peak_gb": inference.peak_memory_gb if inference else None,
        "kv_cache_gb": inference.kv_cache_gb if inference else None,
        "unit": "GiB (2**30 bytes)",
        "load": load.model_dump() if load else None,
        "inference": inference.model_dump() if inference else None,
        "missing": missing,
    }
    return out | (extra or {})


def throughput_section(results: list[ThroughputResult]) -> dict[str, Any] | None:
    if not results:
        return None
    out: dict[str, Any] = {}
    batch_tps = {r.level: r.tokens_per_second for r in results if r.mode == "batch"}
    for r in results:
        if r.mode == "single":
            out |= {"single_request_tps": r.tokens_per_second, "single_request_rps": r.requests_per_second}
        elif r.mode == "concurrent":
            out |= {f"concurrent_{r.level}_rps": r.requests_per_second,
                    f"concurrent_{r.level}_tps": r.tokens_per_second}
            if r.serialized:
                out[f"concurrent_{r.level}_serialized"] = True
        else:
            out |= {f"batch_{r.level}_tps": r.tokens_per_second,
                    f"batch_{r.level}_total_tps": r.total_tokens_per_second,
                    f"batch_{r.level}_efficiency": batch_efficiency(r.tokens_per_second, r.level,
                                                                    batch_tps.get(1))}
    out["tokens_per_request"] = results[0].tokens_per_request
    out["details"] = [r.model_dump() for r in results]
    return out


def failed_phases(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every phase with failed requests: {phase, failed, completed, error (the first distinct one)}."""
    lat = report.get("latency") or {}
    parts = [("latency", lat.get("failed"), lat.get("requests"), lat.get("errors"))] if "failed" in lat else []
    parts += [(f"latency {s['name']}", s.get("failed"), s.get("completed"), s.get("errors"))
              for s in lat.get("scenarios") or []]
    parts += [(f"throughput {d['mode']} {d['level']}", d["metrics"]["failed"], d["metrics"]["completed"],
               d["metrics"]["errors"]) for d in (report.get("throughput") or {}).get("details") or []]
    return [{"phase": name, "failed": failed, "completed": done or 0, "error": (errors or [None])[0]}
            for name, failed, done, errors in parts if failed]


def assemble_report(model_name: str, engine: str, *, latency: dict | None, memory: dict | None,
                    throughput: dict | None, config: dict | None = None,
                    system_info: dict | None = None, model_info: dict | None = None,
                    validation: dict | None = None, extra: dict | None = None) -> dict[str, Any]:
    report = {
        "schema_version": SCHEMA_VERSION,
        "model_name": model_name,
        "engine": engine,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "system_info": system_info,
        "config": config or {},
        "model_info": model_info,
        "latency": latency,
        "memory": memory,
        "throughput": throughput,
        "validation": validation,
    }
    return report | (extra or {})
