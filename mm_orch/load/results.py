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

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mm_orch.engines.base import RequestRecord
from mm_orch.load.schedule import schedule_rate
from mm_orch.report.load import LoadTimeline, TokenCounting
from mm_orch.report.metrics import Distribution, distribution, summarize, tpot_ms

if TYPE_CHECKING:
    pass

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


def _ms(values) -> Distribution | None:
    return distribution(v / NS_PER_MS for v in values)


def peak_in_flight(recs: Sequence[LoadRecord]) -> int:
    edges = sorted([(r.record.start_ns, 1) for r in recs] + [(r.record.end_ns, -1) for r in recs])
    peak = cur = 0
    for _, d in edges:
        cur += d
        peak = max(peak, cur)
    return peak


MAX_TIMELINE_ROWS = 1000


def timeline(recs: Sequence[LoadRecord]) -> LoadTimeline | None:
    """Each request's TTFT from arrival and TPOT against its due time, due order, thinned to MAX_TIMELINE_ROWS."""
    if not recs:
        return None
    recs = sorted(recs, key=lambda r: r.due_ns)
    shown = recs[:: max(1, math.ceil(len(recs) / MAX_TIMELINE_ROWS))]
    first = recs[0].due_ns

    def ttft(r: LoadRecord) -> float | None:
        ok = r.record.success and r.record.token_times_ns
        return round((r.record.token_times_ns[0] - r.due_ns) / NS_PER_MS, 3) if ok else None

    def tpot(r: LoadRecord) -> float | None:
        v = tpot_ms(r.record) if r.record.success else None
        return None if v is None else round(v, 3)

    return LoadTimeline(requests=len(recs), due_s=[round((r.due_ns - first) / 1e9, 4) for r in shown],
                        ttft_from_arrival_ms=[ttft(r) for r in shown], tpot_ms=[tpot(r) for r in shown])


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
        "timeline": timeline(recs),
    }


def from_arrival(recs: Sequence[LoadRecord]) -> list:
    """The records with their start moved to the due time, so goodput's TTFT/E2E count from arrival."""
    return [dataclasses.replace(r.record, start_ns=r.due_ns) for r in recs]
