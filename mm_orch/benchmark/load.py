"""The open-loop `load` test's results: raw per-request records in, one typed LoadResult out.

Timestamps of one request (all perf_counter_ns, one clock across the client's processes):
    due     when the schedule wanted it sent
    slot    when the concurrency cap let it go (= due when no cap, or no wait)
    start   when the client sent it (RequestRecord.start_ns)
    tokens  arrival of each output token; end
client queueing = slot - due (the cap's policy), schedule lag = start - slot (the client's own lateness),
server time = TTFT/E2E from start; what a user sees = TTFT/E2E from due.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.benchmark import catalogue
from mm_orch.benchmark import metrics as m
from mm_orch.benchmark.calibration import Calibration
from mm_orch.benchmark.metrics import Distribution, MetricsSummary, distribution, summarize
from mm_orch.benchmark.schedule import ScheduleSpec, schedule_rate
from mm_orch.engines.base import RequestRecord

if TYPE_CHECKING:
    from mm_orch.benchmark.schema import Report

NS_PER_MS = 1e6


@dataclass(slots=True)
class LoadRecord:
    """One scheduled request's raw outcome."""

    index: int
    due_ns: int
    slot_ns: int
    record: RequestRecord
    events: int = 0  # content-bearing server-sent events (0 for in-process engines)
    count_source: str | None = None  # usage | tokenizer | events | engine


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


def _ms(values) -> Distribution | None:
    return distribution(v / NS_PER_MS for v in values)


def peak_in_flight(recs: Sequence[LoadRecord]) -> int:
    edges = sorted([(r.record.start_ns, 1) for r in recs] + [(r.record.end_ns, -1) for r in recs])
    peak = cur = 0
    for _, d in edges:
        cur += d
        peak = max(peak, cur)
    return peak


def summarize_load(recs: Sequence[LoadRecord], t0_ns: int) -> dict:
    """The measured fields of a LoadResult (the caller adds the settings)."""
    recs = sorted(recs, key=lambda r: r.index)
    ok = [r for r in recs if r.record.success]
    end = max((r.record.end_ns for r in recs), default=t0_ns)
    wall_s = (end - t0_ns) / 1e9
    starts = sorted(r.record.start_ns for r in recs)
    sent_rate = (len(starts) - 1) / ((starts[-1] - starts[0]) / 1e9) if len(starts) > 1 and starts[-1] > starts[0] \
        else None
    m = summarize([r.record for r in recs], wall_s)
    sources = Counter(r.count_source for r in ok if r.count_source)
    return {
        "schedule_rate_rps": schedule_rate([r.due_ns for r in recs]),
        "achieved_send_rate_rps": sent_rate,
        "throughput_rps": m.requests_per_second,
        "peak_in_flight": peak_in_flight(recs),
        "schedule_lag_ms": _ms(r.record.start_ns - max(r.slot_ns, r.due_ns) for r in recs),
        "client_queue_ms": _ms(max(0, r.slot_ns - r.due_ns) for r in recs),
        "ttft_from_arrival_ms": _ms(r.record.token_times_ns[0] - r.due_ns for r in ok if r.record.token_times_ns),
        "e2e_from_arrival_ms": _ms(r.record.token_times_ns[-1] - r.due_ns for r in ok if r.record.token_times_ns),
        "metrics": m,
        "token_counting": TokenCounting(sources=dict(sources), tokens_per_event=distribution(
            r.record.output_tokens / r.events for r in ok if r.events)),
    }


# The load section's metrics in the catalogue (docs/report.md, "Adding a section"): the gate, --compare,
# --repeat, Markdown, CSV and the console table read them from Report.load through these slots.
def _top(field: str):
    def slots(r: Report, metric: catalogue.Metric) -> Iterator[catalogue.Slot]:
        if r.load is not None:
            yield metric.slot(r, r.load, field)
    return slots


def _summary(field: str):
    def slots(r: Report, metric: catalogue.Metric) -> Iterator[catalogue.Slot]:
        if r.load is not None:
            yield metric.slot(r, r.load.metrics, field)
    return slots


def _dist(dist: str, stat: str, in_metrics: bool = True):
    def slots(r: Report, metric: catalogue.Metric) -> Iterator[catalogue.Slot]:
        if r.load is not None:
            yield metric.slot(r, getattr(r.load.metrics if in_metrics else r.load, dist), stat)
    return slots


def _load_metrics() -> list[catalogue.Metric]:
    M, sec = catalogue.Metric, "load"
    out = [
        M("load.achieved_send_rate_rps", "load: achieved send rate", "req/s", "higher",
          "requests sent / (last send - first send), open loop", summarize_load, _top("achieved_send_rate_rps"),
          sec, summary=True),
        M("load.throughput_rps", "load: completed requests/s", "req/s", "higher",
          "completed requests / (first due to last token), open loop", summarize_load, _top("throughput_rps"),
          sec, summary=True),
        M("load.output_tokens_per_second", "load: output tokens/s", "tokens/s", "higher",
          "output tokens / (first due to last token), open loop", m.summarize,
          _summary("output_tokens_per_second"), sec),
    ]
    for dist, label, fn, what, stats in (
            ("ttft_ms", "TTFT", m.ttft_ms, "first token arrival - send", ("median", "p99")),
            ("tpot_ms", "TPOT", m.tpot_ms, "(E2E - TTFT) / (output tokens - 1)", ("median", "p99")),
            ("e2e_latency_ms", "E2E latency", m.e2e_ms, "last token arrival - send", ("median", "p99"))):
        for stat in stats:
            out.append(M(f"load.{dist}.{stat}", f"load: {label} {stat}", "ms", "lower",
                         f"{stat} of {what}, open loop", fn, _dist(dist, stat), sec,
                         summary=dist == "ttft_ms"))
    for dist, label, what in (
            ("ttft_from_arrival_ms", "TTFT from arrival", "first token arrival - due time (what a user sees)"),
            ("schedule_lag_ms", "schedule lag", "send - max(due, concurrency slot): the client's own lateness")):
        for stat in ("median", "p99"):
            out.append(M(f"load.{dist}.{stat}", f"load: {label} {stat}", "ms", "lower", f"{stat} of {what}",
                         summarize_load, _dist(dist, stat, in_metrics=False), sec,
                         summary=dist == "schedule_lag_ms" and stat == "p99"))
    return out


catalogue.register_metrics(*_load_metrics())
