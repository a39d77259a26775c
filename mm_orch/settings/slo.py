"""Service-level objectives for goodput (pydantic only: the config imports it, so no numpy here)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

SLO_KEYS = ("ttft_ms", "tpot_ms", "e2e_ms")


class SLO(BaseModel):
    """Upper bounds a request must meet to count towards goodput; an objective left out is not checked."""

    model_config = ConfigDict(extra="forbid")
    ttft_ms: float | None = Field(None, gt=0, description="Most time to first token, ms.")
    tpot_ms: float | None = Field(None, gt=0, description="Most time per output token after the first, ms.")
    e2e_ms: float | None = Field(None, gt=0, description="Most end-to-end latency, ms.")

    @model_validator(mode="after")
    def _one_objective(self) -> SLO:
        if self.ttft_ms is None and self.tpot_ms is None and self.e2e_ms is None:
            raise ValueError("an SLO needs at least one of ttft_ms, tpot_ms, e2e_ms")
        return self

    def objectives(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}
