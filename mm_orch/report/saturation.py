"""The `saturation` section: the latency-vs-throughput curve and its knee (run by load/saturation.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.report.goodput import GoodputResult


class SaturationPoint(BaseModel):
    """One run of the curve: requested vs achieved rate, throughput and latency. Times in ms."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["burst", "rate"] = Field(description="burst: every request due at once (finds the maximum); "
                                           "rate: an open-loop run at requested_rate_rps.")
    requested_rate_rps: float | None = Field(description="The rate asked for; None for the burst (infinite).")
    schedule_rate_rps: float | None = Field(description="The rate of the drawn schedule (first to last due): a "
                                            "short random schedule differs from its mean rate.")
    achieved_rps: float | None = Field(description="Completed requests / (first due to last token).")
    send_rate_rps: float | None = Field(description="Requests sent / (last send - first send).")
    output_tokens_per_second: float | None = Field(description="Output tokens / (first due to last token).")
    ttft_p50_ms: float | None = Field(description="Median TTFT from arrival (first token - due time).")
    ttft_p99_ms: float | None = Field(description="p99 TTFT from arrival (None below 100 requests).")
    ttft_tail_ms: float | None = Field(description="TTFT from arrival at the result's tail_statistic: the knee's "
                                       "yardstick.")
    ttft_sent_p50_ms: float | None = Field(description="Median TTFT from send (server + network time).")
    ttft_sent_tail_ms: float | None = Field(description="TTFT from send at the result's tail_statistic.")
    tpot_p50_ms: float | None = Field(description="Median TPOT: (E2E - TTFT) / (output tokens - 1).")
    tpot_p99_ms: float | None = Field(description="p99 TPOT (None below 100 requests).")
    tpot_tail_ms: float | None = Field(description="TPOT at the result's tail_statistic.")
    e2e_p50_ms: float | None = Field(description="Median E2E latency from arrival (last token - due time).")
    e2e_tail_ms: float | None = Field(description="E2E latency from arrival at the result's tail_statistic.")
    schedule_lag_tail_ms: float | None = Field(description="How late the client sent requests (its own "
                                              "lateness: a large value means the client, not the engine, limited).")
    peak_in_flight: int = Field(description="Most requests in flight at once.")
    requests: int = Field(description="Requests measured at this rate.")
    failed: int = Field(description="Requests that failed.")
    goodput: GoodputResult | None = Field(None, description="Requests meeting every SLO (TTFT/E2E counted from "
                                          "arrival), with the verdict at the SLO's percentile, when SLOs are set.")
    stopped_early: str | None = Field(None, description="Why this rate's schedule stopped before its end (its queue "
                                      "grew without bound: over capacity); null when it ran to the end.")


class SaturationResult(BaseModel):
    """The `saturation` report section (Report.saturation): the latency-vs-throughput curve and its knee."""

    model_config = ConfigDict(extra="forbid")
    engine: str
    mode: str = Field(description="How the load runner drove the engine (async_http, threads, serialized).")
    max_concurrency: int | None = Field(description="The client's cap on requests in flight (None = no cap).")
    output_length: int = Field(description="Output tokens per request.")
    max_throughput_rps: float | None = Field(description="The burst's completed requests/s: the maximum.")
    max_output_tokens_per_second: float | None = Field(description="The burst's output tokens/s.")
    low_rate_rps: float = Field(description="The lowest rate measured (sweep_low_fraction x the maximum).")
    knee_rule: str = Field(description="How the knee is chosen, in words.")
    tail_statistic: Literal["p99", "p95", "p90", "max"] = Field(description="The tail percentile of the *_tail_ms "
                                                                "fields: p99 when every rate measured 100 requests "
                                                                "or more, else p95 (20+), p90 (10+), max.")
    knee_ttft_factor: float = Field(description="The factor of the knee rule.")
    knee_index: int | None = Field(description="Index into points of the knee; None when no rate had a TTFT.")
    knee_rps: float | None = Field(description="Achieved requests/s at the knee.")
    knee_output_tokens_per_second: float | None = Field(description="Achieved output tokens/s at the knee.")
    knee_ttft_tail_ms: float | None = Field(description="Tail TTFT from arrival at the knee (tail_statistic).")
    knee_note: str = Field(description="What the knee means for this curve, in words.")
    burst: SaturationPoint = Field(description="The burst run that found the maximum.")
    points: list[SaturationPoint] = Field(description="The open-loop runs, lowest rate first.")
