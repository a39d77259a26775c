"""The open-loop sections' metrics: `load` (one schedule) and `saturation` (the curve and its knee)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mm_orch.report.metric import Metric, Slot

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



# The load section's metrics in the catalogue (docs/report.md, "Adding a section"): the gate, --compare,
# --repeat, Markdown, CSV and the console table read them from Report.load through these slots.
def _top(field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        if r.load is not None:
            yield metric.slot(r, r.load, field)
    return slots


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


def _load_metrics() -> list[Metric]:
    M, sec = Metric, "load"
    out = [
        M("load.achieved_send_rate_rps", "load: achieved send rate", "req/s", "higher",
          "requests sent / (last send - first send), open loop", _SUMMARIZE_LOAD, _top("achieved_send_rate_rps"),
          sec, summary=True),
        M("load.throughput_rps", "load: completed requests/s", "req/s", "higher",
          "completed requests / (first due to last token), open loop", _SUMMARIZE_LOAD, _top("throughput_rps"),
          sec, summary=True),
        M("load.output_tokens_per_second", "load: output tokens/s", "tokens/s", "higher",
          "output tokens / (first due to last token), open loop", _SUMMARIZE,
          _summary("output_tokens_per_second"), sec),
    ]
    for dist, label, fn, what, stats in (
            ("ttft_ms", "TTFT", _TTFT_MS, "first token arrival - send", ("median", "p99")),
            ("tpot_ms", "TPOT", _TPOT_MS, "(E2E - TTFT) / (output tokens - 1)", ("median", "p99")),
            ("e2e_latency_ms", "E2E latency", _E2E_MS, "last token arrival - send", ("median", "p99"))):
        for stat in stats:
            out.append(M(f"load.{dist}.{stat}", f"load: {label} {stat}", "ms", "lower",
                         f"{stat} of {what}, open loop", fn, _dist(dist, stat), sec,
                         summary=dist == "ttft_ms"))
    for dist, label, what in (
            ("ttft_from_arrival_ms", "TTFT from arrival", "first token arrival - due time (what a user sees)"),
            ("schedule_lag_ms", "schedule lag", "send - max(due, concurrency slot): the client's own lateness")):
        for stat in ("median", "p99"):
            out.append(M(f"load.{dist}.{stat}", f"load: {label} {stat}", "ms", "lower", f"{stat} of {what}",
                         _SUMMARIZE_LOAD, _dist(dist, stat, in_metrics=False), sec,
                         summary=dist == "schedule_lag_ms" and stat == "p99"))
    return out


# -- the section's metrics in the catalogue ---------------------------------------------------------
def _field(name: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        if r.saturation is not None:
            yield metric.slot(r, r.saturation, name)
    return slots


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


LOAD: list[Metric] = _load_metrics()
SATURATION: list[Metric] = _saturation_metrics()
