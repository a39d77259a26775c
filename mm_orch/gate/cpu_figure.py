"""The CPU figure the gate uses on a busy or drifting machine: CPU ms per output token over the step reference
raised to a slope fitted from the requests themselves.

Each request's CPU ms per token is timed beside the step reference (benchmark/step_reference.py, decode-like
work built with Transformers directly), so a request that ran while the host was slow pairs with a slow
reference. Dividing by the reference assumes the model's cost moves one-for-one with it; measured on the
2-core CI machine it moves more (log-log slope 1.0-1.25 within a run, 1.09 pooled over 12 runs), so a run
whose host was 40 % slower read ~6 % worse with an unchanged build (reports/ci_gate.md). Here the slope is
fitted on both sides' requests (logs centred per side, so the regression under test does not enter it; points
beyond 3 MADs of the fit dropped) and each request's figure is cpu_ms_per_token / step_reference ** slope.
With too few requests, or references too alike to fit a slope, the slope is 1 (the plain ratio).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MIN_POINTS = 12
MIN_SPREAD = 0.02  # sd of the centred log reference below this: the slope is not determined
SLOPE_RANGE = (0.5, 1.5)


def _logs(cpu: Sequence[float | None], step: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(c, s) for c, s in zip(cpu, step, strict=True) if c and s and c > 0 and s > 0]
    if not pairs:
        return np.empty(0), np.empty(0)
    arr = np.log(np.asarray(pairs, dtype=np.float64))
    return arr[:, 0], arr[:, 1]


def step_slope(sides: Sequence[tuple[Sequence[float | None], Sequence[float | None]]]) -> float | None:
    """The log-log slope of CPU ms per token on the step reference, pooled over the sides' requests (each side
    centred on its own medians); None when it cannot be fitted (then use 1)."""
    xs, ys = [], []
    for cpu, step in sides:
        y, x = _logs(cpu, step)
        if x.size:
            xs.append(x - np.median(x))
            ys.append(y - np.median(y))
    if not xs:
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    if x.size < MIN_POINTS or float(np.std(x)) < MIN_SPREAD:
        return None
    slope, icpt = np.polyfit(x, y, 1)
    resid = y - (slope * x + icpt)
    mad = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826
    keep = np.abs(resid - np.median(resid)) <= 3 * mad if mad > 0 else np.ones_like(x, dtype=bool)
    if keep.sum() >= MIN_POINTS:
        slope = np.polyfit(x[keep], y[keep], 1)[0]
    return float(np.clip(slope, *SLOPE_RANGE))


def figure(cpu: Sequence[float | None], step: Sequence[float | None], slope: float) -> list[float | None]:
    """Per request: cpu_ms_per_token / step_reference_cpu_ms ** slope (None where either is missing)."""
    return [c / s**slope if c and s and c > 0 and s > 0 else None for c, s in zip(cpu, step, strict=True)]
