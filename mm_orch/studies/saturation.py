"""Saturation (--request-rate sweep): the engine's latency-vs-throughput curve, with its knee.

1. A burst (request_rate inf: every request due at once, the configured max_concurrency applying) finds the
   most requests/s the engine completes: the maximum.
2. One open-loop run (the configured arrivals, seed and num_requests/duration) at each of sweep_points rates,
   evenly spaced from sweep_low_fraction x maximum up to the maximum. The drawn gaps are stretched so each
   schedule's rate is exactly the one asked for (ScheduleSpec.exact_rate): 100 Poisson gaps can miss their
   mean by 15 %, and the same seed at every rate would shift the whole curve.
3. The knee (KNEE_RULE): the highest rate whose tail TTFT from arrival stays within knee_ttft_factor x the
   lowest rate's, every rate below it staying within too. TTFT from arrival (first token - due time) is what
   a user sees: it includes any queueing, in the server or in the client (a serialized engine, a capped
   client), where TTFT from send would hide the client's queue. The tail is p99 when every rate measured at
   least 100 requests, else the highest percentile the report defines for the fewest requests measured
   (p95 from 20, p90 from 10, else the maximum): metrics.py leaves p99 of fewer than 100 samples undefined.

Everything goes through run_load and the Engine contract: any engine the load test runs (openai, vllm, hf,
dual) gets a curve. The burst's full LoadResult is the report's `load` section; the curve is `saturation`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.benchmark import catalogue
from mm_orch.benchmark.goodput import GoodputResult, goodput
from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.benchmark.slo import SLO
from mm_orch.engines.base import Engine
from mm_orch.errors import ConfigError

if TYPE_CHECKING:  # load.py imports the catalogue, which imports this module: no import of load here
    from mm_orch.benchmark.load import LoadRecord, LoadResult
    from mm_orch.benchmark.schema import Report

log = logging.getLogger(__name__)

KNEE_RULE = ("the highest rate whose tail TTFT from arrival stays within knee_ttft_factor x the lowest rate's "
             "tail TTFT from arrival, every lower rate staying within too")


class SaturationPoint(BaseModel):
    """One run of the curve: requested vs achieved rate, throughput and latency. Times in ms."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["burst", "rate"] = Field(description="burst: every request due at once (finds the maximum); "
                                           "rate: an open-loop run at requested_rate_rps.")
    requested_rate_rps: float | None = Field(description="The rate asked for; None for the burst (infinite).")
    schedule_rate_rps: float | None = Field(description="The rate of the drawn schedule (first to last due): a "
                                            "short random schedule differs from its mean rate.")
    achieved_rps: float | None = Field(description="Completed requests / (first due to last token).")
    send_rate_rps: float | None = Field(description="Requests sent / (last send - first send).")
    output_tokens_per_second: float | None = Field(description="Output tokens / (first due to last token).")
    ttft_p50_ms: float | None = Field(description="Median TTFT from arrival (first token - due time).")
    ttft_p99_ms: float | None = Field(description="p99 TTFT from arrival (None below 100 requests).")
    ttft_tail_ms: float | None = Field(description="TTFT from arrival at the result's tail_statistic: the knee's "
                                       "yardstick.")
    ttft_sent_p50_ms: float | None = Field(description="Median TTFT from send (server + network time).")
    ttft_sent_tail_ms: float | None = Field(description="TTFT from send at the result's tail_statistic.")
    tpot_p50_ms: float | None = Field(description="Median TPOT: (E2E - TTFT) / (output tokens - 1).")
    tpot_p99_ms: float | None = Field(description="p99 TPOT (None below 100 requests).")
    tpot_tail_ms: float | None = Field(description="TPOT at the result's tail_statistic.")
    e2e_p50_ms: float | None = Field(description="Median E2E latency from arrival (last token - due time).")
    e2e_tail_ms: float | None = Field(description="E2E latency from arrival at the result's tail_statistic.")
    schedule_lag_tail_ms: float | None = Field(description="How late the client sent requests (its own "
                                              "lateness: a large value means the client, not the engine, limited).")
    peak_in_flight: int = Field(description="Most requests in flight at once.")
    requests: int = Field(description="Requests measured at this rate.")
    failed: int = Field(description="Requests that failed.")
    goodput: GoodputResult | None = Field(None, description="Requests meeting every SLO (TTFT/E2E counted from "
                                          "arrival), when SLOs are set.")


class SaturationResult(BaseModel):
    """The `saturation` report section (Report.saturation): the latency-vs-throughput curve and its knee."""

    model_config = ConfigDict(extra="forbid")
    engine: str
    mode: str = Field(description="How the load runner drove the engine (async_http, threads, serialized).")
    max_concurrency: int | None = Field(description="The client's cap on requests in flight (None = no cap).")
    output_length: int = Field(description="Output tokens per request.")
    max_throughput_rps: float | None = Field(description="The burst's completed requests/s: the maximum.")
    max_output_tokens_per_second: float | None = Field(description="The burst's output tokens/s.")
    low_rate_rps: float = Field(description="The lowest rate measured (sweep_low_fraction x the maximum).")
    knee_rule: str = Field(description="How the knee is chosen, in words.")
    tail_statistic: Literal["p99", "p95", "p90", "max"] = Field(description="The tail percentile of the *_tail_ms "
                                                                "fields: p99 when every rate measured 100 requests "
                                                                "or more, else p95 (20+), p90 (10+), max.")
    knee_ttft_factor: float = Field(description="The factor of the knee rule.")
    knee_index: int | None = Field(description="Index into points of the knee; None when no rate had a TTFT.")
    knee_rps: float | None = Field(description="Achieved requests/s at the knee.")
    knee_output_tokens_per_second: float | None = Field(description="Achieved output tokens/s at the knee.")
    knee_ttft_tail_ms: float | None = Field(description="Tail TTFT from arrival at the knee (tail_statistic).")
    knee_note: str = Field(description="What the knee means for this curve, in words.")
    burst: SaturationPoint = Field(description="The burst run that found the maximum.")
    points: list[SaturationPoint] = Field(description="The open-loop runs, lowest rate first.")


def rates(max_rps: float, n: int, low_fraction: float) -> list[float]:
    """n rates evenly spaced from low_fraction x max_rps up to max_rps, increasing."""
    low = low_fraction * max_rps
    return [low + (max_rps - low) * i / (n - 1) for i in range(n)]


def tail_statistic(counts: Sequence[int]) -> str:
    """The highest percentile defined (metrics.PERCENTILE_MIN_COUNT) for the smallest sample of the curve."""
    from mm_orch.benchmark.metrics import PERCENTILE_MIN_COUNT

    fewest = min(counts, default=0)
    return next((p for p in ("p99", "p95", "p90") if fewest >= PERCENTILE_MIN_COUNT[p]), "max")


def find_knee(ttft_tail: Sequence[float | None], factor: float) -> int | None:
    """KNEE_RULE over the points' tail TTFT from arrival (lowest rate first); None if the lowest has none.
    A point without a TTFT (every request failed) ends the run of good points."""
    if not ttft_tail or ttft_tail[0] is None:
        return None
    bound, knee = factor * ttft_tail[0], 0
    for i, v in enumerate(ttft_tail):
        if v is None or v > bound:
            break
        knee = i
    return knee


def _stat(d: Any, stat: str) -> float | None:
    return getattr(d, stat) if d is not None else None


def _from_arrival(recs: Sequence[LoadRecord]) -> list:
    """The records with their start moved to the due time, so goodput's TTFT/E2E count from arrival."""
    return [dataclasses.replace(r.record, start_ns=r.due_ns) for r in recs]


def point(kind: str, load: LoadResult, recs: Sequence[LoadRecord], slo: SLO | None, tail: str) -> SaturationPoint:
    m = load.metrics
    return SaturationPoint(
        kind=kind, requested_rate_rps=load.requested_rate_rps, schedule_rate_rps=load.schedule_rate_rps,
        achieved_rps=load.throughput_rps,
        send_rate_rps=load.achieved_send_rate_rps, output_tokens_per_second=m.output_tokens_per_second,
        ttft_p50_ms=_stat(load.ttft_from_arrival_ms, "median"), ttft_p99_ms=_stat(load.ttft_from_arrival_ms, "p99"),
        ttft_tail_ms=_stat(load.ttft_from_arrival_ms, tail), tpot_tail_ms=_stat(m.tpot_ms, tail),
        ttft_sent_p50_ms=_stat(m.ttft_ms, "median"), ttft_sent_tail_ms=_stat(m.ttft_ms, tail),
        tpot_p50_ms=_stat(m.tpot_ms, "median"), tpot_p99_ms=_stat(m.tpot_ms, "p99"),
        e2e_p50_ms=_stat(load.e2e_from_arrival_ms, "median"), e2e_tail_ms=_stat(load.e2e_from_arrival_ms, tail),
        schedule_lag_tail_ms=_stat(load.schedule_lag_ms, tail), peak_in_flight=load.peak_in_flight,
        requests=m.completed + m.failed, failed=m.failed,
        goodput=goodput(_from_arrival(recs), m.wall_time_s, slo) if slo else None)


def _knee_note(points: list[SaturationPoint], knee: int | None, factor: float) -> str:
    if knee is None:
        return "no knee: the lowest rate had no successful request"
    if knee == len(points) - 1:
        return (f"tail TTFT stayed within {factor:g}x the lowest rate's at every rate: the knee is at (or beyond) "
                "the highest rate measured")
    nxt = points[knee + 1]
    got = "no TTFT" if nxt.ttft_tail_ms is None else f"{nxt.ttft_tail_ms:.1f} ms"
    return (f"above {points[knee].requested_rate_rps:.3g} req/s requested, tail TTFT from arrival passes "
            f"{factor:g}x the lowest rate's ({got} at {nxt.requested_rate_rps:.3g} req/s)")


def run_saturation(engine: Engine, settings: Any, prompts: Sequence[str], progress: Progress | None = None,
                   ignore_eos: bool = True, slo: SLO | None = None) -> tuple[LoadResult, SaturationResult]:
    """The burst, then the open-loop rates; (the burst's LoadResult, the curve). settings: config.LoadSettings."""
    from mm_orch.benchmark.load_runner import run_load

    progress = progress or NullProgress()
    if settings.num_requests is None:
        raise ConfigError("--request-rate sweep needs benchmark.load.num_requests (the burst's size)")
    base = settings.model_copy(update={"saturation": False, "exact_rate": True})
    burst_recs: list[LoadRecord] = []
    burst_load = run_load(engine, base.model_copy(update={"request_rate": float("inf")}), prompts, progress,
                          ignore_eos, keep=burst_recs)
    top = burst_load.throughput_rps
    if not top or not burst_load.metrics.completed:
        from mm_orch.errors import EngineError

        raise EngineError(engine.name, f"the saturation burst completed no request ({burst_load.metrics.failed} "
                          f"failed: {'; '.join(burst_load.metrics.errors[:2])})")
    log.info("saturation: maximum %.3g req/s; measuring %d rates", top, settings.sweep_points)
    runs = []
    for r in rates(top, settings.sweep_points, settings.sweep_low_fraction):
        recs: list[LoadRecord] = []
        runs.append((run_load(engine, base.model_copy(update={"request_rate": r}), prompts, progress, ignore_eos,
                              keep=recs), recs))
    tail = tail_statistic([load.metrics.completed for load, _ in runs])
    burst = point("burst", burst_load, burst_recs, slo, tail)
    points = [point("rate", load, recs, slo, tail) for load, recs in runs]
    knee = find_knee([p.ttft_tail_ms for p in points], settings.knee_ttft_factor)
    k = points[knee] if knee is not None else None
    return burst_load, SaturationResult(
        engine=engine.name, mode=burst_load.mode, max_concurrency=settings.max_concurrency,
        output_length=settings.output_length, max_throughput_rps=top,
        max_output_tokens_per_second=burst.output_tokens_per_second, low_rate_rps=points[0].requested_rate_rps,
        knee_rule=KNEE_RULE, tail_statistic=tail, knee_ttft_factor=settings.knee_ttft_factor, knee_index=knee,
        knee_rps=k.achieved_rps if k else None, knee_output_tokens_per_second=k.output_tokens_per_second if k else None,
        knee_ttft_tail_ms=k.ttft_tail_ms if k else None, knee_note=_knee_note(points, knee, settings.knee_ttft_factor),
        burst=burst, points=points)


# -- the section's metrics in the catalogue ---------------------------------------------------------
def _field(name: str):
    def slots(r: Report, metric: catalogue.Metric) -> Iterator[catalogue.Slot]:
        if r.saturation is not None:
            yield metric.slot(r, r.saturation, name)
    return slots


def _metrics() -> list[catalogue.Metric]:
    M, sec = catalogue.Metric, "saturation"
    return [
        M("saturation.max_throughput_rps", "saturation: maximum requests/s", "req/s", "higher",
          "completed requests / wall time of a burst (every request due at once)", run_saturation,
          _field("max_throughput_rps"), sec, summary=True),
        M("saturation.max_output_tokens_per_second", "saturation: maximum output tokens/s", "tokens/s", "higher",
          "output tokens / wall time of the burst", run_saturation, _field("max_output_tokens_per_second"), sec),
        M("saturation.knee_rps", "saturation: requests/s at the knee", "req/s", "higher",
          "achieved requests/s at the knee (highest rate with tail TTFT from arrival within k x the lowest rate's)",
          find_knee, _field("knee_rps"), sec, summary=True),
        M("saturation.knee_output_tokens_per_second", "saturation: output tokens/s at the knee", "tokens/s",
          "higher", "achieved output tokens/s at the knee", find_knee, _field("knee_output_tokens_per_second"), sec),
        M("saturation.knee_ttft_tail_ms", "saturation: tail TTFT at the knee", "ms", "lower",
          "tail_statistic (p99 from 100 requests a rate) of first token arrival - due time at the knee's rate",
          find_knee, _field("knee_ttft_tail_ms"), sec),
    ]


catalogue.register_metrics(*_metrics())
