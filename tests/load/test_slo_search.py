"""The max-rate-at-SLO search, checked against the capped mock's exact queueing truth.

The probe simulates the mock server with --max-concurrency (mock_queue.queue_ttft_ms: TTFT from arrival of
each request of a Poisson schedule); the truth is computed independently (a vectorised form of the same FCFS
queue over a long schedule, checked equal to queue_ttft_ms) and bisected on the rate to where the steady-state
share of requests meeting the limit is the percentile.
"""

from __future__ import annotations

import functools
import itertools
import math
import time

import numpy as np
import pytest

from mm_orch.errors import ConfigError
from mm_orch.load.slo_search import (
    ProbeOutcome,
    _t_quantile,
    effective_n,
    headline,
    min_requests_for,
    outcome_from_samples,
    queue_growing,
    search_max_rate,
    wilson,
)

try:  # the mock moved into mm_orch/mock/ in the restructure; either layout works
    from mm_orch.mock.queue import queue_ttft_ms
    from mm_orch.mock.server import MockTiming, expected
except ImportError:  # pragma: no cover
    from mm_orch.mock_queue import queue_ttft_ms
    from mm_orch.mock_server import MockTiming, expected

TOKENS = 16
BASE = MockTiming(ttft_ms=80, itl_ms=15, tokens=TOKENS)  # E2E 305 ms: capacity = max_concurrency / 0.305 s


def fcfs_ttft_ms(timing: MockTiming, arrivals_s: np.ndarray) -> np.ndarray:
    """TTFT from arrival of the capped mock, vectorised: with one fixed service time D and FCFS, request k starts
    at max(arrival_k, start_{k-c} + D) (the server freed first is the one request k-c took), so each of the c
    interleaved columns is a one-server queue whose starts are i*D + cummax(arrival_i - i*D)."""
    d = expected(timing, TOKENS)["e2e_ms"] / 1e3
    c = timing.max_concurrency
    n = len(arrivals_s) // c * c
    a = np.asarray(arrivals_s[:n], dtype=float).reshape(-1, c)
    i = np.arange(a.shape[0])[:, None] * d
    start = i + np.maximum.accumulate(a - i, axis=0)
    return (start - a).reshape(-1) * 1e3 + timing.ttft_ms


@functools.cache
def truth_rate(max_concurrency: int, limit_ms: float, percentile: float, n: int = 1_000_000) -> float:
    """The rate at which the steady-state share of requests with TTFT <= limit is the percentile: bisection over
    one long Poisson path scaled to each rate (common random numbers: the waits grow with the rate on it). With
    a million requests it is good to about 0.3 % (sd over seeds)."""
    timing = BASE.model_copy(update={"max_concurrency": max_concurrency})
    unit = np.cumsum(np.random.default_rng(12345).exponential(size=n))
    lo, hi = 0.0, max_concurrency / (expected(timing, TOKENS)["e2e_ms"] / 1e3)
    for _ in range(24):  # to 1e-7 of capacity
        mid = (lo + hi) / 2
        ttft = fcfs_ttft_ms(timing, unit / mid)[n // 20 :]  # the first 5 % is the queue filling up
        if np.mean(ttft <= limit_ms) >= percentile / 100:
            lo = mid
        else:
            hi = mid
    return lo


def mock_probe(timing: MockTiming, slo: dict, percentile: float, seed: int, warmup: float = 0.1):
    """probe(rate, duration_s) against the simulated capped mock: a Poisson schedule of (1 + warmup) x duration,
    the first warmup share trimmed; it stops at half time when the queue is already clearly growing."""
    calls = itertools.count()

    def probe(rate: float, duration_s: float) -> ProbeOutcome:
        rng = np.random.default_rng([seed, next(calls)])
        total = duration_s * (1 + warmup)
        arrivals = np.sort(rng.uniform(0.0, total, rng.poisson(rate * total)))
        ttft = np.asarray(queue_ttft_ms(timing, (arrivals * 1e9).astype(np.int64).tolist(), TOKENS))
        half = arrivals <= total / 2
        growing = queue_growing(arrivals[half], (ttft[half] - timing.ttft_ms) / 1e3)
        keep = (arrivals >= duration_s * warmup) & (half if growing else True)
        return outcome_from_samples(
            rate,
            total / 2 if growing else duration_s,
            {"ttft_ms": ttft[keep]},
            slo,
            percentile,
            growing=growing,
            stopped_early=growing,
        )

    return probe


def test_vectorised_truth_equals_mock_queue():
    timing = BASE.model_copy(update={"max_concurrency": 4})
    arrivals = np.cumsum(np.random.default_rng(0).exponential(size=4000)) / 12.0
    exact = queue_ttft_ms(timing, (arrivals * 1e9).astype(np.int64).tolist(), TOKENS)
    fast = fcfs_ttft_ms(timing, (arrivals * 1e9).astype(np.int64) / 1e9)
    assert np.max(np.abs(np.asarray(exact) - fast)) < 1e-6
    assert max(exact) > 1000  # the schedule did queue (12 req/s against a capacity of 13.1)


@pytest.mark.parametrize(
    ("max_concurrency", "limit_ms", "percentile", "lo"),
    [(16, 200.0, 99.0, 4.0), (4, 400.0, 95.0, 1.0)],
    ids=["c16-p99-ttft200", "c4-p95-ttft400"],
)
def test_search_finds_the_truth_within_5_percent(max_concurrency, limit_ms, percentile, lo):
    timing = BASE.model_copy(update={"max_concurrency": max_concurrency})
    slo = {"ttft_ms": limit_ms}
    truth = truth_rate(max_concurrency, limit_ms, percentile)
    t0 = time.perf_counter()
    res = search_max_rate(mock_probe(timing, slo, percentile, seed=0), slo, percentile, lo=lo)
    took = time.perf_counter() - t0
    print(
        f"\n{headline(res)} | truth {truth:.2f} req/s ({100 * (res.rate / truth - 1):+.1f} %), "
        f"{len(res.probes)} probes, {res.probe_seconds:.0f} s of probes, search {took:.2f} s"
    )
    assert res.method == "fit" and res.stop_reason == "precision"
    assert abs(res.rate / truth - 1) < 0.05
    # the interval holds the truth (give or take the truth's own 0.3 %; over 20 seeds it held 17/20 and 20/20)
    assert res.ci_low * 0.995 <= truth <= res.ci_high * 1.005
    assert (res.ci_high - res.ci_low) / 2 <= 0.05 * res.rate
    assert took < 5.0
    # every probe is long enough for its percentile (Poisson counts fall a little short of the mean)
    assert all(p.n >= 0.8 * min_requests_for(percentile) for p in res.probes if not p.stopped_early)
    assert headline(res).endswith(f"p{percentile:g} TTFT <= {limit_ms:g} ms held")


def test_over_capacity_probe_stops_early_and_fails():
    timing = BASE.model_copy(update={"max_concurrency": 4})  # capacity 13.1 req/s
    slo = {"ttft_ms": 400.0}
    res = search_max_rate(mock_probe(timing, slo, 95, seed=1), slo, 95, lo=4.0, hi=20.0)
    over = [p for p in res.probes if p.rate == 20.0]
    assert over and over[0].growing and over[0].stopped_early and not over[0].passed
    assert over[0].verdict == "fail"
    assert res.confident_fail is not None and res.confident_fail <= 20.0


def test_step_server_bisects_to_the_edge():
    """A server that meets the SLO for every request below 37.3 req/s and for none above: no failures to fit, so
    the answer is the bisection's, inside the confident pass / fail rates."""

    def probe(rate, duration_s):
        n = math.ceil(rate * duration_s)
        met = n if rate <= 37.3 else 0
        return ProbeOutcome(rate=rate, duration_s=duration_s, n=n, met={"ttft_ms": met}, met_all=met)

    res = search_max_rate(probe, {"ttft_ms": 200}, 99, lo=5.0)
    assert res.method == "bisection"
    assert 37.3 / 1.02 <= res.rate <= 37.3 < res.bracket_high
    assert res.ci_low == res.rate and res.ci_high == res.bracket_high
    assert [p.rate for p in res.probes[:5]] == [5.0, 10.0, 20.0, 40.0, 30.0]
    line = headline(res)
    assert line.startswith(f"{res.rate:.1f} req/s [{res.ci_low:.1f}, {res.ci_high:.1f}] at 95 %: ")
    assert line.endswith("p99 TTFT <= 200 ms held")


def test_one_probe_that_grew_by_chance_is_probed_again_not_taken_as_the_edge():
    """Seen against vLLM on the CPU: a probe below the edge stopped early as 'growing' (a stable queue drifting up
    for a few seconds), the bisection took it as a failure and answered 146 req/s where 155 passed three times.
    Now one growing probe makes its rate unsure and it is probed again; two make it fail."""
    flagged = {30.0: 1}

    def probe(rate, duration_s):
        n = math.ceil(rate * duration_s)
        met = n if rate <= 37.3 else 0
        grew = flagged.get(rate, 0) > 0
        if grew:
            flagged[rate] -= 1
            n //= 2
        return ProbeOutcome(rate=rate, duration_s=duration_s, n=n, met={"ttft_ms": n if grew else met},
                            met_all=n if grew else met, growing=grew, stopped_early=grew)

    res = search_max_rate(probe, {"ttft_ms": 200}, 99, lo=5.0)
    at30 = [p for p in res.probes if p.rate == 30.0]
    assert [p.growing for p in at30] == [True, False] and at30[0].verdict == "unsure" and at30[1].phase == "repeat"
    assert 37.3 / 1.02 <= res.rate <= 37.3 and res.ci_low <= res.rate <= res.ci_high

    def over(rate, duration_s):  # growing every time above 37.3: two probes there, then a failure
        n = math.ceil(rate * duration_s)
        grew = rate > 37.3
        return ProbeOutcome(rate=rate, duration_s=duration_s, n=n // 2 if grew else n,
                            met={"ttft_ms": n // 2 if grew else n}, growing=grew, stopped_early=grew)

    res = search_max_rate(over, {"ttft_ms": 200}, 99, lo=5.0)
    at40 = [p for p in res.probes if p.rate == 40.0]
    assert len(at40) == 2 and at40[-1].verdict == "fail" and 37.3 / 1.02 <= res.rate <= 37.3


def test_the_answer_lies_inside_its_interval_when_the_probes_disagree():
    """A confident failure below the bisection's last pass (non-monotone evidence, as a noisy server gives): the
    answer is the highest confident pass below the failure, never a rate outside its own interval."""

    def probe(rate, duration_s):
        n = math.ceil(rate * duration_s)
        met = 0 if 34.0 <= rate <= 36.0 or rate > 37.3 else n
        return ProbeOutcome(rate=rate, duration_s=duration_s, n=n, met={"ttft_ms": met}, met_all=met)

    res = search_max_rate(probe, {"ttft_ms": 200}, 99, lo=5.0)
    assert res.confident_fail is not None and res.ci_low <= res.rate <= res.ci_high
    assert res.rate < res.confident_fail


def test_lowest_and_highest_rate_outcomes():
    def failing(rate, duration_s):
        return ProbeOutcome(rate=rate, duration_s=duration_s, n=1000, met={"ttft_ms": 0}, met_all=0)

    res = search_max_rate(failing, {"ttft_ms": 200}, 99, lo=2.0)
    assert res.rate is None and res.stop_reason == "lowest_rate_failed" and len(res.probes) == 1
    assert headline(res) == "no rate met the SLO: p99 TTFT <= 200 ms failed at 2.00 req/s, the lowest rate tried"

    def passing(rate, duration_s):
        return ProbeOutcome(rate=rate, duration_s=duration_s, n=1000, met={"ttft_ms": 1000, "tpot_ms": 1000})

    res = search_max_rate(passing, {"ttft_ms": 200, "tpot_ms": 50}, 99, lo=2.0, hi=64.0)
    assert res.rate == 64.0 and res.stop_reason == "highest_rate_passed"
    assert headline(res) == ">= 64.0 req/s: p99 TTFT <= 200 ms and p99 TPOT <= 50 ms held at the highest rate tried"

    res = search_max_rate(passing, {"ttft_ms": 200}, 99, lo=1.0, max_probes=5)
    assert res.stop_reason == "max_probes" and len(res.probes) == 5 and res.rate == 16.0


def test_probe_duration_covers_the_percentile():
    seen = []

    def probe(rate, duration_s):
        seen.append((rate, duration_s))
        return ProbeOutcome(rate=rate, duration_s=duration_s, n=round(rate * duration_s), met={"e2e_ms": 0}, met_all=0)

    search_max_rate(probe, {"e2e_ms": 1000}, 99.9, lo=2.0, min_duration_s=1.0)
    assert seen == [(2.0, 5000.0)]  # 10 tail requests at p99.9: 10,000 requests
    assert min_requests_for(99) == 1000 and min_requests_for(95) == 200 and min_requests_for(90) == 100


def test_bad_arguments_are_config_errors():
    def probe(rate, duration_s):  # pragma: no cover - never called
        raise AssertionError

    for kw in (
        {"lo": 0.0},
        {"lo": 5.0, "hi": 4.0},
        {"confidence": 1.0},
        {"slo_percentile": 100.0},
        {"rel_precision": 0.0},
        {"max_probes": 1},
    ):
        with pytest.raises(ConfigError):
            search_max_rate(probe, {"ttft_ms": 200}, **kw)
    with pytest.raises(ConfigError, match="ttft_ms"):
        search_max_rate(probe, {"ttft_ms": -1})
    with pytest.raises(ConfigError, match="at least one"):
        search_max_rate(probe, {})

    def wrong_metric(rate, duration_s):
        return ProbeOutcome(rate=rate, duration_s=duration_s, n=10, met={"tpot_ms": 10})

    with pytest.raises(ConfigError, match="judged no ttft_ms"):
        search_max_rate(wrong_metric, {"ttft_ms": 200})


def test_outcome_from_samples_counts_and_percentiles():
    ttft = [100.0] * 95 + [300.0] * 5
    tpot = [10.0] * 99 + [float("nan")]  # undefined TPOT (a one-token answer) cannot violate the limit
    out = outcome_from_samples(5.0, 20.0, {"ttft_ms": ttft, "tpot_ms": tpot}, {"ttft_ms": 200, "tpot_ms": 5}, 95)
    assert out.n == 100 and out.met == {"ttft_ms": 95, "tpot_ms": 1} and out.met_all == 0
    assert out.values["ttft_ms"] == pytest.approx(float(np.percentile(ttft, 95)))
    assert out.values["tpot_ms"] == 10.0
    with pytest.raises(ConfigError, match="measured no tpot_ms"):
        outcome_from_samples(5.0, 20.0, {"ttft_ms": ttft}, {"tpot_ms": 5}, 95)


def test_effective_n_sees_clusters():
    rng = np.random.default_rng(3)
    iid = rng.random(20_000) > 0.02
    assert 0.8 * iid.size <= effective_n(iid) <= iid.size
    clustered = np.repeat(iid[:2000], 10)  # every outcome ten times in a row: a tenth of the evidence
    assert clustered.size / 20 <= effective_n(clustered) <= clustered.size / 5
    assert effective_n([True] * 50) == 50.0


def test_queue_growing_tells_over_from_under_capacity():
    timing = BASE.model_copy(update={"max_concurrency": 4})  # capacity 13.1 req/s
    rng = np.random.default_rng(5)
    for rate, growing in ((9.0, False), (12.5, False), (17.0, True)):
        arrivals = np.cumsum(rng.exponential(size=1500)) / rate
        ttft = np.asarray(queue_ttft_ms(timing, (arrivals * 1e9).astype(np.int64).tolist(), TOKENS))
        assert queue_growing(arrivals, (ttft - timing.ttft_ms) / 1e3) is growing, rate


def test_statistics_helpers():
    low, high = wilson(50, 100, 0.95)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    low, high = wilson(0, 100, 0.95)
    assert low == 0.0 and high == pytest.approx(0.0370, abs=1e-4)
    for dof, t in ((1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042)):
        assert _t_quantile(0.975, dof) == pytest.approx(t, rel=0.01)
