"""A synthetic request's input or output length: fixed, uniform, normal or lognormal (drawn in studies/lengths.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator


class LengthSpec(BaseModel):
    """How many tokens: `mean` exactly (fixed), or drawn from a distribution and clipped to [min, max]."""

    model_config = ConfigDict(extra="forbid")
    dist: Literal["fixed", "uniform", "normal", "lognormal"] = Field(
        "fixed", description="fixed: always mean; uniform: [min, max]; normal: mean, spread = std dev; "
        "lognormal: mean and spread (std dev) of the lengths themselves, not of their logarithm.")
    mean: StrictInt = Field(128, ge=1, description="Mean (or the fixed) length in tokens.")
    spread: float = Field(0.0, ge=0, description="Standard deviation in tokens (normal, lognormal).")
    min: StrictInt = Field(1, ge=1, description="Shortest length drawn (tokens).")
    max: StrictInt | None = Field(None, ge=1, description="Longest length drawn (tokens); None = no bound "
                            "(uniform needs one).")

    @model_validator(mode="after")
    def _bounds(self) -> LengthSpec:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        if self.dist == "uniform" and self.max is None:
            raise ValueError("a uniform length needs max")
        return self
