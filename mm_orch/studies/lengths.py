"""Token lengths drawn from a distribution (fixed, uniform, normal, lognormal), seeded and clipped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import numpy as np


class LengthSpec(BaseModel):
    """How many tokens: `mean` exactly (fixed), or drawn from a distribution and clipped to [min, max]."""

    model_config = ConfigDict(extra="forbid")
    dist: Literal["fixed", "uniform", "normal", "lognormal"] = Field(
        "fixed", description="fixed: always mean; uniform: [min, max]; normal: mean, spread = std dev; "
        "lognormal: mean and spread (std dev) of the lengths themselves, not of their logarithm.")
    mean: int = Field(128, ge=1, description="Mean (or the fixed) length in tokens.")
    spread: float = Field(0.0, ge=0, description="Standard deviation in tokens (normal, lognormal).")
    min: int = Field(1, ge=1, description="Shortest length drawn (tokens).")
    max: int | None = Field(None, ge=1, description="Longest length drawn (tokens); None = no bound "
                            "(uniform needs one).")

    @model_validator(mode="after")
    def _bounds(self) -> LengthSpec:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        if self.dist == "uniform" and self.max is None:
            raise ValueError("a uniform length needs max")
        return self


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
