"""Statistics of the max-rate-at-SLO search (load/slo_search.py): the Wilson interval of a met share, the effective
size of a clustered pass/fail sequence, and the quasi-binomial logistic fit of the fail share against the rate with
Student's t interval of its crossing. Pure functions, numpy only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist


def wilson(k: float, n: float, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a binomial share k/n (two-sided at confidence); n may be an effective size."""
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = min(1.0, max(0.0, k / n))
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def effective_n(met: Sequence[bool], gap: int = 10) -> float:
    """Effective sample size of a pass/fail sequence in arrival order (regenerative / cluster estimate).

    In a queue one slow stretch fails many consecutive requests, so n of them carry less evidence than n coin
    flips. The sequence is cut into cycles, each starting at a cluster of failures (failures less than `gap`
    passes apart); cycles are nearly independent, and the ratio estimator's variance over them gives the
    share's variance, hence n_eff = p (1 - p) / var. (Against the capped mock's exact queue it recovers
    75-90 % of the true variance, where batch means of 50 requests recover half.) Never above n; n when the
    sequence cannot tell (all met or none)."""
    import numpy as np

    fail = ~np.asarray(met, dtype=bool)
    n, k = fail.size, int(fail.sum())
    if k == 0 or k == n:
        return float(n)
    idx = np.flatnonzero(fail)
    starts = idx[np.concatenate(([True], np.diff(idx) > gap))]
    bounds = np.unique(np.concatenate(([0], starts, [n])))
    cum = np.concatenate(([0], np.cumsum(fail)))
    f_cycle = cum[bounds[1:]] - cum[bounds[:-1]]
    n_cycle = np.diff(bounds)
    c = f_cycle.size
    r = k / n
    var = float(((f_cycle - r * n_cycle) ** 2).sum()) / n**2 * (c / (c - 1) if c > 1 else 1.0)
    if var <= 0:
        return float(n)
    return float(min(n, max(1.0, r * (1 - r) / var)))


def fit_logistic(
    probes: list[tuple[float, int, int]], p: float, confidence: float, min_dispersion: float = 1.0
) -> tuple[float, float] | None:
    """Quasi-binomial logistic regression of the fail share on rate, one row per probe (rate, fails, n):
    (the rate where the fail share is 1 - p, the half-width of its interval at the confidence); None when the
    data cannot place it (fewer than 4 probes, or 2 rates, or 2 probes with failures; no rise).

    Requests in a queue fail in clusters, so the binomial variance is too small by a factor (the dispersion)
    that is estimated from the probes' scatter about the line (Pearson chi-square / (probes - 2)) and the
    interval uses Student's t: independent probes are the honest replicates, however their requests cluster.
    min_dispersion (the probes' own clustering estimate) keeps a lucky small scatter from narrowing it.
    Fitted by iteratively reweighted least squares (weights from fitted, not observed, shares: a handful of
    failures per probe would bias a fit on observed ones)."""
    import numpy as np

    if len(probes) < 4 or len({r for r, _, _ in probes}) < 2 or sum(1 for _, k, _ in probes if k > 0) < 2:
        return None
    r, k, n = (np.asarray(c, dtype=float) for c in zip(*probes, strict=True))
    y = k / n
    r0 = float(np.average(r, weights=n))
    X = np.column_stack([np.ones_like(r), r - r0])
    y_bar = float(np.clip(k.sum() / n.sum(), 1e-6, 1 - 1e-6))
    beta = np.array([math.log(y_bar / (1 - y_bar)), 0.0])
    for _ in range(100):
        mu = sigmoid(X @ beta)
        v = np.clip(mu * (1 - mu), 1e-12, None)
        xtw = X.T * (n * v)
        try:
            step = np.linalg.solve(xtw @ X, X.T @ (n * (y - mu)))
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-9:
            break
    else:
        return None
    a, b = float(beta[0]), float(beta[1])
    if not (b > 0 and math.isfinite(a)):
        return None
    mu = sigmoid(X @ beta)
    v = np.clip(mu * (1 - mu), 1e-12, None)
    dof = len(probes) - 2
    dispersion = max(1.0, min_dispersion, float((n * (y - mu) ** 2 / v).sum()) / dof)
    cov = np.linalg.inv((X.T * (n * v)) @ X) * dispersion
    x_star = (math.log((1 - p) / p) - a) / b
    grad = np.array([-1 / b, -x_star / b])  # d x_star / d (a, b)
    half = t_quantile(0.5 + confidence / 2, dof) * math.sqrt(max(float(grad @ cov @ grad), 0.0))
    return x_star + r0, half


def sigmoid(x):
    import numpy as np

    return 1 / (1 + np.exp(-np.clip(x, -500, 500)))  # clipped: a diverging fit must not overflow


def t_quantile(q: float, dof: int) -> float:
    """Student's t quantile (exact for 1 and 2 degrees of freedom, a Cornish-Fisher series beyond: within
    1 % from 3 on), so that no scipy is needed."""
    if dof == 1:
        return math.tan(math.pi * (q - 0.5))
    if dof == 2:
        return (2 * q - 1) * math.sqrt(2 / (4 * q * (1 - q)))
    z = NormalDist().inv_cdf(q)
    v = float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )
