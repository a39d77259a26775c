"""Generation (sampling) settings shared by every request of a run: benchmark.generation in the YAML."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class GenerationSettings(BaseModel):
    """Decoding parameters; the defaults are greedy decoding (temperature 0), as before."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    temperature: float = Field(0.0, ge=0, description="0 = greedy; > 0 samples (top_k/top_p then apply).")
    top_k: StrictInt = Field(0, ge=0, description="Sample from the k most likely tokens; 0 = no limit.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling: smallest set of tokens with this mass.")
    num_beams: StrictInt = Field(1, ge=1, description="Beam search width (hf engine only; tokens then arrive at the "
                           "end, so TTFT equals E2E).")
    seed: StrictInt | None = Field(None, description="Sampling seed per request; None = the engine's seed.")

    def request_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of GenerationRequest."""
        return self.model_dump()
