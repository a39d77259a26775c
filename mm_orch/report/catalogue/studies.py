"""The studies' metrics: goodput per throughput point, and the workload, accuracy and context-length
sections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mm_orch.report.catalogue.metric import Metric, Slot

if TYPE_CHECKING:
    from mm_orch.report.model import Report

# the functions that compute them, as dotted names (the report imports no producer)
_GOODPUT_FN = "mm_orch.benchmark.goodput:goodput"
_SUMMARIZE = "mm_orch.report.metrics:summarize"
_TTFT_MS = "mm_orch.report.metrics:ttft_ms"
_WILSON_INTERVAL = "mm_orch.studies.accuracy:wilson_interval"
_RUN_CONTEXT_LENGTH = "mm_orch.studies.context_length:run_context_length"
_RUN_WORKLOAD = "mm_orch.studies.workload_run:run_workload"


_MET = "requests that succeeded and met every SLO"


def _point_goodput(mode: str, field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        for p in r.throughput.points if r.throughput is not None else []:
            if p.mode == mode and p.goodput is not None:
                yield metric.slot(r, p.goodput, field, level=p.level)
    return slots


def _workload(part: str | None, field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        w = r.workload
        owner = w if w is None or part is None else getattr(w, part)
        if owner is not None:
            yield metric.slot(r, owner, field)
    return slots


def _workload_ttft(stat: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        if r.workload is not None and r.workload.metrics.ttft_ms is not None:
            yield metric.slot(r, r.workload.metrics.ttft_ms, stat)
    return slots


def _accuracy(field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        for run in r.accuracy.runs if r.accuracy is not None else []:
            yield metric.slot(r, run.overall, field, mode=run.mode)
    return slots


def _context(field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        for p in r.context_length.points if r.context_length is not None else []:
            yield metric.slot(r, p, field, tokens=p.context_tokens)
    return slots


def _throughput_goodput() -> list[Metric]:
    out = []
    for mode, key, label in (("single", "single_request", "single-stream"),
                             ("concurrent", "concurrent_{level}", "{level} concurrent"),
                             ("batch", "batch_{level}", "batch {level}")):
        out.append(Metric(f"throughput.{key}_goodput_rps", f"{label}: goodput (req/s meeting the SLOs)", "req/s",
                          "higher", f"{_MET} / wall time of the phase", _GOODPUT_FN,
                          _point_goodput(mode, "goodput_rps"), "throughput", summary=mode == "concurrent"))
        out.append(Metric(f"throughput.{key}_slo_met_share", f"{label}: share meeting the SLOs", "ratio", "higher",
                          f"{_MET} / all requests of the phase", _GOODPUT_FN, _point_goodput(mode, "share_met"),
                          "throughput"))
    return out


def _study_metrics() -> list[Metric]:
    w, a, c = "workload", "accuracy", "context_length"
    return [
        Metric("workload.requests_per_second", "workload: requests/s", "req/s", "higher",
               "completed requests / wall time of the workload", _SUMMARIZE, _workload("metrics",
                                                                                          "requests_per_second"), w),
        Metric("workload.output_tokens_per_second", "workload: output tokens/s", "tokens/s", "higher",
               "output tokens / wall time of the workload", _SUMMARIZE,
               _workload("metrics", "output_tokens_per_second"), w, summary=True),
        Metric("workload.ttft_ms.median", "workload: TTFT median", "ms", "lower",
               "median of first token arrival - request start over the workload's requests", _TTFT_MS,
               _workload_ttft("median"), w),
        Metric("workload.goodput_rps", "workload: goodput (req/s meeting the SLOs)", "req/s", "higher",
               f"{_MET} / wall time of the workload", _GOODPUT_FN, _workload("goodput", "goodput_rps"), w,
               summary=True),
        Metric("workload.slo_met_share", "workload: share meeting the SLOs", "ratio", "higher",
               f"{_MET} / all requests of the workload", _GOODPUT_FN, _workload("goodput", "share_met"), w),
        Metric("workload.prefix_cache_hit_rate", "workload: prefix-cache hit rate", "ratio", "higher",
               "prompt tokens served from the engine's prefix cache / all prompt tokens", _RUN_WORKLOAD,
               _workload("prefix_cache", "hit_rate"), w),
        Metric("accuracy.{mode}.accuracy", "accuracy ({mode})", "ratio", "higher",
               "tasks answered correctly / tasks (a failed request counts as wrong)", _WILSON_INTERVAL,
               _accuracy("accuracy"), a, summary=True),
        Metric("accuracy.{mode}.ci95_low", "accuracy ({mode}): 95% CI low", "ratio", "higher",
               "lower end of the 95 % Wilson score interval of the accuracy", _WILSON_INTERVAL,
               _accuracy("ci95_low"), a),
        Metric("accuracy.{mode}.ci95_high", "accuracy ({mode}): 95% CI high", "ratio", "higher",
               "upper end of the 95 % Wilson score interval of the accuracy", _WILSON_INTERVAL,
               _accuracy("ci95_high"), a),
        Metric("context_length.{tokens}.ttft_ms", "TTFT at {tokens} context tokens (mean)", "ms", "lower",
               "mean of first token arrival - request start with a prompt of N tokens", _RUN_CONTEXT_LENGTH,
               _context("ttft_ms"), c, summary=True),
        Metric("context_length.{tokens}.prefill_tokens_per_second", "prefill tokens/s at {tokens} context tokens",
               "tokens/s", "higher", "context tokens / mean TTFT", _RUN_CONTEXT_LENGTH,
               _context("prefill_tokens_per_second"), c),
    ]


GOODPUT: list[Metric] = _throughput_goodput()
STUDIES: list[Metric] = _study_metrics()
