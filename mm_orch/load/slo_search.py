"""The highest request rate that meets a latency SLO, with a confidence interval: the number serving teams want.

"p99 TTFT <= 200 ms" is read per request: the SLO holds at a rate when at least 99 % of the requests meet
200 ms (the nearest-rank reading of the percentile). Each probe is then a count of failing requests, which
carries its own uncertainty where a bare p99 value hides it. The search:
1. brackets: probes lo, then doubles the rate until a probe fails (or probes the caller's hi);
2. bisects on the requested rate to rel_precision, repeating a probe whose pooled verdict is unsure at the
   confidence (its interval straddles the percentile), so the rates near the boundary get the most requests;
3. refines: probes 5 % below and above the current estimate until a logistic fit of the fail share against
   the rate, through every probe near the boundary, places the crossing within target_ci.
The answer is that fitted crossing with its interval (or, when too few probes failed to fit, the bisection's
highest passing rate between the rates that confidently passed and failed).

Why not bisection alone: requests in a queue fail in clusters (one slow stretch delays many), so 1000 requests
at p99 carry the evidence of far fewer independent ones; near the boundary a single probe's verdict is a
coin flip, and the last bisection steps are noise. Measured against the capped mock's exact queue, the
requests needed for a +-3 % answer are about 50,000 at p99 and 15,000 at p95 whatever the capacity, and
bisection alone on 1000-request probes missed by up to 9 % (p99) and 25 % (p95) over 20 seeds. Hence:
- every probe lasts long enough for the percentile it judges: ceil(10 / (1 - p/100)) requests (10 tail
  requests; 1000 at p99), times half the clustering seen near its rate (so its failures fall in about five
  independent clusters, not one burst that makes the probe all pass or all fail), up to 20x;
- clustering is measured per probe (effective_n, a regenerative estimate from the pass/fail sequence) and
  pooled over nearby probes;
- the fit's interval takes its dispersion from the probes' scatter (independent probes are the honest
  replicates) or the pooled clustering, whichever is larger, with Student's t.

The probe does the measuring: it runs the given rate for the given time, trims its warm-up, and may stop
early when the queue clearly grows without bound (growing=True; see queue_growing). One growing probe makes
its rate unsure, so it is probed again; a rate fails on growth when at least two of its probes, and most of them,
grew: near capacity a few seconds of a stable queue can drift upward by chance (seen against vLLM on the CPU,
where one such probe below the edge led the bisection astray). This module is pure (no clocks but the
elapsed time, no I/O), so it is tested against the capped mock's exact queueing truth in simulation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

from mm_orch.errors import ConfigError
from mm_orch.load.slo_stats import effective_n, fit_logistic, t_quantile, wilson
from mm_orch.report.max_rate import ProbeOutcome, ProbeRecord, RatePoint, SloSearchResult, StopReason

__all__ = [
    "ProbeOutcome",
    "ProbeRecord",
    "RatePoint",
    "SloSearchResult",
    "effective_n",
    "headline",
    "min_requests_for",
    "outcome_from_samples",
    "queue_growing",
    "search_max_rate",
    "wilson",
]
_t_quantile = t_quantile  # the tests' name


def min_requests_for(percentile: float, tail: int = 10) -> int:
    """Requests a probe needs so that its percentile rests on `tail` requests beyond it."""
    return math.ceil(round(tail / (1 - percentile / 100), 6))  # round: 1 - 0.999 is not exactly 0.001


def outcome_from_samples(
    rate: float,
    duration_s: float,
    samples: Mapping[str, Sequence[float]],
    slo: Mapping[str, float],
    percentile: float,
    **extra,
) -> ProbeOutcome:
    """A ProbeOutcome from per-request values in arrival order (one sequence per SLO metric, equal lengths).

    A NaN value (e.g. TPOT of a one-token answer, undefined) cannot violate its limit: it counts as met and
    is left out of the percentile. extra: growing, stopped_early, sent_rate, note."""
    import numpy as np

    _check_slo(slo)
    missing = [m for m in slo if m not in samples]
    if missing:
        raise ConfigError(f"the probe measured no {', '.join(missing)} (SLO metrics: {', '.join(slo)})")
    arrays = {m: np.asarray(samples[m], dtype=float) for m in slo}
    n = len(next(iter(arrays.values())))
    if any(a.size != n for a in arrays.values()):
        raise ValueError("every SLO metric needs one value per request")
    ok = {m: ~(a > slo[m]) for m, a in arrays.items()}  # NaN > x is False: met
    all_ok = np.logical_and.reduce(list(ok.values())) if n else np.zeros(0, dtype=bool)
    values = {}
    for m, a in arrays.items():
        finite = a[~np.isnan(a)]
        if finite.size:
            values[m] = float(np.percentile(finite, percentile))
    return ProbeOutcome(
        rate=rate,
        duration_s=duration_s,
        n=n,
        met={m: int(v.sum()) for m, v in ok.items()},
        met_all=int(all_ok.sum()),
        values=values,
        n_eff=effective_n(all_ok) if n else None,
        **extra,
    )


def queue_growing(
    arrival_s: Sequence[float], wait_s: Sequence[float], min_slope: float = 0.1, min_requests: int = 50
) -> bool:
    """Whether the queueing wait grows without bound over a probe: a probe's early-stop test.

    Over capacity by a fraction f, each second of arrivals adds f/(1+f) s of wait, so the wait rises linearly
    with a slope that a stable queue (waits fluctuating about a level) does not keep. Growing when the least-
    squares slope of wait against arrival time over the second half of the probe (past the start-up transient)
    is at least min_slope (0.1 = about 11 % over capacity) and the last quarter waits longer than the first."""
    import numpy as np

    t = np.asarray(arrival_s, dtype=float)
    w = np.asarray(wait_s, dtype=float)
    if t.size < min_requests or t[-1] <= t[0]:
        return False
    half = t.size // 2
    th, wh = t[half:], w[half:]
    if th[-1] <= th[0]:
        return False
    slope = float(np.polyfit(th - th[0], wh, 1)[0])
    q = t.size // 4
    return slope >= min_slope and float(np.mean(w[-q:])) > float(np.mean(w[:q]))


def search_max_rate(
    probe: Callable[[float, float], ProbeOutcome],
    slo: Mapping[str, float],
    slo_percentile: float = 99.0,
    lo: float = 1.0,
    hi: float | None = None,
    rel_precision: float = 0.02,
    target_ci: float = 0.05,
    max_probes: int = 40,
    confidence: float = 0.95,
    min_duration_s: float = 10.0,
    max_duration_s: float | None = None,
    max_repeats: int = 2,
) -> SloSearchResult:
    """The highest requested rate at which the SLO holds at slo_percentile (see the module docstring).

    probe(rate, duration_s) runs one probe. lo must meet the SLO (else the result says no rate did); hi, when
    given, is probed next instead of doubling (if it meets the SLO the answer is '>= hi'). Bisection stops at
    rel_precision; then probes on both sides of the fitted crossing are added until the interval's half-width
    is within target_ci of the rate, from at least 6 probes (or max_probes is spent). A probe lasts
    max(min_duration_s, its requests / rate) seconds (see the module docstring), capped by max_duration_s
    (a note says when a probe ran short of min_requests)."""
    _check_slo(slo)
    if not 0 < slo_percentile < 100:
        raise ConfigError(f"the SLO percentile must be in (0, 100), got {slo_percentile}")
    if not 0 < confidence < 1:
        raise ConfigError(f"the confidence must be in (0, 1), got {confidence}")
    if not (lo > 0 and math.isfinite(lo)) or (hi is not None and not (math.isfinite(hi) and hi > lo)):
        raise ConfigError(f"need 0 < lo < hi (finite), got lo={lo}, hi={hi}")
    if not (0 < rel_precision < 1 and 0 < target_ci < 1) or max_probes < 2 or max_repeats < 0:
        raise ConfigError("need 0 < rel_precision < 1, 0 < target_ci < 1, max_probes >= 2 and max_repeats >= 0")
    s = _Search(probe, dict(slo), slo_percentile, confidence, min_duration_s, max_duration_s, max_probes, max_repeats)
    t0 = time.perf_counter()
    reason: StopReason = "precision"
    try:
        reason = s.bracket(lo, hi)
        if reason == "precision":
            s.bisect(rel_precision)
            s.refine(target_ci, _REFINE_SPREAD)
    except _OutOfProbes:
        reason = "max_probes"
        s.notes.append(f"stopped after max_probes={max_probes} probes, short of rel_precision or target_ci")
    if s.short:
        s.notes.append(
            f"{s.short} probe(s) ran fewer than {s.n_min} requests (max_duration_s or early stop): "
            f"their percentile rests on fewer than 10 tail requests"
        )
    return s.result(reason, time.perf_counter() - t0)


def headline(result: SloSearchResult) -> str:
    """One line that answers the question: "47.2 req/s [44.9, 49.0] at 95 %: p99 TTFT <= 200 ms held"."""
    cond = " and ".join(
        f"p{result.percentile:g} {_metric_label(m)} <= {limit:g}{_unit(m)}" for m, limit in result.slo.items()
    )
    if result.rate is None:
        lowest = min((p.rate for p in result.probes), default=None)
        at = f" at {_fmt_rate(lowest)} req/s, the lowest rate tried" if lowest is not None else ""
        return f"no rate met the SLO: {cond} failed{at}"
    if result.stop_reason == "highest_rate_passed":
        return f">= {_fmt_rate(result.rate)} req/s: {cond} held at the highest rate tried"
    lo = _fmt_rate(result.ci_low) if result.ci_low is not None else "?"
    hi = _fmt_rate(result.ci_high) if result.ci_high is not None else "?"
    tail = " (max probes reached)" if result.stop_reason == "max_probes" else ""
    return f"{_fmt_rate(result.rate)} req/s [{lo}, {hi}] at {result.confidence * 100:g} %: {cond} held{tail}"


# ---- internals ----------------------------------------------------------------------------------------------


_MIN_FAILS_FOR_DEFF = 10  # failures a probe needs before its own n_eff says how they cluster
_WINDOW = 1.15  # the fit uses probes within this factor of its current estimate
_MAX_PROBE_GROWTH = 20.0  # a probe grows for clustering up to this many times min_requests
_MIN_FIT_PROBES = 6  # an interval from fewer probes is not trusted to stop on: clusters make their scatter erratic
_REFINE_SPREAD = 0.05  # refining probes go this far below and above the fitted crossing (the slope needs leverage)


class _OutOfProbes(Exception):
    pass


class _Pool:
    """The probes at one rate, summed; n_eff is worked out when judged (it may borrow a design effect)."""

    def __init__(self) -> None:
        self.outcomes: list[ProbeOutcome] = []
        self.n, self.grew = 0, 0
        self.met: dict[str, int] = {}

    @property
    def growing(self) -> bool:
        """Growth this rate is judged on: most of its probes grew (one alone is a warning)."""
        return 2 * self.grew > len(self.outcomes)

    @property
    def grew_for_sure(self) -> bool:
        return self.growing and self.grew >= 2

    def add(self, o: ProbeOutcome) -> None:
        self.outcomes.append(o)
        self.n += o.n
        self.grew += o.growing
        for m, k in o.met.items():
            self.met[m] = self.met.get(m, 0) + k


def _fails(o: ProbeOutcome) -> int:
    return o.n - (o.met_all if o.met_all is not None else min(o.met.values(), default=o.n))


class _Search:
    def __init__(self, probe, slo, percentile, confidence, min_s, max_s, max_probes, max_repeats) -> None:
        self.probe, self.slo, self.pct, self.conf = probe, slo, percentile, confidence
        self.min_s, self.max_s, self.max_probes, self.max_repeats = min_s, max_s, max_probes, max_repeats
        self.n_min = min_requests_for(percentile)
        self.records: list[ProbeRecord] = []
        self.pools: dict[float, _Pool] = {}
        self.notes: list[str] = []
        self.short = 0
        self.low: float | None = None  # the bisection bracket: highest point pass, lowest point fail
        self.high: float | None = None
        self.centre: float | None = None  # where the fit looks (its last estimate)

    def bracket(self, lo: float, hi: float | None) -> StopReason:
        """lo must pass; then hi, or doubling, must fail."""
        if not self.judge(lo, "bracket"):
            return "lowest_rate_failed"
        self.low = lo
        if hi is not None:
            if self.judge(hi, "bracket"):
                self.low = hi
                return "highest_rate_passed"
            self.high = hi
            return "precision"
        r = 2 * lo
        while self.judge(r, "bracket"):
            self.low, r = r, 2 * r
        self.high = r
        return "precision"

    def bisect(self, rel_precision: float) -> None:
        while (self.high - self.low) / self.low > rel_precision:
            mid = (self.low + self.high) / 2
            if self.judge(mid, "bisect"):
                self.low = mid
            else:
                self.high = mid

    def refine(self, target_ci: float, spread: float) -> None:
        """Probe below and above the fitted crossing, alternately, until its interval is narrow enough: near
        the boundary one probe's verdict is a coin flip, but the fit gains from every request. The fit's window
        follows its estimate (the bisection may have been led astray by an unlucky probe)."""
        self.centre = (self.low + self.high) / 2
        side, unfitted = -1, 0
        while True:
            fit = self.crossing()
            if fit is not None:
                if fit[1] <= target_ci * fit[0] and fit[2] >= _MIN_FIT_PROBES:
                    return
                self.centre, unfitted = fit[0], 0
            elif unfitted >= _MIN_FIT_PROBES:  # a sharp edge (all or nothing fails): the bisection has it
                return
            self.run(self.centre * (1 + side * spread), "refine")
            side, unfitted = -side, unfitted + (fit is None)

    def points(self) -> list[RatePoint]:
        return sorted((self.point(r, pl) for r, pl in self.pools.items()), key=lambda x: x.rate)

    def judge(self, rate: float, phase: str) -> bool:
        """Probe rate (repeating while the pooled verdict is unsure); the pooled point verdict."""
        point = self.run(rate, phase)
        for _ in range(self.max_repeats):
            if point.verdict != "unsure":
                break
            point = self.run(rate, "repeat")
        return point.passed

    def requests_for(self, rate: float) -> float:
        """Requests a probe at rate needs: n_min tail-backed requests, times half the clustering seen near this
        rate (so that its failures come in about 5 independent clusters, not in one burst that makes the
        probe's share all or nothing), at most 20 x n_min."""
        deff = self.design_effect(rate / 1.25, rate * 1.25)
        return self.n_min * min(_MAX_PROBE_GROWTH, max(1.0, deff / 2))

    def run(self, rate: float, phase: str) -> RatePoint:
        if len(self.records) >= self.max_probes:
            raise _OutOfProbes
        duration = max(self.min_s, self.requests_for(rate) / rate)
        if self.max_s is not None:
            duration = min(duration, self.max_s)
        out = self.probe(rate, duration)
        missing = [m for m in self.slo if m not in out.met]
        if missing:
            raise ConfigError(f"the probe at {rate:g} req/s judged no {', '.join(missing)}")
        if out.n < 0.8 * self.n_min:  # sized for n_min on average; Poisson counts fall a little short
            self.short += 1
        pool = self.pools.setdefault(rate, _Pool())
        pool.add(out)
        point = self.point(rate, pool)
        passed = not out.growing and out.n > 0 and all(_meets(out.met[m], out.n, self.pct) for m in self.slo)
        self.records.append(ProbeRecord(**out.model_dump(), phase=phase, passed=passed, verdict=point.verdict))
        return point

    def design_effect(self, low: float, high: float) -> float:
        """n / n_eff over a range of rates: the mean over the probes there that failed enough requests to show
        how their failures cluster; 1 before any is known. Pooled, because one probe's estimate rests on a
        handful of clusters (and a mean, as those estimates are skewed: their median is too low)."""
        seen = [
            o.n / o.n_eff
            for pl in self.pools.values()
            for o in pl.outcomes
            if o.n_eff and low <= o.rate <= high and _fails(o) >= _MIN_FAILS_FOR_DEFF
        ]
        return max(1.0, sum(seen) / len(seen)) if seen else 1.0

    def n_eff(self, pool: _Pool) -> float:
        """Clustering grows with the rate, so a rate borrows from itself and the probes up to 25 % above it
        (conservative)."""
        rate = pool.outcomes[0].rate
        return pool.n / self.design_effect(rate / 1.05, rate * 1.25)

    def point(self, rate: float, pool: _Pool) -> RatePoint:
        p = self.pct / 100
        share, low, high = {}, {}, {}
        n_eff = self.n_eff(pool)
        for m in self.slo:
            share[m] = pool.met[m] / pool.n if pool.n else 0.0
            low[m], high[m] = wilson(share[m] * n_eff, n_eff, self.conf)
        passed = pool.n > 0 and not pool.growing and all(_meets(pool.met[m], pool.n, self.pct) for m in self.slo)
        if pool.grew_for_sure or any(high[m] < p for m in self.slo):
            verdict = "fail"
        elif not pool.growing and all(low[m] >= p for m in self.slo):
            verdict = "pass"
        else:
            verdict = "unsure"
        return RatePoint(
            rate=rate,
            probes=len(pool.outcomes),
            n=pool.n,
            n_eff=n_eff,
            share=share,
            share_low=low,
            share_high=high,
            growing=pool.growing,
            passed=passed,
            verdict=verdict,
        )

    def result(self, reason: StopReason, elapsed: float) -> SloSearchResult:
        points = self.points()
        fails = [x.rate for x in points if x.verdict == "fail"]
        confident_fail = min(fails) if fails else None
        passes = [x.rate for x in points if x.verdict == "pass" and (confident_fail is None or x.rate < confident_fail)]
        confident_pass = max(passes) if passes else None
        rate = self.low
        if rate is not None and confident_pass is not None and reason != "highest_rate_passed":
            if confident_fail is not None and rate >= confident_fail:  # the bisection passed it by luck
                self.notes.append(f"the bisection's last pass ({_fmt_rate(rate)} req/s) is above a rate that "
                                  f"confidently failed ({_fmt_rate(confident_fail)}): the answer is the highest "
                                  "rate that confidently passed below it")
                rate = confident_pass
            rate = max(rate, confident_pass)  # refining probes may have confidently passed above the bisection
        method, ci_low, ci_high = "bisection", confident_pass, confident_fail
        fit = self.crossing() if self.low is not None and reason != "highest_rate_passed" else None
        if fit is not None:
            rate, method, ci_low, ci_high = fit[0], "fit", fit[0] - fit[1], fit[0] + fit[1]
        elif self.low is not None and reason != "highest_rate_passed":
            self.notes.append(
                "too few failing probes near the boundary to fit: the rate is the bisection's and "
                "its interval runs between the rates that confidently passed and failed"
            )
        return SloSearchResult(
            slo=self.slo,
            percentile=self.pct,
            confidence=self.conf,
            rate=rate,
            method=method,
            ci_low=ci_low,
            ci_high=ci_high,
            confident_pass=confident_pass,
            confident_fail=confident_fail,
            bracket_low=self.low,
            bracket_high=self.high,
            stop_reason=reason,
            min_requests=self.n_min,
            probes=self.records,
            points=points,
            probe_seconds=sum(r.duration_s for r in self.records),
            elapsed_s=elapsed,
            notes=self.notes,
        )

    def crossing(self) -> tuple[float, float, int] | None:
        """Where the fitted fail share crosses 1 - p, the interval's half-width and the probes fitted; None if no
        fit.

        Near the answer the logit of the fail share is close to linear in the rate (a queue's wait tail decays
        exponentially, at a speed that falls as the rate rises), so a logistic line through the probes around
        the answer uses every request probed there, not only the last bisection step's. Far probes stay out
        (one near capacity, its queue never settled, would bend the line). The most constraining metric
        decides."""
        if self.low is None or self.high is None:
            return None
        centre = self.centre or (self.low + self.high) / 2
        lo, hi = centre / _WINDOW, centre * _WINDOW
        near = [o for o in self.records if not o.growing and o.n > 0 and lo <= o.rate <= hi]
        best = None
        for m in self.slo:
            fit = fit_logistic(
                [(o.rate, o.n - o.met[m], o.n) for o in near], self.pct / 100, self.conf, self.design_effect(lo, hi)
            )
            if fit is None or not (math.isfinite(fit[0]) and lo <= fit[0] <= hi):
                return None
            if best is None or fit[0] < best[0]:
                best = (fit[0], fit[1], len(near))
        return best


def _meets(k: int, n: int, percentile: float) -> bool:
    """k of n met: at least percentile % (exact for the usual percentiles, no float round-off)."""
    return k * 100 >= percentile * n - 1e-9


def _check_slo(slo: Mapping[str, float]) -> None:
    if not slo:
        raise ConfigError("the SLO needs at least one metric limit, e.g. ttft_ms=200")
    for m, v in slo.items():
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise ConfigError(f"the SLO limit of {m} must be a positive number, got {v!r}")


_LABELS = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2e": "E2E", "e2e_latency": "E2E latency"}
_UNITS = ("ms", "s", "us")


def _split(metric: str) -> tuple[str, str]:
    base, _, unit = metric.rpartition("_")
    return (base, unit) if base and unit in _UNITS else (metric, "")


def _metric_label(metric: str) -> str:
    base = _split(metric)[0]
    return _LABELS.get(base, base.replace("_", " "))


def _unit(metric: str) -> str:
    unit = _split(metric)[1]
    return f" {unit}" if unit else ""


def _fmt_rate(r: float) -> str:
    return f"{r:.0f}" if r >= 100 else f"{r:.1f}" if r >= 10 else f"{r:.2f}" if r >= 1 else f"{r:.3g}"
