"""Token lengths drawn from a distribution (fixed, uniform, normal, lognormal), seeded and clipped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mm_orch.settings.lengths import LengthSpec

if TYPE_CHECKING:
    import numpy as np


def sample_lengths(spec: LengthSpec, n: int, rng: np.random.Generator) -> list[int]:
    """n lengths from spec; the same rng state gives the same lengths."""
    import numpy as np  # here, not at the top: the config imports this module

    if spec.dist == "fixed":
        x = np.full(n, float(spec.mean))
    elif spec.dist == "uniform":
        x = rng.integers(spec.min, spec.max + 1, size=n).astype(float)
    elif spec.dist == "normal":
        x = rng.normal(spec.mean, spec.spread, size=n)
    else:  # lognormal with the given mean and std of the lengths: solve for the log-space parameters
        sigma2 = np.log1p((spec.spread / spec.mean) ** 2)
        x = rng.lognormal(np.log(spec.mean) - sigma2 / 2, np.sqrt(sigma2), size=n)
    hi = spec.max if spec.max is not None else np.inf
    return [int(v) for v in np.clip(np.rint(x), spec.min, hi)]
