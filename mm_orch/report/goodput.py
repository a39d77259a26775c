"""Goodput's result: how many requests met every objective of an SLO (computed by benchmark/goodput.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.settings.slo import SLO


class GoodputResult(BaseModel):
    """How many requests met every objective of the SLO over one measured phase."""

    model_config = ConfigDict(extra="forbid")
    slo: SLO = Field(description="The objectives checked.")
    requests: int = Field(description="Requests in the phase, failed ones included.")
    met: int = Field(description="Requests that succeeded and met every objective.")
    share_met: float | None = Field(description="met / requests; None for no requests.")
    goodput_rps: float | None = Field(description="met / wall time of the phase (requests per second).")
    missed_by: dict[str, int] = Field(description="Per objective, the successful requests that missed it.")
    failed: int = Field(description="Requests that failed (they count as missing every objective).")
    percentile: float | None = Field(None, description="The SLO's percentile (benchmark.load.slo_percentile), where "
                                     "the verdict is given.")
    held: bool | None = Field(None, description="Every objective met by at least `percentile` % of the requests (a "
                              "failed request meets none): 'p99 TTFT <= 200 ms held'.")
