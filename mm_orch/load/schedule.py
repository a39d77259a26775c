"""When each open-loop request is due: arrival offsets precomputed from a seed. No clocks, no I/O.

Gamma arrivals: inter-arrival gaps ~ Gamma(shape=B, scale=1/(R*B)), mean 1/R for every burstiness B;
B = 1 is a Poisson process, B < 1 burstier, B > 1 more even. Constant: gaps of exactly 1/R. An infinite
rate puts every request at offset 0 (with a concurrency cap that is a closed loop of cap clients).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mm_orch.errors import ConfigError


class ScheduleSpec(BaseModel):
    """The arrival process of an open-loop run."""

    # an infinite rate is written "Infinity" (JSON has no inf; null would not read back as a rate)
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")
    request_rate: float = Field(10.0, gt=0, description="Mean requests per second; inf = all at once.")
    arrivals: Literal["gamma", "constant"] = Field("gamma", description="gamma (burstiness 1 = Poisson) or "
                                                   "constant spacing.")
    burstiness: float = Field(1.0, gt=0, description="Gamma shape: 1 = Poisson, < 1 burstier, > 1 more even.")
    num_requests: int | None = Field(100, ge=1, description="Measured requests (warm-up not included).")
    duration_seconds: float | None = Field(None, gt=0, description="Schedule length limit in seconds; with "
                                           "num_requests, whichever ends first.")
    seed: int = Field(0, description="Seed of the arrival times (same seed, same schedule).")
    exact_rate: bool = Field(False, description="Stretch the drawn gaps so that the schedule's rate (first to last "
                             "due) is exactly request_rate, the arrivals' shape kept: a short random schedule's "
                             "rate differs from its mean (the saturation curve sets this).")

    @model_validator(mode="after")
    def _bounded(self) -> ScheduleSpec:
        if self.num_requests is None and self.duration_seconds is None:
            raise ValueError("give num_requests or duration_seconds (or both)")
        if math.isinf(self.request_rate) and self.num_requests is None:
            raise ValueError("an infinite request_rate needs num_requests")
        return self


def arrival_offsets_ns(spec: ScheduleSpec, max_requests: int = 10_000_000) -> list[int]:
    """Due times in ns after the start of the run, ascending; the first request is due at 0."""
    import numpy as np

    if math.isinf(spec.request_rate):
        return [0] * int(spec.num_requests)
    cap = spec.num_requests or max_requests
    if spec.duration_seconds is not None:  # enough gaps to pass the duration, with a wide margin
        cap = min(cap, int(spec.duration_seconds * spec.request_rate * 1.5 + 50 * math.sqrt(
            spec.duration_seconds * spec.request_rate / spec.burstiness) + 10))
    if cap > max_requests:
        raise ConfigError(f"the schedule would hold {cap} requests (more than {max_requests}); lower the rate or "
                          "the duration")
    mean_s = 1.0 / spec.request_rate
    if spec.arrivals == "constant":
        gaps = np.full(cap - 1, mean_s)
    else:
        rng = np.random.default_rng(spec.seed)
        gaps = rng.gamma(shape=spec.burstiness, scale=mean_s / spec.burstiness, size=cap - 1)
    offsets = np.concatenate([[0.0], np.cumsum(gaps)])
    if spec.exact_rate and cap > 1 and offsets[-1] > 0:
        offsets *= (cap - 1) / spec.request_rate / offsets[-1]
    if spec.duration_seconds is not None:
        offsets = offsets[offsets < spec.duration_seconds]
    return [int(x * 1e9) for x in offsets]


def schedule_rate(offsets_ns: list[int]) -> float | None:
    """The rate the drawn schedule actually has (a Poisson sample differs from its mean rate)."""
    if len(offsets_ns) < 2 or offsets_ns[-1] == offsets_ns[0]:
        return None
    return (len(offsets_ns) - 1) / ((offsets_ns[-1] - offsets_ns[0]) / 1e9)
