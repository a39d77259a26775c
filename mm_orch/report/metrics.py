"""Every metric, derived from raw request timestamps by pure functions (definitions in README.md).

TTFT = first token arrival - request start          E2E = last token arrival - request start
TPOT = (E2E - TTFT) / (output_tokens - 1)            ITL = gaps between consecutive token arrivals
output tokens/s = sum(output) / wall                 total tokens/s = (sum(input) + sum(output)) / wall
requests/s = completed / wall                        batch efficiency(N) = tps(N) / (N * tps(1 or single))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the per-request record engines return; only its fields are read here
    from mm_orch.engines.base import RequestRecord


NS_PER_MS = 1e6


# A percentile q is reported only from at least 1 / (1 - q) samples (p90: 10, p95: 20, p99: 100); from
# fewer it would just be the maximum under another name.
PERCENTILE_MIN_COUNT = {"p90": 10, "p95": 20, "p99": 100}


class Distribution(BaseModel):
    """Summary of a sample; produced only for non-empty samples (no data is None, never 0)."""

    model_config = ConfigDict(extra="forbid")
    mean: float = Field(description="Arithmetic mean.")
    median: float = Field(description="50th percentile (linear interpolation).")
    p90: float | None = Field(description="90th percentile; null with fewer than 10 samples.")
    p95: float | None = Field(description="95th percentile; null with fewer than 20 samples.")
    p99: float | None = Field(description="99th percentile; null with fewer than 100 samples.")
    min: float = Field(description="Smallest value.")
    max: float = Field(description="Largest value.")
    std: float = Field(description="Population standard deviation.")
    count: int = Field(ge=1, description="Number of samples summarised.")


def distribution(values: Iterable[float | None]) -> Distribution | None:
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if x.size == 0:
        return None
    p50, p90, p95, p99 = (float(v) for v in np.percentile(x, [50, 90, 95, 99]))
    pct = {k: v if x.size >= PERCENTILE_MIN_COUNT[k] else None for k, v in (("p90", p90), ("p95", p95), ("p99", p99))}
    return Distribution(mean=float(x.mean()), median=p50, min=float(x.min()), max=float(x.max()),
                        std=float(x.std()), count=int(x.size), **pct)


class Histogram(BaseModel):
    """Counts of a sample in log-spaced bins (latencies span orders of magnitude under contention)."""

    model_config = ConfigDict(extra="forbid")
    edges: list[float] = Field(description="bins + 1 ascending bin edges, same unit as the sample")
    counts: list[int] = Field(description="Samples in each bin.")


def histogram(values: Iterable[float | None], bins: int = 30) -> Histogram | None:
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if x.size == 0:
        return None
    lo, hi = float(x.min()), float(x.max())
    if lo > 0 and hi > lo:
        edges = np.geomspace(lo, hi, bins + 1)
    else:  # a zero gap (tokens arriving together) or a single value: linear bins
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    counts, edges = np.histogram(x, bins=edges)
    return Histogram(edges=[float(e) for e in edges], counts=[int(c) for c in counts])


def ttft_ms(r: RequestRecord) -> float | None:
    return (r.token_times_ns[0] - r.start_ns) / NS_PER_MS if r.success and r.token_times_ns else None


def e2e_ms(r: RequestRecord) -> float | None:
    return (r.token_times_ns[-1] - r.start_ns) / NS_PER_MS if r.success and r.token_times_ns else None


def tpot_ms(r: RequestRecord) -> float | None:
    """vLLM's definition; undefined (None) for fewer than 2 output tokens."""
    if not r.success or r.output_tokens < 2 or not r.token_times_ns:
        return None
    return (r.token_times_ns[-1] - r.token_times_ns[0]) / NS_PER_MS / (r.output_tokens - 1)


def itl_ms(r: RequestRecord) -> list[float]:
    if not r.success:
        return []
    t = np.asarray(r.token_times_ns, dtype=np.int64)
    return (np.diff(t) / NS_PER_MS).tolist()


def request_tokens_per_second(r: RequestRecord) -> float | None:
    """Output tokens over the request's own E2E latency (one request's generation speed)."""
    e2e = e2e_ms(r)
    return r.output_tokens / (e2e / 1e3) if e2e else None


class MetricsSummary(BaseModel):
    """All metrics of a set of requests measured over one wall-clock phase."""

    model_config = ConfigDict(extra="forbid")
    completed: int = Field(description="Requests that succeeded.")
    failed: int = Field(description="Requests that failed (kept as data, not a crash).")
    errors: list[str] = Field(default_factory=list, description="Distinct error messages, at most 5.")
    wall_time_s: float = Field(description="Wall time of the measured phase, seconds.")
    input_tokens: int = Field(description="Prompt tokens of the completed requests.")
    output_tokens: int = Field(description="Output tokens of the completed requests.")
    output_tokens_per_second: float | None = Field(description="sum(output tokens) / wall time.")
    total_tokens_per_second: float | None = Field(description="(sum(input) + sum(output)) / wall time.")
    requests_per_second: float | None = Field(description="Completed requests / wall time.")
    ttft_ms: Distribution | None = Field(description="Time to first token per request, ms.")
    tpot_ms: Distribution | None = Field(description="Time per output token after the first, per request, ms.")
    e2e_latency_ms: Distribution | None = Field(description="Request start to last token, per request, ms.")
    itl_ms: Distribution | None = Field(description="Gaps between consecutive token arrivals, ms.")
    itl_histogram: Histogram | None = Field(None, description="ITL counts in 30 log-spaced bins.")
    request_tokens_per_second: Distribution | None = Field(
        description="Per request: output tokens / its own E2E latency.")
    chunked_token_arrival: bool = Field(
        False, description="Tokens arrived in batches (batched generate), so ITL/TTFT are per step.")


def summarize(records: Sequence[RequestRecord], wall_time_s: float) -> MetricsSummary:
    ok = [r for r in records if r.success]
    failed = [r for r in records if not r.success]
    n_in = sum(r.input_tokens for r in ok)
    n_out = sum(r.output_tokens for r in ok)

    def per_s(v: float) -> float | None:
        return v / wall_time_s if wall_time_s > 0 and ok else None

    return MetricsSummary(
        completed=len(ok), failed=len(failed), errors=sorted({str(r.error) for r in failed})[:5],
        wall_time_s=wall_time_s, input_tokens=n_in, output_tokens=n_out,
        output_tokens_per_second=per_s(n_out), total_tokens_per_second=per_s(n_in + n_out),
        requests_per_second=per_s(len(ok)),
        ttft_ms=distribution(map(ttft_ms, ok)), tpot_ms=distribution(map(tpot_ms, ok)),
        e2e_latency_ms=distribution(map(e2e_ms, ok)),
        itl_ms=distribution(x for r in ok for x in itl_ms(r)),
        itl_histogram=histogram(x for r in ok for x in itl_ms(r)),
        request_tokens_per_second=distribution(map(request_tokens_per_second, ok)),
        chunked_token_arrival=any(r.batched for r in ok),
    )


def batch_efficiency(tps_at_n: float | None, n: int, tps_at_1: float | None) -> float | None:
    if not tps_at_n or not tps_at_1 or n < 1:
        return None
    return tps_at_n / (n * tps_at_1)


def kv_cache_bytes(num_layers: int, num_kv_heads: int, head_dim: int, dtype_bytes: int, tokens: int) -> int:
    """Keys and values of every layer for `tokens` tokens: 2 * layers * kv_heads * head_dim * bytes * tokens."""
    return 2 * num_layers * num_kv_heads * head_dim * dtype_bytes * tokens
