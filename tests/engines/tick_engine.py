"""A test-only engine plug-in, written the way a new engine is: one module that registers itself with its
settings model and its CLI flag. Nothing else in mm_orch is edited for it (tests/engines/test_plugin.py).

It "generates" token ids counting up from the prompt's last id, one every token_ms milliseconds after a first
token at ttft_ms, on the host clock: a real engine with known timing, so measured TTFT and TPOT can be checked.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.engines.base import Engine, GenerationRequest, ModelInfo, RequestRecord, TokenCallback, now_ns
from mm_orch.engines.registry import register_engine
from mm_orch.monitor import memory
from mm_orch.monitor.snapshot import MemorySnapshot

VOCAB = 1000


class TickSettings(BaseModel):
    """engine.tick: the test engine's own settings."""

    model_config = ConfigDict(extra="forbid")
    ttft_ms: float = Field(20.0, ge=0, description="Delay before the first token, ms.")
    token_ms: float = Field(5.0, ge=0, description="Delay between tokens, ms.")


class TickEngine(Engine):
    name = "tick"

    def __init__(self, model_name: str, settings: TickSettings) -> None:
        self.model_name, self.settings, self.loaded = model_name, settings, False

    @classmethod
    def from_config(cls, model_name: str, cfg) -> TickEngine:
        return cls(model_name, cfg.engine.section("tick"))

    def load(self) -> ModelInfo:
        self.loaded = True
        return ModelInfo(self.model_name, None, 1, 1, 8, "float32", 4, "cpu", "auto", vocab_size=VOCAB,
                         max_context=4096)

    def stream(self, request: GenerationRequest, on_token: TokenCallback | None = None) -> RequestRecord:
        ids = request.prompt_token_ids or self.encode(request.prompt or "")
        rec = RequestRecord(start_ns=now_ns(), input_tokens=len(ids))
        token = ids[-1] if ids else 0
        for i in range(request.max_new_tokens):
            time.sleep((self.settings.ttft_ms if i == 0 else self.settings.token_ms) / 1e3)
            token = (token + 1) % VOCAB
            rec.token_times_ns.append(now_ns())
            rec.output_token_ids.append(token)
            if on_token is not None:
                on_token(token, rec.token_times_ns[-1])
        rec.output_tokens, rec.end_ns = len(rec.output_token_ids), now_ns()
        return rec

    def generate(self, requests: list[GenerationRequest]) -> list[RequestRecord]:
        return [self.stream(r) for r in requests]

    def memory_snapshot(self) -> MemorySnapshot:
        return memory.snapshot("cpu")

    def encode(self, text: str) -> list[int]:
        return [b % VOCAB for b in text.encode()]

    def vocab_token_ids(self) -> list[int]:
        return list(range(VOCAB))

    def close(self) -> None:
        self.loaded = False


register_engine("tick", TickEngine, settings=TickSettings, flags={"token_ms": "--tick-token-ms"},
                description="test-only: tokens on a fixed clock")
