"""The max rate at SLO (--request-rate max-slo): load/slo_search.py's search driven by probes of the real load test.

1. Bracket: unless benchmark.load.slo_search gives both lo_rps and hi_rps, a burst (every request due at once,
   the configured max_concurrency and num_requests) measures the engine's maximum; the search then starts at
   sweep_low_fraction x that maximum and probes 1.2 x it second (no SLO holds above capacity).
2. Each probe is one open-loop run through run_load at an exact rate (the configured arrivals and burstiness,
   the drawn gaps stretched so the schedule's rate is the probe's): (1 + warmup_fraction) x its length, the first
   warmup_fraction trimmed as the queue fills (the steady window); at half time a QueueWatch stops a probe whose
   queue grows without bound (over capacity: a failure whatever its shares), and a probe that ran to its end
   is checked for the same growth afterwards.
3. Each counted request is judged against every SLO objective: TTFT and E2E from its due time (what a user
   waits, queueing included), TPOT as measured; a failed request meets none.
The answer, its confidence interval and every probe are the report's `max_rate_at_slo` section; the burst (or,
without one, the last probe) is its `load`.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.errors import ConfigError, EngineError
from mm_orch.load.queue_watch import QueueWatch
from mm_orch.load.slo_search import headline, outcome_from_samples, queue_growing, search_max_rate
from mm_orch.load.steady import split
from mm_orch.report.max_rate import MaxRateAtSloResult, ProbeOutcome
from mm_orch.report.metrics import tpot_ms
from mm_orch.settings.open_loop import SteadySettings
from mm_orch.settings.slo import SLO

if TYPE_CHECKING:
    from mm_orch.engines.base import Engine
    from mm_orch.load.results import LoadRecord
    from mm_orch.report.load import LoadResult

log = logging.getLogger(__name__)
HI_FACTOR = 1.2  # the second probe: this x the burst's maximum


def samples(recs: Sequence[LoadRecord]) -> dict[str, list[float]]:
    """Per-request values in arrival order, ms: TTFT and E2E from the due time, TPOT (NaN: undefined, one output
    token, which cannot miss a TPOT objective); a failed request is +inf everywhere (it meets no limit)."""
    out: dict[str, list[float]] = {"ttft_ms": [], "tpot_ms": [], "e2e_ms": []}
    for r in sorted(recs, key=lambda r: (r.due_ns, r.index)):
        rec = r.record
        if not rec.success or not rec.token_times_ns:
            for v in out.values():
                v.append(math.inf)
            continue
        out["ttft_ms"].append((rec.token_times_ns[0] - r.due_ns) / 1e6)
        out["e2e_ms"].append((rec.token_times_ns[-1] - r.due_ns) / 1e6)
        tpot = tpot_ms(rec)
        out["tpot_ms"].append(math.nan if tpot is None else tpot)
    return out


class _Prober:
    """probe(rate, duration_s) -> ProbeOutcome on the real load test; keeps what the section reports."""

    def __init__(self, engine: Engine, settings: Any, prompts: Sequence[Any], progress: Progress, ignore_eos: bool,
                 slo: SLO, calibration: Any, request_log: Any) -> None:
        self.engine, self.prompts, self.progress, self.ignore_eos = engine, prompts, progress, ignore_eos
        self.slo, self.calibration, self.request_log = slo.objectives(), calibration, request_log
        self.percentile = settings.slo_percentile
        self.search = settings.slo_search
        self.base = settings.model_copy(update={"max_rate_at_slo": False, "exact_rate": True})
        self.calls = itertools.count()
        self.last: LoadResult | None = None
        self.tokens = self.completed = 0
        self.stopped = 0

    def __call__(self, rate: float, duration_s: float) -> ProbeOutcome:
        from mm_orch.load.dispatch import run_load

        i = next(self.calls)
        wf = self.search.warmup_fraction
        total = duration_s * (1 + wf)
        n = max(2, round(rate * total) + 1)  # n - 1 gaps of exactly 1 / rate span the probe
        cfg = self.base.model_copy(update={
            "request_rate": rate, "num_requests": n, "duration_seconds": None, "seed": self.base.seed + i,
            "warmup_requests": self.base.warmup_requests if i == 0 else 0,
            "steady": SteadySettings(start_seconds=duration_s * wf)})
        watch = QueueWatch(round((n - 1) / rate * 1e9), enabled=self.search.early_stop)
        recs: list[LoadRecord] = []
        load = run_load(self.engine, cfg, self.prompts, self.progress, self.ignore_eos, self.calibration, keep=recs,
                        watch=watch, phase=f"probe {i + 1}: {rate:.4g} req/s", request_log=self.request_log)
        self.last = load
        counted, _ = split(recs, cfg.steady)
        growing = watch.growing or self._grew(counted)
        stopped = watch.stopped_at_ns is not None
        self.stopped += stopped
        m = load.metrics
        self.tokens += m.output_tokens
        self.completed += m.completed
        ran_s = (watch.stopped_at_ns / 1e9 - duration_s * wf) if stopped else duration_s
        note = load.stopped_early or ("its queue grew without bound (checked after the run)" if growing else None)
        out = outcome_from_samples(
            rate, max(0.0, ran_s), samples(counted), self.slo, self.percentile, growing=growing,
            stopped_early=stopped, sent_rate=load.schedule_rate_rps, achieved_rps=load.throughput_rps,
            output_tokens_per_second=m.output_tokens_per_second, failed=m.failed, note=note)
        out.values = {k: v for k, v in out.values.items() if math.isfinite(v)}  # failed requests are +inf
        return out

    @staticmethod
    def _grew(recs: Sequence[LoadRecord]) -> bool:
        """The first half of a probe that ran to its end: did its wait already grow without bound?"""
        order = sorted(recs, key=lambda r: r.due_ns)
        if len(order) < 2:
            return False
        first, half = order[0].due_ns, (order[0].due_ns + order[-1].due_ns) / 2
        done = [r for r in order if r.due_ns <= half and r.record.end_ns]
        return queue_growing([(r.due_ns - first) / 1e9 for r in done],
                             [(r.record.end_ns - r.due_ns) / 1e9 for r in done])


def run_max_rate(engine: Engine, settings: Any, prompts: Sequence[Any], progress: Progress | None = None,
                 ignore_eos: bool = True, slo: SLO | None = None, calibration: Any = None,
                 request_log: Any = None) -> tuple[LoadResult, MaxRateAtSloResult]:
    """The burst (unless lo_rps and hi_rps are given), then the search; (the load section, the search section)."""
    from mm_orch.load.dispatch import run_load

    if slo is None:
        raise ConfigError("--request-rate max-slo needs an SLO: add --slo ttft_ms=... (and/or tpot_ms, e2e_ms)")
    progress = progress or NullProgress()
    s = settings.slo_search
    lo, hi, burst, top = s.lo_rps, s.hi_rps, None, None
    if lo is None or hi is None:
        if settings.num_requests is None:
            raise ConfigError("--request-rate max-slo needs benchmark.load.num_requests (the burst's size) or both "
                              "benchmark.load.slo_search.lo_rps and hi_rps")
        burst = run_load(engine, settings.model_copy(update={
            "request_rate": float("inf"), "max_rate_at_slo": False, "steady": SteadySettings()}), prompts, progress,
            ignore_eos, calibration, slo=slo, phase="max-slo burst", request_log=request_log)
        top = burst.throughput_rps
        if not top or not burst.metrics.completed:
            raise EngineError(engine.name, f"the burst completed no request ({burst.metrics.failed} failed: "
                              f"{'; '.join(burst.metrics.errors[:2])})")
        lo = lo if lo is not None else settings.sweep_low_fraction * top
        hi = hi if hi is not None else max(HI_FACTOR * top, 1.5 * lo)
        log.info("max-slo: burst maximum %.4g req/s; searching from %.4g to %.4g req/s", top, lo, hi)
    prober = _Prober(engine, settings, prompts, progress, ignore_eos, slo, calibration, request_log)
    res = search_max_rate(prober, slo.objectives(), settings.slo_percentile, lo=lo, hi=hi,
                          rel_precision=s.rel_precision, target_ci=s.target_ci, max_probes=s.max_probes,
                          confidence=s.confidence, min_duration_s=s.min_probe_seconds,
                          max_duration_s=s.max_probe_seconds)
    load = burst or prober.last
    arrivals = (f"gamma burstiness {settings.burstiness:g}" if settings.arrivals == "gamma" else "constant") + (
        ", exact rate")
    per_request = prober.tokens / prober.completed if prober.completed else None
    section = MaxRateAtSloResult(
        **res.model_dump(), engine=engine.name, mode=load.mode, max_concurrency=settings.max_concurrency,
        output_length=settings.output_length, arrivals=arrivals, headline=headline(res), burst_rps=top,
        warmup_fraction=s.warmup_fraction, early_stop=s.early_stop, stopped_early=prober.stopped,
        output_tokens_per_second=res.rate * per_request if res.rate is not None and per_request else None,
        requests=sum(p.n for p in res.probes))
    return load, section
