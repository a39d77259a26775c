"""The regression verdict: PASS, FAIL or INCONCLUSIVE per metric, from sample distributions.

Why: a gate that compares one best number per side cannot tell a real 10-25 % regression from the noise of a
shared machine, so it either cries wolf or is set so loose (400 %) that it sees nothing. Here each gated metric
keeps its samples; the effect is the ratio current / baseline of a robust location (the median by default, or
any quantile) and its uncertainty is a bootstrap percentile confidence interval of that ratio:

* FAIL          the whole interval lies beyond the tolerance bound on the bad side (a regression larger than the
                tolerance, with at least the stated confidence);
* PASS          the whole interval lies within the tolerance (improvements of any size pass);
* INCONCLUSIVE  the interval straddles the bound: the samples cannot tell, and the gate says so.

The bound is a ratio: ``1 + tolerance`` for lower-is-better metrics (latency: current may be at most that much
slower), ``1 - tolerance`` for higher-is-better metrics (throughput: current may be at most that much lower).
The interval is two-sided at ``confidence``, so a one-sided FAIL or PASS holds at (1 + confidence) / 2 >=
confidence.

The bootstrap never materialises (n_boot x n) resamples. A resample's quantile is an order statistic of the
sorted samples, and the rank-r draw of a multinomial resample can be found by descending a binary split of the
index range: the number of the n draws that fall in the left half of a range is Binomial(draws, share of the
range). Following the branch that holds rank r takes ceil(log2 n) binomial draws per replicate, vectorised
over all replicates, so 2000 replicates cost the same for 30 samples as for 100 000 (a few ms) and the
resampling distribution is exactly that of the ordinary bootstrap. Interpolating quantiles need ranks r and
r + 1 of the same resample: both descend together until their branches part, then on their own (the two sides
of a split are independent given its counts).

Pure functions and pydantic models only: the CLI, the report and the JUnit/Markdown writers format what this
module decides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from mm_orch.errors import ConfigError

Direction = Literal["lower_is_better", "higher_is_better"]
Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]
OnInconclusive = Literal["pass", "fail", "warn"]

EXIT_PASS = 0
EXIT_FAIL = 1
# 0 success, 1 check failed, 2 usage/config, 3 engine failure and 130 interrupted are taken (DESIGN.md).
EXIT_INCONCLUSIVE = 4
MIN_SAMPLES = 3

_DIRECTIONS = ("lower_is_better", "higher_is_better")
_ON_INCONCLUSIVE = ("pass", "fail", "warn")


class MetricVerdict(BaseModel):
    """One gated metric: effect (ratio current / baseline of `statistic`), its interval and the verdict.

    ``detectable_pct`` is the smallest regression (in % of the baseline, in the metric's bad direction) that
    these samples would call FAIL at ``confidence`` under this tolerance, assuming a regression scales the
    current samples and leaves their spread as measured. It comes from the arm of the interval that faces
    the bound: scaling the current samples by k scales effect and interval by k, and FAIL (lower-is-better)
    needs ``k * ci_low > bound``, i.e. an effect above ``bound * effect / ci_low``; for higher-is-better an
    effect below ``bound * effect / ci_high``.
    ``halfwidth_pct`` is that arm alone: what the comparison resolves with a zero tolerance.
    """

    model_config = ConfigDict(extra="forbid")

    metric: str
    direction: Direction
    statistic: str
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    n_baseline: int
    n_current: int
    paired: bool = False
    tolerance_pct: float
    bound: float
    halfwidth_pct: float | None
    detectable_pct: float | None
    verdict: Verdict
    reason: str

    @property
    def effect_pct(self) -> float | None:
        """Signed change of the statistic in % of the baseline (+ means current is larger)."""
        return None if self.effect is None else (self.effect - 1.0) * 100.0


def _check_args(direction: str, tolerance_pct: float, confidence: float, n_boot: int, quantile: float) -> None:
    if direction not in _DIRECTIONS:
        raise ConfigError(f"direction must be one of {', '.join(_DIRECTIONS)}, not {direction!r}")
    if not (math.isfinite(tolerance_pct) and tolerance_pct >= 0):
        raise ConfigError(f"tolerance_pct must be a finite number >= 0, not {tolerance_pct!r}")
    if direction == "higher_is_better" and tolerance_pct >= 100:
        raise ConfigError(f"tolerance_pct for a higher-is-better metric must be below 100, not {tolerance_pct!r}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must lie strictly between 0 and 1, not {confidence!r}")
    if n_boot < 100:
        raise ConfigError(f"n_boot must be at least 100, not {n_boot!r}")
    if not 0 <= quantile <= 1:
        raise ConfigError(f"quantile must lie in [0, 1], not {quantile!r}")


def _statistic_name(quantile: float) -> str:
    return "median" if quantile == 0.5 else f"p{quantile * 100:g}"


def bootstrap_quantile(
    samples: Sequence[float] | np.ndarray, quantile: float, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """`n_boot` bootstrap replicates of ``np.quantile(samples, quantile)`` (linear interpolation).

    Exactly distributed as quantiles of n-out-of-n resamples with replacement, in O(n log n + n_boot log n)
    time and O(n + n_boot) memory (see the module docstring for the binary-split descent).
    """
    xs = np.sort(np.asarray(samples, dtype=np.float64))
    n = xs.size
    if n == 0:
        raise ValueError("bootstrap of an empty sample")
    h = (n - 1) * quantile
    r0 = int(math.floor(h))
    frac = h - r0
    r1 = min(r0 + 1, n - 1)
    # state of the two descents (ranks r0 and r1): index range [lo, hi), draws m in it, rank r within it
    lo_a = np.zeros(n_boot, dtype=np.int64)
    hi_a = np.full(n_boot, n, dtype=np.int64)
    m_a = np.full(n_boot, n, dtype=np.int64)
    r_a = np.full(n_boot, r0, dtype=np.int64)
    lo_b, hi_b, m_b = lo_a.copy(), hi_a.copy(), m_a.copy()
    r_b = np.full(n_boot, r1, dtype=np.int64)
    joined = np.ones(n_boot, dtype=bool)
    for _ in range((n - 1).bit_length()):  # ceil(log2 n) halvings bring every range to width 1
        # a range of width 1 has mid == lo, share 0, no draws to the left: it stays put
        mid_a = (lo_a + hi_a) // 2
        left_a = rng.binomial(m_a, (mid_a - lo_a) / (hi_a - lo_a))
        mid_b = (lo_b + hi_b) // 2
        left_b = np.where(joined, left_a, rng.binomial(m_b, (mid_b - lo_b) / (hi_b - lo_b)))
        go_a = r_a < left_a
        go_b = r_b < left_b
        hi_a = np.where(go_a, mid_a, hi_a)
        lo_a = np.where(go_a, lo_a, mid_a)
        r_a = np.where(go_a, r_a, r_a - left_a)
        m_a = np.where(go_a, left_a, m_a - left_a)
        hi_b = np.where(go_b, mid_b, hi_b)
        lo_b = np.where(go_b, lo_b, mid_b)
        r_b = np.where(go_b, r_b, r_b - left_b)
        m_b = np.where(go_b, left_b, m_b - left_b)
        joined &= go_a == go_b
    low = xs[lo_a]
    if frac == 0.0:
        return low
    return low + frac * (xs[lo_b] - low)


def bootstrap_quantile_by_run(
    samples: np.ndarray, runs: np.ndarray, quantile: float, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """`n_boot` replicates of the pooled quantile under a two-stage bootstrap: draw the runs with replacement,
    then each drawn run's samples with replacement (its own count). Requests of one run share that run's
    conditions (the process, the machine's state then), so resampling requests alone would ignore how far
    whole runs differ; this interval includes it. With k runs the run-to-run part is estimated from k values
    (and underestimated by (k - 1) / k), so it matters most when there are several."""
    labels = np.unique(runs)
    members = [np.flatnonzero(runs == lab) for lab in labels]
    sizes = np.array([m.size for m in members])
    k, width = labels.size, int(sizes.max())
    table = np.zeros((k, width), dtype=np.int64)
    for i, m in enumerate(members):
        table[i, : m.size] = m
    picked = rng.integers(0, k, size=(n_boot, k))
    counts = sizes[picked]
    pos = (rng.random((n_boot, k, width)) * counts[..., None]).astype(np.int64)
    values = samples[table[picked[..., None], pos]]
    values[np.arange(width)[None, None, :] >= counts[..., None]] = np.inf  # unused slots sort last
    ordered = np.sort(values.reshape(n_boot, -1), axis=1)
    h = (counts.sum(axis=1) - 1) * quantile  # np.quantile's linear interpolation over each replicate's own count
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, counts.sum(axis=1) - 1)
    low = np.take_along_axis(ordered, lo[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, hi[:, None], axis=1)[:, 0]
    return low + (h - lo) * (high - low)


def order_statistic_interval(samples: np.ndarray, quantile: float, confidence: float) -> tuple[float, float] | None:
    """The distribution-free interval for a quantile from order statistics: [x_(k), x_(n+1-k')] with k, k' the
    most inward ranks whose binomial tail (n, quantile) stays within (1 - confidence) / 2 on each side; None
    when even the extremes cannot reach the confidence (too few samples). Exact for any continuous
    distribution, so it holds for the handful of pairs of an A/B job, where a bootstrap of 3 values is far
    too sure of itself."""
    xs = np.sort(np.asarray(samples, dtype=np.float64))
    n, tail = xs.size, (1.0 - confidence) / 2

    def below(k: int, q: float) -> float:  # P(Binomial(n, q) < k)
        return sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k))

    lo = max((k for k in range(1, n + 1) if below(k, quantile) <= tail), default=None)
    hi = max((k for k in range(1, n + 1) if below(k, 1 - quantile) <= tail), default=None)
    if lo is None or hi is None:
        return None
    return float(xs[lo - 1]), float(xs[n - hi])


def min_pairs(quantile: float, confidence: float) -> int:
    """The fewest samples whose order-statistic interval for `quantile` reaches `confidence`."""
    n = 1
    while order_statistic_interval(np.arange(float(n)), quantile, confidence) is None:
        n += 1
    return n


def _clean(values: Sequence[float] | np.ndarray, runs: Sequence[int] | None = None
           ) -> tuple[np.ndarray, int, np.ndarray | None]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    ok = np.isfinite(arr)
    if runs is not None and len(runs) != arr.size:
        raise ValueError(f"{len(runs)} run labels for {arr.size} samples")
    kept_runs = None if runs is None else np.asarray(runs, dtype=np.int64)[ok]
    return arr[ok], int(arr.size - ok.sum()), kept_runs


def _resample(xs: np.ndarray, runs: np.ndarray | None, quantile: float, n_boot: int,
              rng: np.random.Generator) -> np.ndarray:
    if runs is not None and np.unique(runs).size >= 2:
        return bootstrap_quantile_by_run(xs, runs, quantile, n_boot, rng)
    return bootstrap_quantile(xs, quantile, n_boot, rng)


def _pct(x: float) -> str:
    return f"{(x - 1.0) * 100:+.1f} %"


def compare(
    metric: str,
    baseline_samples: Sequence[float] | np.ndarray,
    current_samples: Sequence[float] | np.ndarray,
    direction: Direction,
    tolerance_pct: float,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    paired: bool = False,
    quantile: float = 0.5,
    baseline_runs: Sequence[int] | None = None,
    current_runs: Sequence[int] | None = None,
) -> MetricVerdict:
    """Compare two sample sets of one metric and decide PASS / FAIL / INCONCLUSIVE (see the module docstring).

    Unpaired: effect = q(current) / q(baseline) with q the `quantile` (median by default); each side is
    resampled independently. Paired (``paired=True``, sample i of each side measured back to back): effect =
    q of the per-pair ratios current_i / baseline_i, so drift that hits both sides of a pair cancels, and the
    interval is the exact order-statistic one (`order_statistic_interval`): fewer than `min_pairs` pairs (6
    for the median at 95 %) are INCONCLUSIVE. Non-finite samples (and, paired, pairs with a non-finite or
    non-positive side) are dropped and counted in the reason. ``baseline_runs`` / ``current_runs`` label each
    sample with its run (--repeat): a side with two or more runs is resampled in two stages
    (`bootstrap_quantile_by_run`), so the interval includes how far whole runs differ. Fewer than 3 usable
    samples on a side, or a baseline location that is not positive, give INCONCLUSIVE with the reason, never
    an exception; bad arguments raise ConfigError.
    """
    _check_args(direction, tolerance_pct, confidence, n_boot, quantile)
    tol = tolerance_pct / 100.0
    bound = 1.0 + tol if direction == "lower_is_better" else 1.0 - tol
    name = _statistic_name(quantile)
    statistic = f"{name} of paired ratios" if paired else f"ratio of {name}s"

    def undecided(reason: str, nb: int, nc: int, effect: float | None = None) -> MetricVerdict:
        return MetricVerdict(
            metric=metric,
            direction=direction,
            statistic=statistic,
            effect=effect,
            ci_low=None,
            ci_high=None,
            confidence=confidence,
            n_baseline=nb,
            n_current=nc,
            paired=paired,
            tolerance_pct=tolerance_pct,
            bound=bound,
            halfwidth_pct=None,
            detectable_pct=None,
            verdict="INCONCLUSIVE",
            reason=reason,
        )

    rng = np.random.default_rng(seed)
    dropped_note = ""
    if paired:
        b_raw = np.asarray(baseline_samples, dtype=np.float64).ravel()
        c_raw = np.asarray(current_samples, dtype=np.float64).ravel()
        if b_raw.size != c_raw.size:
            raise ConfigError(
                f"paired comparison of '{metric}' needs equal sample counts, "
                f"got {b_raw.size} baseline and {c_raw.size} current"
            )
        ok = np.isfinite(b_raw) & np.isfinite(c_raw) & (b_raw > 0) & (c_raw > 0)
        dropped = int(b_raw.size - ok.sum())
        if dropped:
            dropped_note = f"; {dropped} pair(s) dropped (non-finite or non-positive)"
        ratios = c_raw[ok] / b_raw[ok]
        nb = nc = int(ratios.size)
        if nb < MIN_SAMPLES:
            return undecided(f"too few pairs ({nb} < {MIN_SAMPLES}) to decide{dropped_note}", nb, nc)
        effect = float(np.quantile(ratios, quantile))
        bounds = order_statistic_interval(ratios, quantile, confidence)
        if bounds is None:
            need = min_pairs(quantile, confidence)
            return undecided(f"{nb} pairs cannot bound their {name} at {confidence * 100:g} % (that takes at least "
                             f"{need}){dropped_note}", nb, nc, effect)
        ci_low, ci_high = bounds
    else:
        base, db, base_runs = _clean(baseline_samples, baseline_runs)
        cur, dc, cur_runs = _clean(current_samples, current_runs)
        if db or dc:
            dropped_note = f"; {db} baseline and {dc} current non-finite sample(s) dropped"
        nb, nc = int(base.size), int(cur.size)
        if nb < MIN_SAMPLES or nc < MIN_SAMPLES:
            return undecided(
                f"too few samples (baseline {nb}, current {nc}; need {MIN_SAMPLES} each side) to decide{dropped_note}",
                nb,
                nc,
            )
        q_base = float(np.quantile(base, quantile))
        if not q_base > 0:
            return undecided(f"baseline {name} is {q_base:g}, not positive: a ratio is undefined{dropped_note}", nb, nc)
        effect = float(np.quantile(cur, quantile)) / q_base
        boot_base = _resample(base, base_runs, quantile, n_boot, rng)
        boot_cur = _resample(cur, cur_runs, quantile, n_boot, rng)
        if np.any(boot_base <= 0):
            return undecided(
                f"some resampled baseline {name}s are not positive: a ratio is undefined{dropped_note}", nb, nc, effect
            )
        alpha = 1.0 - confidence
        ci_low, ci_high = (float(v) for v in np.quantile(boot_cur / boot_base, [alpha / 2, 1 - alpha / 2]))
    # the percentile interval need not contain the point estimate for tiny samples; keep the arm non-negative
    if direction == "lower_is_better":
        arm = max(effect / ci_low, 1.0) if ci_low > 0 else math.inf
        detectable = (bound * arm - 1.0) * 100.0
    else:
        arm = max(ci_high / effect, 1.0) if effect > 0 else math.inf
        detectable = (1.0 - bound / arm) * 100.0
    halfwidth = (arm - 1.0) * 100.0
    halfwidth_pct = halfwidth if math.isfinite(halfwidth) else None
    detectable_pct = detectable if math.isfinite(detectable) else None

    if direction == "lower_is_better":
        fail, ok_pass = ci_low > bound, ci_high <= bound
        worse = "slower/larger"
    else:
        fail, ok_pass = ci_high < bound, ci_low >= bound
        worse = "lower"
    conf = f"{confidence * 100:g} %"
    interval = f"{_pct(effect)} [{_pct(ci_low)}, {_pct(ci_high)}] at {conf}"
    tol_txt = f"tolerance {tolerance_pct:g} % {worse}"
    det = f"detects >= {detectable_pct:.1f} %" if detectable_pct is not None else "detects nothing"
    if fail:
        verdict: Verdict = "FAIL"
        reason = f"regression beyond {tol_txt}: {interval}"
    elif ok_pass:
        verdict = "PASS"
        reason = f"within {tol_txt}: {interval}"
    else:
        verdict = "INCONCLUSIVE"
        reason = f"interval straddles the {tol_txt}: {interval}"
    reason = f"{reason}; {det} (n {nb}/{nc}){dropped_note}"
    return MetricVerdict(
        metric=metric,
        direction=direction,
        statistic=statistic,
        effect=effect,
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        n_baseline=nb,
        n_current=nc,
        paired=paired,
        tolerance_pct=tolerance_pct,
        bound=bound,
        halfwidth_pct=halfwidth_pct,
        detectable_pct=detectable_pct,
        verdict=verdict,
        reason=reason,
    )


def overall(verdicts: Iterable[MetricVerdict | Verdict]) -> Verdict:
    """Any FAIL -> FAIL, else any INCONCLUSIVE -> INCONCLUSIVE, else PASS.

    Nothing gated is INCONCLUSIVE, not PASS: a gate with no evidence must not pass silently.
    """
    seen = [v.verdict if isinstance(v, MetricVerdict) else v for v in verdicts]
    if "FAIL" in seen:
        return "FAIL"
    if not seen or "INCONCLUSIVE" in seen:
        return "INCONCLUSIVE"
    return "PASS"


def exit_code(verdict: Verdict, on_inconclusive: OnInconclusive | None = None) -> int:
    """CLI exit code of an overall verdict: PASS 0, FAIL 1, INCONCLUSIVE 4 (EXIT_INCONCLUSIVE).

    ``on_inconclusive`` (``--on-inconclusive``) maps INCONCLUSIVE to 0 ("pass"), 1 ("fail") or 0 ("warn": the
    caller prints a warning); None keeps the distinct code 4.
    """
    if on_inconclusive is not None and on_inconclusive not in _ON_INCONCLUSIVE:
        raise ConfigError(f"--on-inconclusive must be one of {', '.join(_ON_INCONCLUSIVE)}, not {on_inconclusive!r}")
    if verdict == "PASS":
        return EXIT_PASS
    if verdict == "FAIL":
        return EXIT_FAIL
    if verdict != "INCONCLUSIVE":
        raise ValueError(f"unknown verdict {verdict!r}")
    if on_inconclusive is None:
        return EXIT_INCONCLUSIVE
    return EXIT_FAIL if on_inconclusive == "fail" else EXIT_PASS


class GateResult(BaseModel):
    """All verdicts of one gate run, the overall verdict and which figure each metric was gated on.

    ``gated_figures`` maps a metric to a note such as "cpu: machine busy (load 1.9 per CPU)", so the report
    says which figure (wall, CPU or device time) decided. Build it with `GateResult.build`; a stored result
    whose `overall` disagrees with its verdicts is rejected.
    """

    model_config = ConfigDict(extra="forbid")

    verdicts: list[MetricVerdict]
    overall: Verdict
    on_inconclusive: OnInconclusive | None = None
    gated_figures: dict[str, str] = {}
    notes: list[str] = []

    @model_validator(mode="after")
    def _consistent(self) -> GateResult:
        expected = overall(self.verdicts)
        if self.overall != expected:
            raise ValueError(f"overall is {self.overall} but the verdicts give {expected}")
        return self

    @classmethod
    def build(
        cls,
        verdicts: Sequence[MetricVerdict],
        on_inconclusive: OnInconclusive | None = None,
        gated_figures: dict[str, str] | None = None,
        notes: Sequence[str] = (),
    ) -> GateResult:
        return cls(
            verdicts=list(verdicts),
            overall=overall(verdicts),
            on_inconclusive=on_inconclusive,
            gated_figures=dict(gated_figures or {}),
            notes=list(notes),
        )

    def exit_code(self) -> int:
        return exit_code(self.overall, self.on_inconclusive)

    def warning(self) -> str | None:
        """The one line to print when INCONCLUSIVE was let through as a warning, else None."""
        if self.overall == "INCONCLUSIVE" and self.on_inconclusive == "warn":
            undecided = [v.metric for v in self.verdicts if v.verdict == "INCONCLUSIVE"]
            what = ", ".join(undecided) if undecided else "nothing was gated"
            return f"gate INCONCLUSIVE (exit 0 by --on-inconclusive warn): {what}"
        return None

    def table_headers(self) -> tuple[str, str, str, str, str]:
        conf = self.verdicts[0].confidence if self.verdicts else 0.95
        return ("metric", "effect", f"{conf * 100:g} % CI", "n (base/cur)", "verdict")

    def table_rows(self) -> list[tuple[str, str, str, str, str]]:
        """(metric, effect %, CI, n, verdict) strings, the same for the console, Markdown and JUnit."""
        rows = []
        for v in self.verdicts:
            effect = "n/a" if v.effect is None else _pct(v.effect)
            ci = "n/a" if v.ci_low is None or v.ci_high is None else f"[{_pct(v.ci_low)}, {_pct(v.ci_high)}]"
            n = f"{v.n_current} pairs" if v.paired else f"{v.n_baseline}/{v.n_current}"
            rows.append((v.metric, effect, ci, n, v.verdict))
        return rows
