"""The arrival process of an open-loop run, as settings (load/schedule.py draws the due times from it)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator


class ScheduleSpec(BaseModel):
    """The arrival process of an open-loop run."""

    # an infinite rate is written "Infinity" (JSON has no inf; null would not read back as a rate)
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")
    request_rate: float = Field(10.0, gt=0, description="Mean requests per second; inf = all at once.")
    arrivals: Literal["gamma", "constant"] = Field("gamma", description="gamma (burstiness 1 = Poisson) or "
                                                   "constant spacing.")
    burstiness: float = Field(1.0, gt=0, description="Gamma shape: 1 = Poisson, < 1 burstier, > 1 more even.")
    num_requests: StrictInt | None = Field(100, ge=1, description="Measured requests (warm-up not included).")
    duration_seconds: float | None = Field(None, ge=0.01, description="Schedule length limit in seconds (at least "
                                           "10 ms); with "
                                           "num_requests, whichever ends first.")
    seed: StrictInt = Field(0, description="Seed of the arrival times (same seed, same schedule).")
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
