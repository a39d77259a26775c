"""The studies' sections: accuracy, context length and workload results (run by studies/)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.report.goodput import GoodputResult
from mm_orch.report.metrics import Distribution, MetricsSummary


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid")
    correct: int = Field(description="Tasks answered correctly.")
    total: int = Field(description="Tasks scored (a failed request counts as wrong).")
    accuracy: float | None = Field(description="correct / total.")
    ci95_low: float | None = Field(description="Lower end of the 95 % Wilson interval.")
    ci95_high: float | None = Field(description="Upper end of the 95 % Wilson interval.")


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(description="The task as sent.")
    answer: str = Field(description="The expected answer.")
    output: str | None = Field(description="The engine's reply; null when the request failed.")
    correct: bool = Field(description="The reply matched the answer.")


class AccuracyRun(BaseModel):
    """One pass over the tasks in one engine mode."""

    model_config = ConfigDict(extra="forbid")
    mode: str = Field(description="'default', or the dual engine's optimal_sampling / teacher_only / theta_only.")
    overall: Score = Field(description="Every task of this pass.")
    by_kind: dict[str, Score] = Field(description="numeric (numeric match) and exact (exact match) tasks apart.")
    metrics: MetricsSummary = Field(description="Speed of answering: the usual metrics over these requests.")
    examples: list[Example] = Field(description="The first few tasks with the engine's replies.")


class AccuracyResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: str = Field(description="'builtin' or the task file.")
    num_tasks: int = Field(description="Tasks scored per mode.")
    max_new_tokens: int = Field(description="Tokens generated per answer at most.")
    decoding: str = Field(description="How answers were generated.")
    runs: list[AccuracyRun] = Field(description="One pass per engine mode.")


class ContextPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    context_tokens: int = Field(description="Prompt tokens (the history loaded before the first output token).")
    ttft_ms: float | None = Field(description="Mean time to first token, ms.")
    ttft: Distribution | None = Field(description="TTFT over the measured requests, ms.")
    tpot_ms: float | None = Field(description="Mean time per output token after the first, ms.")
    prefill_tokens_per_second: float | None = Field(description="context_tokens / mean TTFT.")
    failed: int = Field(description="Requests that failed at this length.")
    errors: list[str] = Field(default_factory=list, description="Their distinct errors (at most 3).")


class ContextLengthResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_context: int | None = Field(description="The model's context limit (prompt + output), if known.")
    limit_used: int = Field(description="Longest prompt measured: the limit less the output tokens, or `max`.")
    output_length: int = Field(description="Output tokens per request.")
    runs: int = Field(description="Measured requests per length (after one warm-up).")
    points: list[ContextPoint] = Field(description="One point per context length, shortest first.")


class PrefixCacheResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hit_rate: float | None = Field(description="Prompt tokens served from the engine's prefix cache / all prompt "
                                   "tokens of the workload; None where the engine does not expose it.")
    prompt_tokens: int | None = Field(None, description="Prompt tokens the engine counted.")
    cached_tokens: int | None = Field(None, description="Of them, served from its prefix cache.")
    best_possible: float | None = Field(None, description="Shared-prefix workload: the share of prompt tokens "
                                        "that repeat an earlier prompt's prefix (a perfect cache's hit rate).")
    note: str | None = Field(None, description="Why the hit rate is missing, if it is.")


class WorkloadResult(BaseModel):
    """One run of a workload: every request's metrics over the phase, plus goodput and prefix caching."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="synthetic | dataset | shared_prefix | multi_turn")
    source: str = Field(description="Where the requests came from (distribution, file, shape).")
    requests: int = Field(description="Requests sent (turns, for multi-turn).")
    concurrency: int = Field(description="Requests or conversations in flight.")
    serialized: bool = Field(description="The engine ran them one at a time (it serves one request at a time).")
    input_tokens: Distribution | None = Field(description="Prompt tokens per request (history included).")
    output_tokens: Distribution | None = Field(description="Output tokens per request.")
    fixed_output_length: bool = Field(description="EOS ignored: each request generated its output_len.")
    metrics: MetricsSummary = Field(description="Every metric of the workload's requests over its wall time.")
    goodput: GoodputResult | None = Field(None, description="Requests meeting every SLO, if SLOs were given.")
    prefix_cache: PrefixCacheResult = Field(description="The engine's prefix-cache hit rate, or why it is missing.")
