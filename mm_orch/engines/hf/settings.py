"""engine.hf: the Transformers engine's own settings (validated by the config; the engine is built from them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

AttnImplementation = Literal["eager", "sdpa", "flash_attention_2", "flash_attention_3", "flash_attention_4",
                             "flex_attention"]


class HFEngineSettings(BaseModel):
    """engine.hf: the Transformers engine's own settings."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    # an enum, never a free string: Transformers would fetch and import a hub kernel repo named here
    attn_implementation: AttnImplementation | None = Field(None, description="Attention kernel; None = default.")
    static_cache: bool = Field(False, description="Static KV cache + torch.compile (CUDA graphs) decode.")
    quantization: Literal["8bit", "4bit"] | None = Field(
        None, description="bitsandbytes weights: 8bit (LLM.int8()) or 4bit (NF4), CUDA or CPU; mm_orch[quant].")
    decode_loop: Literal["auto", "generate", "static"] = Field(
        "auto", description="generate = Transformers generate; static = static KV cache loop with CUDA-graph "
        "steps (eager on CPU); auto = static on CUDA, generate on CPU.")
    cpu_threads: Literal["auto"] | Annotated[int, Field(ge=1, le=1024)] = Field(
        "auto", description="torch threads on CPU; auto = the faster of 1 and all cores for one decode step.")

    @field_validator("cpu_threads", mode="before")
    @classmethod
    def _one_line_threads_error(cls, v: Any) -> Any:
        """One plain message instead of pydantic's per-branch union errors."""
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1024):
            return v
        raise ValueError(f"must be 'auto' or a whole number of threads from 1 to 1024, got {v!r}")
