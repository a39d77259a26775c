"""The open-loop headlines, first on stdout and in the Markdown summary: what users got, said plainly.

- A max-rate search leads with its answer ("47.2 req/s [44.9, 49.0] at 95 %: p99 TTFT <= 200 ms held").
- A load run leads with completed requests/s, output tokens/s and TTFT p50/p99 from arrival (what a user waits,
  queueing included), then the rate requested beside the rate the schedule actually offered (drawn) and sent,
  goodput and the SLO's verdict.
- The burst of a saturation run or a search (every request due at once) is how they find the maximum, never a
  headline: its load metrics stay out of the summary table (the curve and the answer are the headline).
"""

from __future__ import annotations

from typing import Any

from mm_orch.report import catalogue
from mm_orch.report.model import Report


def load_is_burst(report: Report) -> bool:
    """The load section is the burst of a saturation curve or a max-rate search, not a run of its own."""
    return report.load is not None and (report.saturation is not None or report.max_rate_at_slo is not None)


def summary_slots(report: Report) -> dict[str, Any]:
    """The catalogue's summary metrics of the report, without a burst's load metrics."""
    burst = load_is_burst(report)
    return {k: s for k, s in catalogue.slots(report, summary=True).items()
            if not (burst and s.metric.section == "load")}


def _n(x: float | None, fmt: str = ".1f") -> str:
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 1000 else format(x, fmt)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def slo_words(objectives: dict[str, float], percentile: float | None) -> str:
    names = {"ttft_ms": "TTFT", "tpot_ms": "TPOT", "e2e_ms": "E2E"}
    p = f"p{percentile:g} " if percentile is not None else ""
    return " and ".join(f"{p}{names.get(k, k)} <= {v:g} ms" for k, v in objectives.items())


def load_headline(load: Any) -> str:
    """One line: what the run delivered, then what it was asked and offered."""
    m, arr = load.metrics, load.ttft_from_arrival_ms
    p99 = arr.p99 if arr is not None and arr.p99 is not None else None
    tail = f"p99 {_n(p99)} ms" if p99 is not None else (
        f"max {_n(arr.max)} ms (p99 needs 100 requests)" if arr is not None else "n/a")
    line = (f"load: completed {_n(load.throughput_rps, '.2f')} req/s, {_n(m.output_tokens_per_second)} output tok/s; "
            f"TTFT from arrival p50 {_n(arr.median if arr else None)} ms, {tail}")
    if load.trace is not None:
        t = load.trace
        err = t.send_time_error
        line += (f"; trace {t.format} at {t.speed:g}x: {t.requests} requests, {_n(load.schedule_rate_rps, '.2f')} "
                 f"req/s offered" + (f", send-time error p50 {_n(err.p50_ms, '.2f')} ms, p99 {_n(err.p99_ms, '.2f')} ms"
                                     if err is not None else ""))
    else:
        asked = "inf (all at once)" if load.requested_rate_rps is None else _n(load.requested_rate_rps, ".2f")
        drawn = "" if load.requested_rate_rps is None else f", drawn schedule {_n(load.schedule_rate_rps, '.2f')}"
        line += f"; requested {asked} req/s{drawn}, sent {_n(load.achieved_send_rate_rps, '.2f')}"
    if m.failed:
        line += f"; {m.failed} failed"
    g = getattr(load, "goodput", None)
    if g is not None:
        verdict = "" if g.held is None else f" ({slo_words(g.slo.objectives(), g.percentile)}: " + (
            "held)" if g.held else "NOT held)")
        line += f"; goodput {_n(g.goodput_rps, '.2f')} req/s, {_pct(g.share_met)} met the SLO{verdict}"
    if getattr(load, "steady", None) is not None:
        w = load.steady
        line += f"; steady window {w.start_s:.1f}-{w.end_s:.1f} s ({w.counted} counted)"
    return line


def headlines(report: Report) -> list[str]:
    """The lines that answer the run, in order: the max rate at SLO, the load run (unless it was a burst)."""
    out = []
    if report.max_rate_at_slo is not None:
        s = report.max_rate_at_slo
        out.append(f"max rate at SLO: {s.headline}")
        if s.output_tokens_per_second is not None:
            out.append(f"  = {_n(s.output_tokens_per_second)} output tok/s at that rate; {len(s.probes)} probes, "
                       f"{s.requests:,} requests judged, {s.probe_seconds:.0f} s of probes ({s.elapsed_s:.0f} s)")
    if report.load is not None and not load_is_burst(report):
        out.append(load_headline(report.load))
    return out
