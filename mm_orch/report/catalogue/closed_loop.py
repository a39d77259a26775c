"""The closed-loop sections' metrics (latency, memory, throughput), in the order the catalogue lists them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mm_orch.report.catalogue.metric import Metric, Slot

if TYPE_CHECKING:
    from mm_orch.report.model import Report

# the functions that compute them, as dotted names (the report imports no producer)
_MEMORYBENCHMARK_MEASURE_INFERENCE = "mm_orch.benchmark.memory:MemoryBenchmark.measure_inference"
_MEMORYBENCHMARK_MEASURE_LOAD = "mm_orch.benchmark.memory:MemoryBenchmark.measure_load"
_KV_CACHE_GB = "mm_orch.benchmark.memory:kv_cache_gb"
_BATCH_EFFICIENCY = "mm_orch.report.metrics:batch_efficiency"
_E2E_MS = "mm_orch.report.metrics:e2e_ms"
_ITL_MS = "mm_orch.report.metrics:itl_ms"
_REQUEST_TOKENS_PER_SECOND = "mm_orch.report.metrics:request_tokens_per_second"
_SUMMARIZE = "mm_orch.report.metrics:summarize"
_TPOT_MS = "mm_orch.report.metrics:tpot_ms"
_TTFT_MS = "mm_orch.report.metrics:ttft_ms"



def _headline(dist: str, stat: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        if r.latency is not None:
            yield metric.slot(r, getattr(r.latency.distributions, dist), stat)
    return slots


def _scenario(dist: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        for s in r.latency.scenarios if r.latency is not None else []:
            yield metric.slot(r, getattr(s.distributions, dist), "mean", scenario=s.name)
    return slots


def _memory(figure: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        if r.memory is not None:
            yield metric.slot(r, getattr(r.memory, figure), "value_gb")
    return slots


def _points(mode: str, field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        for p in r.throughput.points if r.throughput is not None else []:
            if p.mode == mode:
                yield metric.slot(r, p, field, level=p.level)
    return slots


_LAT = (("ttft_ms", "TTFT", _TTFT_MS, "first token arrival - request start"),
        ("tpot_ms", "TPOT", _TPOT_MS, "(E2E - TTFT) / (output tokens - 1); null for one token"),
        ("e2e_latency_ms", "E2E latency", _E2E_MS, "last token arrival - request start"),
        ("itl_ms", "ITL", _ITL_MS, "gap between consecutive token arrivals"))


_PER_REQ_TPS = "mean over requests of output tokens / that request's E2E (one stream's speed as it sees it)"


def _latency_metrics() -> list[Metric]:
    out = [Metric(f"latency.{k}", f"{label} (mean, test prompts)", "ms", "lower", f"mean of {d}", fn,
                  _headline(k, "mean"), "latency", summary=True) for k, label, fn, d in _LAT[:3]]
    out.append(Metric("latency.tokens_per_second", "per-request tokens/s (mean of output / own E2E)", "tokens/s",
                      "higher", _PER_REQ_TPS, _REQUEST_TOKENS_PER_SECOND,
                      _headline("request_tokens_per_second", "mean"), "latency", summary=True))
    for k, label, fn, d in _LAT:
        for stat in ("median", "p95"):
            out.append(Metric(f"latency.distributions.{k}.{stat}", f"{label} {stat}", "ms", "lower",
                              f"{stat} of {d}", fn, _headline(k, stat), "latency"))
    for k, label, fn, d in _LAT[:3]:
        out.append(Metric(f"latency.scenarios.{{scenario}}.{k}", f"{label} (mean, {{scenario}})", "ms", "lower",
                          f"mean of {d}, one synthetic scenario", fn, _scenario(k), "latency"))
    out.append(Metric("latency.scenarios.{scenario}.tokens_per_second", "per-request tokens/s ({scenario})",
                      "tokens/s", "higher", _PER_REQ_TPS, _REQUEST_TOKENS_PER_SECOND,
                      _scenario("request_tokens_per_second"), "latency"))
    return out


def _memory_metrics() -> list[Metric]:
    rows = (("model_load", "model load memory", "growth of the process (RSS) or allocator across loading",
             _MEMORYBENCHMARK_MEASURE_LOAD),
            ("inference_delta", "inference memory delta", "peak during one request - reading before it",
             _MEMORYBENCHMARK_MEASURE_INFERENCE),
            ("peak", "peak memory", "peak during one request (allocator peak on CUDA, 5 ms RSS samples on CPU)",
             _MEMORYBENCHMARK_MEASURE_INFERENCE),
            ("kv_cache", "KV cache (measured request)",
             "2 x layers x kv_heads x head_dim x dtype bytes x tokens, from the model config", _KV_CACHE_GB))
    return [Metric(f"memory.{k}_gb", label, "GiB", "lower", d, fn, _memory(k), "memory", summary=True,
                   first_run_only=True) for k, label, d, fn in rows]


def _throughput_metrics() -> list[Metric]:
    t = "throughput"
    return [
        Metric("throughput.single_request_tps", "single-stream output tokens/s (tokens / wall s)", "tokens/s",
               "higher", "sum(output tokens) / wall time, one request at a time back to back", _SUMMARIZE,
               _points("single", "output_tokens_per_second"), t, summary=True),
        Metric("throughput.single_request_rps", "single-stream requests/s", "req/s", "higher",
               "completed requests / wall time, one at a time", _SUMMARIZE,
               _points("single", "requests_per_second"), t),
        Metric("throughput.concurrent_{level}_rps", "{level} concurrent: requests/s", "req/s", "higher",
               "completed / wall time with N closed-loop clients", _SUMMARIZE,
               _points("concurrent", "requests_per_second"), t, summary=True),
        Metric("throughput.concurrent_{level}_tps", "{level} concurrent: output tokens/s", "tokens/s", "higher",
               "output tokens / wall time with N closed-loop clients", _SUMMARIZE,
               _points("concurrent", "output_tokens_per_second"), t),
        Metric("throughput.batch_{level}_tps", "batch {level}: output tokens/s", "tokens/s", "higher",
               "output tokens / wall time, batches of N through generate()", _SUMMARIZE,
               _points("batch", "output_tokens_per_second"), t, summary=True),
        Metric("throughput.batch_{level}_total_tps", "batch {level}: total tokens/s", "tokens/s", "higher",
               "(input + output tokens) / wall time, batches of N", _SUMMARIZE,
               _points("batch", "total_tokens_per_second"), t),
        Metric("throughput.batch_{level}_efficiency", "batch {level}: efficiency", "ratio", "higher",
               "tokens/s at batch N / (N x batch-1 tokens/s, or single-stream's without batch 1)", _BATCH_EFFICIENCY,
               _points("batch", "batch_efficiency"), t),
    ]


LATENCY: list[Metric] = _latency_metrics()
MEMORY: list[Metric] = _memory_metrics()
THROUGHPUT: list[Metric] = _throughput_metrics()
