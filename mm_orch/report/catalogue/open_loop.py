"""The open-loop sections' metrics: `load` (one schedule), `saturation` (the curve and its knee) and
`max_rate_at_slo` (the highest rate meeting the SLO)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from mm_orch.report.catalogue.metric import Metric, Slot, section_field

if TYPE_CHECKING:
    from mm_orch.report.model import Report

# the functions that compute them, as dotted names (the report imports no producer)
_SUMMARIZE_LOAD = "mm_orch.load.results:summarize_load"
_FIND_KNEE = "mm_orch.load.saturation:find_knee"
_RUN_SATURATION = "mm_orch.load.saturation:run_saturation"
_E2E_MS = "mm_orch.report.metrics:e2e_ms"
_SUMMARIZE = "mm_orch.report.metrics:summarize"
_TPOT_MS = "mm_orch.report.metrics:tpot_ms"
_TTFT_MS = "mm_orch.report.metrics:ttft_ms"
_GOODPUT_FN = "mm_orch.benchmark.goodput:goodput"
_SEND_TIME_ERROR = "mm_orch.load.trace:send_time_error"
_SEARCH = "mm_orch.load.slo_search:search_max_rate"
_RUN_MAX_RATE = "mm_orch.load.max_rate:run_max_rate"



# The load section's metrics in the catalogue (docs/report.md, "Adding a section"): the gate, --compare,
# --repeat, Markdown, CSV and the console table read them from Report.load through these slots.
_top = partial(section_field, "load")


def _summary(field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        if r.load is not None:
            yield metric.slot(r, r.load.metrics, field)
    return slots


def _dist(dist: str, stat: str, in_metrics: bool = True):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        if r.load is not None:
            yield metric.slot(r, getattr(r.load.metrics if in_metrics else r.load, dist), stat)
    return slots


def _load_part(part: str, field: str):
    """A field of an optional part of the load section (goodput, trace.send_time_error)."""
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        owner = r.load
        for name in part.split("."):
            owner = getattr(owner, name, None) if owner is not None else None
        if owner is not None:
            yield metric.slot(r, owner, field)
    return slots


def _load_metrics() -> list[Metric]:
    """In the order the summary shows them: what users got (completed req/s, output tokens/s, TTFT from arrival,
    goodput) first; the server-side and client-side figures after."""
    M, sec = Metric, "load"
    out = [
        M("load.throughput_rps", "load: completed requests/s", "req/s", "higher",
          "completed requests / (first due to last token), open loop", _SUMMARIZE_LOAD, _top("throughput_rps"),
          sec, summary=True),
        M("load.output_tokens_per_second", "load: output tokens/s", "tokens/s", "higher",
          "output tokens / (first due to last token), open loop", _SUMMARIZE,
          _summary("output_tokens_per_second"), sec, summary=True),
    ]
    for stat in ("median", "p99"):
        out.append(M(f"load.ttft_from_arrival_ms.{stat}", f"load: TTFT from arrival {stat}", "ms", "lower",
                     f"{stat} of first token arrival - due time (what a user waits, queueing included)",
                     _SUMMARIZE_LOAD, _dist("ttft_from_arrival_ms", stat, in_metrics=False), sec, summary=True))
    out += [
        M("load.goodput_rps", "load: goodput (req/s meeting the SLOs)", "req/s", "higher",
          "requests that succeeded and met every SLO (TTFT and E2E from arrival) / wall time, open loop",
          _GOODPUT_FN, _load_part("goodput", "goodput_rps"), sec, summary=True),
        M("load.slo_met_share", "load: share meeting the SLOs", "ratio", "higher",
          "requests that succeeded and met every SLO / all requests counted, open loop", _GOODPUT_FN,
          _load_part("goodput", "share_met"), sec),
    ]
    for dist, label, fn, what, stats in (
            ("ttft_ms", "TTFT from send", _TTFT_MS, "first token arrival - send", ("median", "p99")),
            ("tpot_ms", "TPOT", _TPOT_MS, "(E2E - TTFT) / (output tokens - 1)", ("median", "p99")),
            ("e2e_latency_ms", "E2E latency from send", _E2E_MS, "last token arrival - send", ("median", "p99"))):
        for stat in stats:
            out.append(M(f"load.{dist}.{stat}", f"load: {label} {stat}", "ms", "lower",
                         f"{stat} of {what}, open loop", fn, _dist(dist, stat), sec))
    out += [
        M("load.schedule_rate_rps", "load: drawn schedule rate", "req/s", "higher",
          "requests of the drawn schedule / (last due - first due): the rate offered (= the requested one with "
          "exact_rate)", _SUMMARIZE_LOAD, _top("schedule_rate_rps"), sec),
        M("load.achieved_send_rate_rps", "load: achieved send rate", "req/s", "higher",
          "requests sent / (last send - first send), open loop", _SUMMARIZE_LOAD, _top("achieved_send_rate_rps"),
          sec),
    ]
    for stat in ("median", "p99"):
        out.append(M(f"load.schedule_lag_ms.{stat}", f"load: schedule lag {stat}", "ms", "lower",
                     f"{stat} of send - max(due, concurrency slot): the client's own lateness", _SUMMARIZE_LOAD,
                     _dist("schedule_lag_ms", stat, in_metrics=False), sec, summary=stat == "p99"))
    for stat in ("p50_ms", "p99_ms"):
        out.append(M(f"load.trace_send_error_ms.{stat[:3]}", f"load: trace send-time error {stat[:3]}", "ms",
                     "lower", f"{stat[:3]} of |send - trace time| (both from the replay's start), --trace",
                     _SEND_TIME_ERROR, _load_part("trace.send_time_error", stat), sec))
    return out


# -- the section's metrics in the catalogue ---------------------------------------------------------
_field = partial(section_field, "saturation")


def _saturation_metrics() -> list[Metric]:
    M, sec = Metric, "saturation"
    return [
        M("saturation.max_throughput_rps", "saturation: maximum requests/s", "req/s", "higher",
          "completed requests / wall time of a burst (every request due at once)", _RUN_SATURATION,
          _field("max_throughput_rps"), sec, summary=True),
        M("saturation.max_output_tokens_per_second", "saturation: maximum output tokens/s", "tokens/s", "higher",
          "output tokens / wall time of the burst", _RUN_SATURATION, _field("max_output_tokens_per_second"), sec),
        M("saturation.knee_rps", "saturation: requests/s at the knee", "req/s", "higher",
          "achieved requests/s at the knee (highest rate with tail TTFT from arrival within k x the lowest rate's)",
          _FIND_KNEE, _field("knee_rps"), sec, summary=True),
        M("saturation.knee_output_tokens_per_second", "saturation: output tokens/s at the knee", "tokens/s",
          "higher", "achieved output tokens/s at the knee", _FIND_KNEE, _field("knee_output_tokens_per_second"), sec),
        M("saturation.knee_ttft_tail_ms", "saturation: tail TTFT at the knee", "ms", "lower",
          "tail_statistic (p99 from 100 requests a rate) of first token arrival - due time at the knee's rate",
          _FIND_KNEE, _field("knee_ttft_tail_ms"), sec),
    ]


_max_rate = partial(section_field, "max_rate_at_slo")


def _max_rate_metrics() -> list[Metric]:
    M, sec = Metric, "max_rate_at_slo"
    held = "the SLO holds at its percentile (TTFT and E2E from arrival)"
    return [
        M("max_rate_at_slo.rate_rps", "max rate at SLO", "req/s", "higher",
          f"highest requested rate at which {held}: where a logistic fit of the probes' fail share crosses "
          "1 - percentile (or the bisection's highest passing rate)", _SEARCH, _max_rate("rate"), sec, summary=True),
        M("max_rate_at_slo.ci_low_rps", "max rate at SLO: CI low", "req/s", "higher",
          "lower end of the found rate's confidence interval", _SEARCH, _max_rate("ci_low"), sec),
        M("max_rate_at_slo.ci_high_rps", "max rate at SLO: CI high", "req/s", "higher",
          "upper end of the found rate's confidence interval", _SEARCH, _max_rate("ci_high"), sec),
        M("max_rate_at_slo.output_tokens_per_second", "max rate at SLO: output tokens/s", "tokens/s", "higher",
          "the found rate x the probes' mean output tokens per completed request", _RUN_MAX_RATE,
          _max_rate("output_tokens_per_second"), sec, summary=True),
    ]


LOAD: list[Metric] = _load_metrics()
SATURATION: list[Metric] = _saturation_metrics()
MAX_RATE: list[Metric] = _max_rate_metrics()
