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

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mm_orch.benchmark.goodput import goodput
from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.engines.base import Engine
from mm_orch.errors import ConfigError
from mm_orch.load.queue_watch import QueueWatch
from mm_orch.load.results import from_arrival
from mm_orch.report.saturation import SaturationPoint, SaturationResult
from mm_orch.settings.open_loop import SteadySettings
from mm_orch.settings.slo import SLO

if TYPE_CHECKING:
    from mm_orch.load.results import LoadRecord
    from mm_orch.report.load import LoadResult

log = logging.getLogger(__name__)

KNEE_RULE = ("the highest rate whose tail TTFT from arrival stays within knee_ttft_factor x the lowest rate's "
             "tail TTFT from arrival, every lower rate staying within too")


def rates(max_rps: float, n: int, low_fraction: float) -> list[float]:
    """n rates evenly spaced from low_fraction x max_rps up to max_rps, increasing."""
    low = low_fraction * max_rps
    return [low + (max_rps - low) * i / (n - 1) for i in range(n)]


def tail_statistic(counts: Sequence[int]) -> str:
    """The highest percentile defined (metrics.PERCENTILE_MIN_COUNT) for the smallest sample of the curve."""
    from mm_orch.report.metrics import PERCENTILE_MIN_COUNT

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


def point(kind: str, load: LoadResult, recs: Sequence[LoadRecord], slo: SLO | None, tail: str) -> SaturationPoint:
    """One point of the curve from its run (the steady window's figures; goodput from the run when it had the SLO,
    else from the records)."""
    m = load.metrics
    good = load.goodput
    if good is None and slo is not None:
        good = goodput(from_arrival(recs), m.wall_time_s, slo)
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
        goodput=good, stopped_early=load.stopped_early)


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


def span_ns(settings: Any, rate: float) -> int:
    """The length of an exact-rate schedule at rate (first to last due), for the queue watch."""
    span = (settings.num_requests - 1) / rate if settings.num_requests else settings.duration_seconds
    if settings.duration_seconds is not None:
        span = min(span, settings.duration_seconds)
    return round(span * 1e9)


def run_saturation(engine: Engine, settings: Any, prompts: Sequence[str], progress: Progress | None = None,
                   ignore_eos: bool = True, slo: SLO | None = None, request_log: Any = None
                   ) -> tuple[LoadResult, SaturationResult]:
    """The burst, then the open-loop rates; (the burst's LoadResult, the curve). settings: config.LoadSettings."""
    from mm_orch.load.dispatch import run_load

    progress = progress or NullProgress()
    if settings.num_requests is None:
        raise ConfigError("--request-rate sweep needs benchmark.load.num_requests (the burst's size)")
    base = settings.model_copy(update={"saturation": False, "exact_rate": True})
    burst_recs: list[LoadRecord] = []
    burst_load = run_load(engine, base.model_copy(update={"request_rate": float("inf"), "steady": SteadySettings()}),
                          prompts, progress, ignore_eos, keep=burst_recs, slo=slo, phase="saturation burst",
                          request_log=request_log)
    top = burst_load.throughput_rps
    if not top or not burst_load.metrics.completed:
        from mm_orch.errors import EngineError

        raise EngineError(engine.name, f"the saturation burst completed no request ({burst_load.metrics.failed} "
                          f"failed: {'; '.join(burst_load.metrics.errors[:2])})")
    log.info("saturation: maximum %.3g req/s; measuring %d rates", top, settings.sweep_points)
    runs = []
    for r in rates(top, settings.sweep_points, settings.sweep_low_fraction):
        recs: list[LoadRecord] = []
        watch = QueueWatch(span_ns(base, r))
        runs.append((run_load(engine, base.model_copy(update={"request_rate": r}), prompts, progress, ignore_eos,
                              keep=recs, slo=slo, watch=watch, phase=f"saturation {r:.4g} req/s",
                              request_log=request_log), recs))
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
