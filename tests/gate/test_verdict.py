"""The regression verdict: bootstrap correctness, PASS/FAIL/INCONCLUSIVE on known effects, exit codes, table."""

import time

import numpy as np
import pytest
from pydantic import ValidationError

from mm_orch.errors import ConfigError
from mm_orch.gate.verdict import (
    EXIT_INCONCLUSIVE,
    GateResult,
    bootstrap_quantile,
    bootstrap_quantile_by_run,
    compare,
    exit_code,
    overall,
)


def lognormal(seed, n, scale=1.0, sigma=0.1):
    return scale * np.random.default_rng(seed).lognormal(0.0, sigma, n)


def ks_distance(a, b):
    # rounded: an interpolated quantile may differ from numpy's in the last bit, which would split atoms
    a, b = np.round(a, 9), np.round(b, 9)
    grid = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), grid, side="right") / a.size
    fb = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


@pytest.mark.parametrize("n", [1, 2, 7, 8, 33])
@pytest.mark.parametrize("q", [0.5, 0.9])
def test_bootstrap_quantile_matches_brute_force_resampling(n, q):
    x = lognormal(11, n, sigma=0.4)
    fast = bootstrap_quantile(x, q, 20000, np.random.default_rng(1))
    idx = np.random.default_rng(2).integers(0, n, size=(20000, n))
    brute = np.quantile(x[idx], q, axis=1)
    assert fast.shape == (20000,)
    # every replicate is a value a resample could give
    assert fast.min() >= x.min() - 1e-12 and fast.max() <= x.max() + 1e-12
    assert ks_distance(fast, brute) < 0.02
    assert fast.mean() == pytest.approx(brute.mean(), rel=0.01)


def test_no_change_passes_with_effect_near_one():
    v = compare("tpot_ms", lognormal(1, 300, 6.0), lognormal(2, 300, 6.0), "lower_is_better", 10)
    assert v.verdict == "PASS"
    assert v.statistic == "ratio of medians"
    assert 0.97 < v.effect < 1.03
    assert v.ci_low < v.effect < v.ci_high < 1.10
    assert (v.n_baseline, v.n_current) == (300, 300)
    assert 0 < v.detectable_pct < 15  # 10 % tolerance + a few % of noise
    assert v.reason.startswith("within tolerance 10 %")


def test_real_regression_fails_and_borderline_is_inconclusive():
    base = lognormal(1, 300, 6.0)
    fail = compare("tpot_ms", base, lognormal(2, 300, 6.0 * 1.3), "lower_is_better", 10)
    assert fail.verdict == "FAIL"
    assert 1.25 < fail.effect < 1.35 and fail.ci_low > 1.10
    # +10 % true effect against a 10 % tolerance: the interval must straddle the bound
    edge = compare("tpot_ms", base, lognormal(2, 300, 6.0 * 1.1), "lower_is_better", 10)
    assert edge.verdict == "INCONCLUSIVE"
    assert edge.ci_low < 1.10 < edge.ci_high
    assert "straddles" in edge.reason


def test_higher_is_better_direction():
    base = lognormal(3, 100, 140.0)
    drop = compare("tok_s", base, lognormal(4, 100, 140.0 * 0.7), "higher_is_better", 10)
    assert drop.verdict == "FAIL" and drop.bound == pytest.approx(0.9) and drop.ci_high < 0.9
    gain = compare("tok_s", base, lognormal(4, 100, 140.0 * 1.5), "higher_is_better", 10)
    assert gain.verdict == "PASS" and gain.ci_low > 1.3
    # an improvement is never a failure for a lower-is-better metric either
    faster = compare("ttft_ms", base, lognormal(4, 100, 140.0 * 0.5), "lower_is_better", 10)
    assert faster.verdict == "PASS"


def test_unchanged_build_never_fails_over_many_seeds():
    verdicts = [
        compare("e2e", lognormal(2 * s, 20, sigma=0.3), lognormal(2 * s + 1, 20, sigma=0.3), "lower_is_better", 10)
        for s in range(20)
    ]
    assert [v.verdict for v in verdicts].count("FAIL") == 0


@pytest.mark.parametrize("direction,sign", [("lower_is_better", 1), ("higher_is_better", -1)])
def test_detectable_pct_is_exactly_where_fail_begins(direction, sign):
    """Scaling the current samples scales effect and interval alike (the resampled indices depend only on n and
    the seed), so a shift just past detectable_pct must FAIL and one just short of it must not."""
    base, cur = lognormal(5, 200, 10.0), lognormal(6, 200, 10.0)
    v0 = compare("m", base, cur, direction, 10)
    assert v0.verdict == "PASS" and 10 < v0.detectable_pct < 16
    target = 1 + sign * v0.detectable_pct / 100  # the effect at which FAIL begins
    beyond = compare("m", base, cur * (target / v0.effect) * (1 + sign * 1e-3), direction, 10)
    short = compare("m", base, cur * (target / v0.effect) * (1 - sign * 1e-3), direction, 10)
    assert beyond.verdict == "FAIL"
    assert short.verdict == "INCONCLUSIVE"
    assert beyond.detectable_pct == pytest.approx(v0.detectable_pct, rel=1e-6)


def test_paired_comparison_cancels_shared_drift():
    """Machine drift that hits both sides of a pair (sigma 0.5) hides a +20 % effect unpaired, not paired."""
    rng = np.random.default_rng(7)
    drift = rng.lognormal(0, 0.5, 20)
    base = drift * rng.lognormal(0, 0.02, 20)
    cur = 1.2 * drift * rng.lognormal(0, 0.02, 20)
    unpaired = compare("tpot", base, cur, "lower_is_better", 10)
    paired = compare("tpot", base, cur, "lower_is_better", 10, paired=True)
    assert unpaired.verdict == "INCONCLUSIVE"
    assert paired.verdict == "FAIL" and paired.statistic == "median of paired ratios"
    assert 1.15 < paired.effect < 1.25 and paired.ci_low > 1.1
    assert paired.ci_high - paired.ci_low < (unpaired.ci_high - unpaired.ci_low) / 5
    with pytest.raises(ConfigError, match="equal sample counts"):
        compare("tpot", base, cur[:-1], "lower_is_better", 10, paired=True)


def test_too_few_or_unusable_samples_are_inconclusive_not_errors():
    v = compare("ttft", [1.0, 2.0], [1.0, 2.0, 3.0], "lower_is_better", 10)
    assert v.verdict == "INCONCLUSIVE" and v.effect is None and v.ci_low is None and v.detectable_pct is None
    assert "too few samples (baseline 2, current 3" in v.reason
    nan = compare("ttft", [1.0, float("nan"), 2.0, float("inf")], [1.0, 1.1, 1.2], "lower_is_better", 10)
    assert nan.verdict == "INCONCLUSIVE" and nan.n_baseline == 2 and "2 baseline and 0 current non-finite" in nan.reason
    zero = compare("ttft", [0.0, 0.0, 0.0, 1.0], [1.0, 1.1, 1.2], "lower_is_better", 10)
    assert zero.verdict == "INCONCLUSIVE" and "not positive" in zero.reason
    pairs = compare("ttft", [1.0, -1.0, 2.0, 3.0], [1.0, 1.0, float("nan"), 3.0], "lower_is_better", 10, paired=True)
    assert pairs.verdict == "INCONCLUSIVE" and "2 pair(s) dropped" in pairs.reason


def test_identical_constant_samples_pass_with_zero_width():
    v = compare("tokens", [8.0] * 10, [8.0] * 10, "lower_is_better", 5)
    assert v.verdict == "PASS" and v.effect == v.ci_low == v.ci_high == 1.0
    assert v.detectable_pct == pytest.approx(5.0)


def test_deterministic_and_quantile_option():
    base, cur = lognormal(8, 50), lognormal(9, 50, 1.05)
    a = compare("m", base, cur, "lower_is_better", 10, seed=3)
    b = compare("m", base, cur, "lower_is_better", 10, seed=3)
    assert a == b
    p90 = compare("m", base, cur, "lower_is_better", 10, quantile=0.9)
    assert p90.statistic == "ratio of p90s"
    assert p90.effect == pytest.approx(np.quantile(cur, 0.9) / np.quantile(base, 0.9))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"direction": "sideways"},
        {"tolerance_pct": -1},
        {"confidence": 1.0},
        {"n_boot": 10},
        {"direction": "higher_is_better", "tolerance_pct": 100},
    ],
)
def test_bad_arguments_raise_config_error(kwargs):
    args = {"direction": "lower_is_better", "tolerance_pct": 10} | kwargs
    with pytest.raises(ConfigError):
        compare("m", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], **args)


def test_bootstrap_is_fast_for_thousands_of_samples():
    base, cur = lognormal(1, 3000), lognormal(2, 3000, 1.02)
    compare("itl", base, cur, "lower_is_better", 10)  # warm
    t0 = time.perf_counter()
    v = compare("itl", base, cur, "lower_is_better", 10, n_boot=2000)
    elapsed = time.perf_counter() - t0
    assert v.verdict == "PASS"
    assert elapsed < 0.3, f"2000 resamples of 3000 samples took {elapsed * 1e3:.0f} ms"  # ~20 ms when quiet


def test_overall_and_exit_codes():
    assert overall(["PASS", "PASS"]) == "PASS"
    assert overall(["PASS", "INCONCLUSIVE"]) == "INCONCLUSIVE"
    assert overall(["INCONCLUSIVE", "FAIL", "PASS"]) == "FAIL"
    assert overall([]) == "INCONCLUSIVE"
    assert EXIT_INCONCLUSIVE == 4
    assert [exit_code("PASS"), exit_code("FAIL"), exit_code("INCONCLUSIVE")] == [0, 1, 4]
    assert [exit_code("INCONCLUSIVE", x) for x in ("pass", "fail", "warn")] == [0, 1, 0]
    assert exit_code("FAIL", "pass") == 1 and exit_code("PASS", "fail") == 0
    with pytest.raises(ConfigError):
        exit_code("INCONCLUSIVE", "maybe")


def test_gate_result_table_json_and_consistency():
    base = lognormal(1, 100, 6.0)
    verdicts = [
        compare("tpot_ms", base, lognormal(2, 100, 6.0 * 1.5), "lower_is_better", 10),
        compare("ttft_ms", base, base * 1.0, "lower_is_better", 10),
        compare("tok_s", [1.0, 2.0], [1.0, 2.0], "higher_is_better", 10),
    ]
    result = GateResult.build(verdicts, on_inconclusive="warn", gated_figures={"tpot_ms": "cpu: machine busy"})
    assert result.overall == "FAIL" and result.exit_code() == 1 and result.warning() is None
    rows = result.table_rows()
    assert result.table_headers() == ("metric", "effect", "95 % CI", "n (base/cur)", "verdict")
    assert rows[0][0] == "tpot_ms" and rows[0][1].startswith("+") and rows[0][4] == "FAIL"
    assert rows[1] == ("ttft_ms", "+0.0 %", "[-2.5 %, +2.7 %]", "100/100", "PASS")  # same data, resampled
    assert rows[2] == ("tok_s", "n/a", "n/a", "2/2", "INCONCLUSIVE")
    assert GateResult.model_validate_json(result.model_dump_json()) == result
    with pytest.raises(ValidationError, match="verdicts give FAIL"):
        GateResult(verdicts=verdicts, overall="PASS")
    warn = GateResult.build(verdicts[1:], on_inconclusive="warn")
    assert warn.exit_code() == 0 and warn.warning() == "gate INCONCLUSIVE (exit 0 by --on-inconclusive warn): tok_s"
    assert GateResult.build(verdicts[1:]).exit_code() == EXIT_INCONCLUSIVE


def runs_with_offsets(seed, n_runs, per_run, run_sd, sigma=0.08, scale=1.0):
    """Samples of n_runs runs: each run shifted by its own lognormal offset (what a process or the host's state
    at the time does), each sample by its own noise."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0.0, run_sd, n_runs)
    x = np.concatenate([scale * np.exp(o + rng.normal(0.0, sigma, per_run)) for o in offsets])
    return x, np.repeat(np.arange(n_runs), per_run)


@pytest.mark.parametrize("q", [0.5, 0.3])
def test_bootstrap_by_run_matches_two_stage_brute_force(q):
    x, runs = runs_with_offsets(3, 4, 9, 0.05)
    x, runs = x[:-3], runs[:-3]  # unequal runs: 9, 9, 9, 6
    fast = bootstrap_quantile_by_run(x, runs, q, 20000, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    members = [np.flatnonzero(runs == r) for r in range(4)]
    brute = np.empty(20000)
    for b in range(20000):
        drawn = rng.integers(0, 4, 4)
        brute[b] = np.quantile(np.concatenate([x[rng.choice(members[r], members[r].size)] for r in drawn]), q)
    assert ks_distance(fast, brute) < 0.02


def test_runs_that_differ_widen_the_interval_and_keep_an_unchanged_build_from_failing():
    """Four runs a side whose run offsets have a 5 % sd: per-request resampling alone calls the no-change
    comparison a regression (or an improvement) far more often than 5 %; resampling the runs too does not."""
    wrong_plain = wrong_runs = 0
    for s in range(60):
        xb, rb = runs_with_offsets(2 * s, 4, 16, 0.05)
        xc, rc = runs_with_offsets(2 * s + 1, 4, 16, 0.05)
        plain = compare("cpu", xb, xc, "lower_is_better", 0)
        by_run = compare("cpu", xb, xc, "lower_is_better", 0, baseline_runs=rb, current_runs=rc)
        assert by_run.ci_high - by_run.ci_low > plain.ci_high - plain.ci_low
        wrong_plain += not plain.ci_low <= 1.0 <= plain.ci_high
        wrong_runs += not by_run.ci_low <= 1.0 <= by_run.ci_high
    assert wrong_plain >= 15  # the truth (1.0) outside the 95 % interval in a quarter of the cases or more
    assert wrong_runs <= 6


def test_a_real_regression_still_fails_when_runs_are_labelled():
    xb, rb = runs_with_offsets(1, 5, 16, 0.02)
    xc, rc = runs_with_offsets(2, 3, 16, 0.02, scale=1.25)
    v = compare("cpu", xb, xc, "lower_is_better", 5, baseline_runs=rb, current_runs=rc)
    assert v.verdict == "FAIL" and 1.15 < v.effect < 1.35


def test_order_statistic_interval_is_exact_and_refuses_too_few_pairs():
    from mm_orch.gate.verdict import min_pairs, order_statistic_interval

    assert order_statistic_interval(np.arange(20.0), 0.5, 0.95) == (5.0, 14.0)  # ranks 6 and 15 of 20
    assert order_statistic_interval(np.arange(5.0), 0.5, 0.95) is None and min_pairs(0.5, 0.95) == 6
    # coverage: the interval holds the true median (1.0) in at least 95 % of 2000 draws of 8 pairs
    rng = np.random.default_rng(4)
    held = sum(lo <= 1.0 <= hi for lo, hi in (order_statistic_interval(rng.lognormal(0, 0.3, 8), 0.5, 0.95)
                                               for _ in range(2000)))
    assert held >= 0.95 * 2000


def test_run_labels_must_match_the_samples():
    with pytest.raises(ValueError, match="2 run labels for 3 samples"):
        compare("m", [1.0, 1.1, 1.2], [1.0, 1.1, 1.2], "lower_is_better", 5, baseline_runs=[0, 1])
