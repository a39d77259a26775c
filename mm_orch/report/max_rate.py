"""The max-rate-at-SLO search's data: each probe, the pooled evidence per rate, the answer with its interval, and
the report section that carries it (Report.max_rate_at_slo). Data only: load/slo_search.py computes it, load/max_rate.py
runs it on the real load test."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ProbeOutcome(BaseModel):
    """What one probe measured at one requested rate, judged against the SLO's limits."""

    model_config = ConfigDict(extra="forbid")
    rate: float = Field(gt=0, description="Requested rate (req/s).")
    duration_s: float = Field(ge=0, description="How long the probe ran (its schedule, or until it stopped early).")
    n: int = Field(ge=0, description="Requests judged (completed in the probe's steady window).")
    met: dict[str, int] = Field(description="Per SLO metric: requests that met its limit.")
    met_all: int | None = Field(None, ge=0, description="Requests that met every limit (goodput's numerator).")
    values: dict[str, float] = Field(
        default_factory=dict,
        description="Per SLO metric: the measured value at the "
        "judged percentile (for display; the verdict is the met share).",
    )
    n_eff: float | None = Field(
        None, gt=0, description="Effective independent requests (queueing correlates them); None = n."
    )
    sent_rate: float | None = Field(None, description="The rate actually sent or drawn, when the probe knows it.")
    achieved_rps: float | None = Field(None, description="Completed requests/s over the probe's steady window.")
    output_tokens_per_second: float | None = Field(None, description="Output tokens/s over the steady window.")
    failed: int = Field(0, ge=0, description="Requests that failed (they meet no limit).")
    growing: bool = Field(False, description="The queue grew without bound: over capacity, a failure.")
    stopped_early: bool = Field(False, description="The probe ended before its duration (e.g. growing).")
    note: str | None = None


class ProbeRecord(ProbeOutcome):
    """A probe as the search used it."""

    phase: Literal["bracket", "bisect", "repeat", "refine"]
    passed: bool = Field(description="This probe alone: every metric's met share >= the percentile, not growing.")
    verdict: Literal["pass", "fail", "unsure"] = Field(
        description="All probes at this rate so far, pooled, at the search's confidence."
    )


class RatePoint(BaseModel):
    """The pooled evidence at one probed rate."""

    rate: float
    probes: int
    n: int
    n_eff: float
    share: dict[str, float] = Field(description="Met share per metric (pooled).")
    share_low: dict[str, float] = Field(description="Wilson lower bound of the met share at the confidence.")
    share_high: dict[str, float] = Field(description="Wilson upper bound of the met share at the confidence.")
    growing: bool
    passed: bool = Field(description="Point verdict: every share >= the percentile and never growing.")
    verdict: Literal["pass", "fail", "unsure"]


StopReason = Literal["precision", "max_probes", "lowest_rate_failed", "highest_rate_passed"]


class SloSearchResult(BaseModel):
    """The highest rate that met the SLO, its confidence interval and every probe behind it."""

    slo: dict[str, float] = Field(description="Metric -> limit (lower is better), e.g. {'ttft_ms': 200}.")
    percentile: float
    confidence: float
    rate: float | None = Field(
        description="The rate at which the SLO just holds (the met share = the percentile); None when even lo failed."
    )
    method: Literal["fit", "bisection"] = Field(
        "bisection",
        description="fit: where a logistic fit of the probes' "
        "fail share against the rate crosses 1 - percentile; bisection: the "
        "highest rate whose probes met the SLO (too few failures to fit).",
    )
    ci_low: float | None = Field(
        description="The rate's confidence interval: the fit's, or without a fit the "
        "highest rate that met the SLO at the confidence (None: none did) ..."
    )
    ci_high: float | None = Field(description="... and the lowest that failed it at the confidence (None: none).")
    confident_pass: float | None = Field(
        None,
        description="Highest probed rate whose met share was above the "
        "percentile at the confidence (below any confident failure).",
    )
    confident_fail: float | None = Field(
        None,
        description="Lowest probed rate whose met share was below the "
        "percentile at the confidence, or whose queue grew without bound.",
    )
    bracket_low: float | None = Field(description="The final bisection bracket: highest point pass ...")
    bracket_high: float | None = Field(description="... and lowest point fail (None: none failed).")
    stop_reason: StopReason
    min_requests: int = Field(
        description="Requests a probe is sized for at least: ceil(10 / (1 - p/100)); more where failures cluster."
    )
    probes: list[ProbeRecord]
    points: list[RatePoint]
    probe_seconds: float = Field(description="Sum of the probes' durations: the search's cost on a real server.")
    elapsed_s: float = Field(description="Wall time of the search (the probes included).")
    notes: list[str] = Field(default_factory=list)


class MaxRateAtSloResult(SloSearchResult):
    """The `max_rate_at_slo` report section (--request-rate max-slo): the highest rate whose requests met the SLO at
    the percentile, with its confidence interval and every probe of the real load test behind it. TTFT and E2E are
    judged from each request's due time (what a user waits, queueing included), TPOT as measured."""

    engine: str
    mode: str = Field(description="How the load runner drove the engine (async_http, threads, serialized).")
    max_concurrency: int | None = Field(description="The client's cap on requests in flight (None = no cap).")
    output_length: int = Field(description="Output tokens asked per request.")
    arrivals: str = Field(description="The probes' arrival process (gamma burstiness B, or constant), exact rate.")
    headline: str = Field(description="The answer in one line, as printed first on stdout.")
    burst_rps: float | None = Field(
        None,
        description="Completed requests/s of the burst that bracketed the search (None: lo_rps and hi_rps were given).",
    )
    warmup_fraction: float = Field(description="Share of each probe's length run first and not counted.")
    early_stop: bool = Field(description="Probes stop at half time when their queue grows without bound.")
    stopped_early: int = Field(0, description="Probes that stopped early (over capacity).")
    output_tokens_per_second: float | None = Field(
        None,
        description="Output tokens/s at the found rate: the rate "
        "x the probes' mean output tokens per completed request.",
    )
    requests: int = Field(0, description="Requests judged over every probe.")
