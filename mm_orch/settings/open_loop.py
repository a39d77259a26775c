"""The open-loop test's settings beyond its schedule, which a report records: the steady window (warm-up and
cool-down trimming), the max-rate-at-SLO search and trace replay. Pydantic only (config.py imports it)."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator


class SteadySettings(BaseModel):
    """Which measured requests count: those due inside the steady window. The first requests of a schedule meet
    an idle server and the last ones a draining one; both flatter the latency of a loaded one. Each edge is
    trimmed by time (seconds of the schedule) and/or by count (requests); with both, the larger cut wins."""

    model_config = ConfigDict(extra="forbid")
    start_seconds: float = Field(0.0, ge=0, description="Requests due in the schedule's first S seconds are sent "
                                 "but not counted (warm-up).")
    start_requests: StrictInt = Field(0, ge=0, description="The schedule's first N requests are sent but not counted.")
    end_seconds: float = Field(0.0, ge=0, description="Requests due in the schedule's last S seconds are sent but "
                               "not counted (cool-down).")
    end_requests: StrictInt = Field(0, ge=0, description="The schedule's last N requests are sent but not counted.")

    @property
    def trims(self) -> bool:
        return bool(self.start_seconds or self.start_requests or self.end_seconds or self.end_requests)

    def rule(self) -> str:
        """The trimming in words, e.g. 'first 5 s and last 20 requests not counted'."""
        def edge(seconds: float, requests: int, where: str) -> str | None:
            parts = [f"{seconds:g} s"] * bool(seconds) + [f"{requests} requests"] * bool(requests)
            return f"{where} {' or '.join(parts)} (the larger cut)" if len(parts) > 1 else (
                f"{where} {parts[0]}" if parts else None)

        edges = [e for e in (edge(self.start_seconds, self.start_requests, "first"),
                             edge(self.end_seconds, self.end_requests, "last")) if e]
        return " and ".join(edges) + " not counted" if edges else "every request counted"


class SloSearchSettings(BaseModel):
    """--request-rate max-slo: the highest rate whose requests meet the SLO at slo_percentile (load/max_rate.py
    drives load/slo_search.py with probes of the real load test)."""

    model_config = ConfigDict(extra="forbid")
    lo_rps: float | None = Field(None, gt=0, description="First rate probed (must meet the SLO); None = "
                                 "sweep_low_fraction x the maximum a burst finds.")
    hi_rps: float | None = Field(None, gt=0, description="Rate probed second (should fail the SLO); None = 1.2 x the "
                                 "burst's maximum (above capacity no SLO holds); with lo_rps and hi_rps both given, "
                                 "no burst runs.")
    rel_precision: float = Field(0.03, gt=0, lt=1, description="Bisection stops when its bracket is this narrow "
                                 "(relative).")
    target_ci: float = Field(0.05, gt=0, lt=1, description="Refining probes are added until the answer's interval "
                             "half-width is within this share of it.")
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence of the verdicts and of the interval.")
    max_probes: StrictInt = Field(40, ge=2, le=500, description="Most probes (the search stops and says so).")
    min_probe_seconds: float = Field(10.0, gt=0, description="Shortest probe (its steady part); a probe lasts long "
                                     "enough for its percentile: ceil(10 / (1 - p/100)) requests or more.")
    max_probe_seconds: float | None = Field(None, gt=0, description="Longest probe (steady part), below "
                                            "min_probe_seconds too; None = no cap.")
    warmup_fraction: float = Field(0.1, ge=0, lt=1, description="Each probe first runs this share of its length "
                                   "more, not counted (the queue filling up).")
    early_stop: bool = Field(True, description="Stop a probe at half time when its queue grows without bound "
                             "(over capacity: a failure whatever its shares).")

    @model_validator(mode="after")
    def _order(self) -> SloSearchSettings:
        if self.lo_rps is not None and self.hi_rps is not None and not self.hi_rps > self.lo_rps:
            raise ValueError(f"hi_rps ({self.hi_rps:g}) must be above lo_rps ({self.lo_rps:g})")
        return self


class TraceSettings(BaseModel):
    """--trace FILE: replay a production trace's arrival times and token lengths (load/trace.py reads Mooncake
    JSONL, Azure LLM inference CSV and BurstGPT CSV, told by content)."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, description="The trace file.")
    speed: float = Field(1.0, gt=0, description="Time compression: 4 = replayed four times faster than recorded.")
    limit: StrictInt | None = Field(None, ge=1, description="Replay only the first N replayable requests.")

    @model_validator(mode="after")
    def _finite(self) -> TraceSettings:
        if not math.isfinite(self.speed):
            raise ValueError("speed must be finite")
        return self
