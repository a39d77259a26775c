"""Summaries of alpha and divergence records (pure numpy, host side)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mm_orch.engines.optimal_sampling.alpha import STAT_NAMES


def valid_mask(shape: tuple[int, int], lengths: list[int]) -> np.ndarray:
    """[steps, B] True where a row really generated the token."""
    steps = np.arange(shape[0])[:, None]
    return steps < np.asarray(lengths)[None, :]


def alpha_summary(alpha: np.ndarray, stats: np.ndarray | None, lengths: list[int]) -> dict[str, Any]:
    """alpha_values_summary over every generated token of one batch ([steps, B] records cut to lengths)."""
    m = valid_mask(alpha.shape, lengths)
    return alpha_values_summary(alpha[m], stats[m] if stats is not None else None)


def alpha_values_summary(a: np.ndarray, stats: np.ndarray | None) -> dict[str, Any]:
    """Mean, std, min, max, percentiles, a 20-bin histogram on [0, 1], the extreme fractions and the
    mean of each divergence statistic; a: alpha per token [N], stats: [N, len(STAT_NAMES)]."""
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {"count": 0}
    hist, edges = np.histogram(a, bins=20, range=(0.0, 1.0))
    out: dict[str, Any] = {
        "count": int(a.size), "mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
        "max": float(a.max()),
        **{f"p{q}": float(np.percentile(a, q)) for q in (5, 25, 50, 75, 95)},
        "histogram": {"counts": hist.tolist(), "edges": [round(float(e), 4) for e in edges]},
        "frac_below_0.01": float((a < 0.01).mean()), "frac_above_0.99": float((a > 0.99).mean()),
    }
    if stats is not None:
        out["divergences"] = {n: float(np.nanmean(stats[:, i])) if np.isfinite(stats[:, i]).any() else None
                              for i, n in enumerate(STAT_NAMES)}
    return out


class AlphaLog:
    """Alpha and divergence values of every token generated since the last reset, for run-wide summaries."""

    def __init__(self) -> None:
        self.alpha: list[np.ndarray] = []
        self.stats: list[np.ndarray] = []

    def add(self, alpha: np.ndarray, stats: np.ndarray | None, lengths: list[int]) -> None:
        m = valid_mask(alpha.shape, lengths)
        self.alpha.append(alpha[m])
        if stats is not None:
            self.stats.append(stats[m])

    def summary(self) -> dict[str, Any]:
        if not self.alpha:
            return {"count": 0}
        stats = np.concatenate(self.stats) if len(self.stats) == len(self.alpha) else None
        return alpha_values_summary(np.concatenate(self.alpha), stats)
