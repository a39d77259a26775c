"""Parts of the `load` section (report/load.py) added for issue 23: the steady window a run counted, the trace it
replayed with its send-time error, and why a schedule stopped early. Data only."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SteadyWindow(BaseModel):
    """The requests a run counted: those due inside the window (the warm-up and cool-down trimmed)."""

    model_config = ConfigDict(extra="forbid")
    rule: str = Field(description="The trimming in words (benchmark.load.steady).")
    start_s: float = Field(description="Due time of the first counted request, s after the first due.")
    end_s: float = Field(description="Due time of the last counted request, s after the first due.")
    counted: int = Field(description="Requests counted (every figure of the section is over these).")
    trimmed_start: int = Field(description="Requests sent before the window (warm-up), not counted.")
    trimmed_end: int = Field(description="Requests sent after the window (cool-down), not counted.")


class SendTimeError(BaseModel):
    """How far each request was sent from its trace time, |sent - trace time| from the replay's start, ms."""

    model_config = ConfigDict(extra="forbid")
    count: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class TraceReplay(BaseModel):
    """The trace a load run replayed (--trace): its arrival times and token lengths, synthetic prompts."""

    model_config = ConfigDict(extra="forbid")
    path: str
    format: str = Field(description="mooncake, azure or burstgpt (told by the file's content).")
    speed: float = Field(description="Time compression: 4 = four times faster than recorded.")
    requests: int = Field(description="Requests replayed.")
    rows: int = Field(description="Data rows read (replayed + skipped).")
    skipped: int = Field(description="Rows that cannot be replayed (no output or no input tokens).")
    skipped_reasons: dict[str, int]
    duration_s: float = Field(description="First to last trace time, after the speed-up.")
    mean_rate_rps: float | None = Field(description="Requests per second over the replayed span.")
    mean_input_len: float | None
    mean_output_len: float | None
    with_hash_ids: bool = Field(description="Mooncake's hash ids became shared prompt prefixes (512-token blocks).")
    prompts: str = Field(description="How the prompts were made.")
    send_time_error: SendTimeError | None = Field(description="|send - trace time| (both from the replay's start): "
                                                  "how faithfully the client kept the trace's timing.")
