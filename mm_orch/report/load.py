"""The `load` section (open-loop traffic) and the client calibration it carries: data only."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.report.goodput import GoodputResult
from mm_orch.report.load_parts import SteadyWindow, TraceReplay
from mm_orch.report.metrics import Distribution, MetricsSummary
from mm_orch.settings.schedule import ScheduleSpec


class CalibrationLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["concurrency", "rate"] = Field(description="closed loop of N clients, or Poisson arrivals.")
    level: float = Field(description="Concurrency, or requests per second.")
    requests: int
    added_ttft_ms: float | None = Field(description="Median TTFT - mock TTFT - mock's median first-event lateness.")
    added_ttft_p90_ms: float | None = Field(description="p90 TTFT - mock TTFT - mock's median first-event "
                                             "lateness; null under 10 requests (no p90 from fewer).")
    mock_late_ms: float | None = Field(description="The mock's median lateness of first events.")
    achieved_rps: float | None = Field(description="Completed requests per second.")
    failed: int
    cores_busy: float | None = Field(description="Client CPU seconds / wall seconds.")
    load_average: float = Field(description="1-minute load average after the level.")


class Calibration(BaseModel):
    """Highest concurrency and Poisson rate this client keeps with under threshold_ms of added TTFT."""

    model_config = ConfigDict(extra="forbid")
    machine: str = Field(description="The cache key's description of this machine.")
    measured_at: str = Field(description="When it was measured (ISO 8601 UTC).")
    threshold_ms: float
    mock: dict = Field(description="The mock server's timing (ttft_ms, itl_ms, tokens, tokens_per_event).")
    workers: int = Field(description="Client processes used.")
    max_concurrency: int | None = Field(description="Highest concurrency under the threshold; None = not even 1.")
    max_rate_rps: float | None = Field(description="Highest Poisson rate under the threshold.")
    levels: list[CalibrationLevel]


class ClientCpu(BaseModel):
    """CPU time the client spent in the measured phase (resource.getrusage, user + system)."""

    model_config = ConfigDict(extra="forbid")
    cpu_seconds: float = Field(description="User + system CPU seconds of the client's processes.")
    wall_seconds: float = Field(description="Wall time of the measured phase.")
    cores_busy: float = Field(description="cpu_seconds / wall_seconds: cores the client kept busy on average.")
    per_1000_requests_s: float | None = Field(description="CPU seconds per 1,000 requests sent.")
    processes: int = Field(description="Client processes (1 + worker processes, if any).")
    includes_engine: bool = Field(description="True for in-process engines: the engine's CPU is in the figure.")
    load_average: list[float] = Field(description="os.getloadavg() at the end: other work on the machine.")


class TokenCounting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: dict[str, int] = Field(description="Requests per source of their output token count: usage (the "
                                    "server's), tokenizer (local, over the streamed text), events (one per event: "
                                    "no usage, no tokenizer), engine (in-process).")
    tokens_per_event: Distribution | None = Field(description="Output tokens per server-sent event (chunking); "
                                                  "tokens of one event share its arrival time.")
    tokenizer: str | None = Field(None, description="The local tokenizer used, or why there is none.")


class LoadTimeline(BaseModel):
    """Each request's latency against its due time, for the plot over the run: columns of one row per request
    (failed ones have null latencies), evenly thinned to at most 1,000 rows."""

    model_config = ConfigDict(extra="forbid")
    requests: int = Field(description="Requests of the run; more than the rows when thinned.")
    due_s: list[float] = Field(description="Due time since the first request was due, seconds.")
    ttft_from_arrival_ms: list[float | None] = Field(description="First token - due, ms; null if it failed.")
    tpot_ms: list[float | None] = Field(description="TPOT, ms; null if it failed or had one output token.")


class LoadResult(BaseModel):
    """The `load` report section, Report.load (open-loop traffic). Times in ms, rates in requests/s.
    Written and read back through the model (extra keys are errors); its metrics are in the catalogue below."""

    model_config = ConfigDict(extra="forbid")
    engine: str
    mode: Literal["async_http", "threads", "serialized"] = Field(
        description="async_http: the async client on event loop(s); threads: an in-process engine streaming "
                    "concurrent requests from threads; serialized: an engine that serves one request at a time "
                    "(requests wait in arrival order, counted in the *_from_arrival figures).")
    note: str | None = Field(None, description="What limits this mode, in words.")
    schedule: ScheduleSpec
    max_concurrency: int | None = Field(description="Most requests in flight (None = no cap).")
    warmup_requests: int = Field(description="Requests sent before the schedule, not counted.")
    workers: int = Field(description="Client processes with their own event loop (requests dealt round-robin).")
    prompts: str = Field(description="What prompts ran: synthetic exact-length ids, or the config's text prompts.")
    output_length: int
    requested_rate_rps: float | None = Field(description="The configured mean rate; None = infinite.")
    schedule_rate_rps: float | None = Field(description="The rate of the drawn schedule (first to last due).")
    achieved_send_rate_rps: float | None = Field(description="Requests sent / (last send - first send).")
    throughput_rps: float | None = Field(description="Completed requests / wall (first due to last token).")
    peak_in_flight: int = Field(description="Most requests in flight at once, from the records.")
    schedule_lag_ms: Distribution | None = Field(description="start - max(due, slot): how late the client sent "
                                                 "each request (its own lateness).")
    client_queue_ms: Distribution | None = Field(description="slot - due: time waiting for the concurrency cap "
                                                 "(or, serialized, for the engine).")
    ttft_from_arrival_ms: Distribution | None = Field(description="First token - due: what a user would see.")
    e2e_from_arrival_ms: Distribution | None = Field(description="Last token - due.")
    metrics: MetricsSummary = Field(description="TTFT/TPOT/ITL/E2E from the send time (server + network time), "
                                    "token and request throughput.")
    token_counting: TokenCounting
    client_cpu: ClientCpu | None
    calibration: Calibration | None = Field(description="This machine's client ceiling against the mock server.")
    calibration_note: str = Field(description="Where the calibration came from, or why there is none.")
    incomplete: bool = Field(False, description="True when the run was interrupted (Ctrl-C): the figures are over "
                             "the requests that had ended by then (see note), not the whole schedule.")
    goodput: GoodputResult | None = Field(None, description="Requests meeting every SLO objective (TTFT and E2E "
                                          "from arrival), with the SLO's verdict at benchmark.load.slo_percentile; "
                                          "null without --slo.")
    steady: SteadyWindow | None = Field(None, description="The counted window when warm-up or cool-down was "
                                        "trimmed (benchmark.load.steady); null when every request counted.")
    trace: TraceReplay | None = Field(None, description="The trace replayed (--trace), with the send-time error.")
    stopped_early: str | None = Field(None, description="Why the schedule stopped before its last request (a "
                                      "probe whose queue grew without bound), null when it ran to the end.")
    scheduled: int | None = Field(None, description="Requests in the schedule (more than were sent when it "
                                  "stopped early); null in older reports.")
    timeline: LoadTimeline | None = Field(None, description="Each request's TTFT from arrival and TPOT against its "
                                          "due time (the plot over the run); null in reports written before it.")
