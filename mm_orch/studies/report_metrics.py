"""The studies' metrics in the catalogue: goodput per throughput point, and the workload, accuracy and
context-length sections. Registered once, when catalogue.py is imported; units and directions live here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mm_orch.benchmark import metrics as m
from mm_orch.benchmark.catalogue import Metric, Slot, register_metrics
from mm_orch.benchmark.goodput import goodput
from mm_orch.studies.accuracy import wilson_interval
from mm_orch.studies.context_length import run_context_length
from mm_orch.studies.workload_run import run_workload

if TYPE_CHECKING:
    from mm_orch.benchmark.schema import Report

_GOODPUT = "requests that succeeded and met every SLO"


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
                          "higher", f"{_GOODPUT} / wall time of the phase", goodput,
                          _point_goodput(mode, "goodput_rps"), "throughput", summary=mode == "concurrent"))
        out.append(Metric(f"throughput.{key}_slo_met_share", f"{label}: share meeting the SLOs", "ratio", "higher",
                          f"{_GOODPUT} / all requests of the phase", goodput, _point_goodput(mode, "share_met"),
                          "throughput"))
    return out


def _study_metrics() -> list[Metric]:
    w, a, c = "workload", "accuracy", "context_length"
    return [
        Metric("workload.requests_per_second", "workload: requests/s", "req/s", "higher",
               "completed requests / wall time of the workload", m.summarize, _workload("metrics",
                                                                                          "requests_per_second"), w),
        Metric("workload.output_tokens_per_second", "workload: output tokens/s", "tokens/s", "higher",
               "output tokens / wall time of the workload", m.summarize,
               _workload("metrics", "output_tokens_per_second"), w, summary=True),
        Metric("workload.ttft_ms.median", "workload: TTFT median", "ms", "lower",
               "median of first token arrival - request start over the workload's requests", m.ttft_ms,
               _workload_ttft("median"), w),
        Metric("workload.goodput_rps", "workload: goodput (req/s meeting the SLOs)", "req/s", "higher",
               f"{_GOODPUT} / wall time of the workload", goodput, _workload("goodput", "goodput_rps"), w,
               summary=True),
        Metric("workload.slo_met_share", "workload: share meeting the SLOs", "ratio", "higher",
               f"{_GOODPUT} / all requests of the workload", goodput, _workload("goodput", "share_met"), w),
        Metric("workload.prefix_cache_hit_rate", "workload: prefix-cache hit rate", "ratio", "higher",
               "prompt tokens served from the engine's prefix cache / all prompt tokens", run_workload,
               _workload("prefix_cache", "hit_rate"), w),
        Metric("accuracy.{mode}.accuracy", "accuracy ({mode})", "ratio", "higher",
               "tasks answered correctly / tasks (a failed request counts as wrong)", wilson_interval,
               _accuracy("accuracy"), a, summary=True),
        Metric("accuracy.{mode}.ci95_low", "accuracy ({mode}): 95% CI low", "ratio", "higher",
               "lower end of the 95 % Wilson score interval of the accuracy", wilson_interval,
               _accuracy("ci95_low"), a),
        Metric("accuracy.{mode}.ci95_high", "accuracy ({mode}): 95% CI high", "ratio", "higher",
               "upper end of the 95 % Wilson score interval of the accuracy", wilson_interval,
               _accuracy("ci95_high"), a),
        Metric("context_length.{tokens}.ttft_ms", "TTFT at {tokens} context tokens (mean)", "ms", "lower",
               "mean of first token arrival - request start with a prompt of N tokens", run_context_length,
               _context("ttft_ms"), c, summary=True),
        Metric("context_length.{tokens}.prefill_tokens_per_second", "prefill tokens/s at {tokens} context tokens",
               "tokens/s", "higher", "context tokens / mean TTFT", run_context_length,
               _context("prefill_tokens_per_second"), c),
    ]


register_metrics(*_throughput_goodput(), *_study_metrics())
