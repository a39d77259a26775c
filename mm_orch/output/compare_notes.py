"""--compare: each report's column named by its --label (else its file), and a warning when the compared runs
measured different workloads: other rates, arrivals, concurrency, lengths, endpoints or tests make their numbers
differ for reasons other than the engine."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mm_orch.report.model import Report

# what makes two runs' numbers incomparable, as (label, dotted path into the report's config)
WORKLOAD_KEYS = (
    ("tests", "tests"),
    ("request rate", "benchmark.load.request_rate"), ("arrivals", "benchmark.load.arrivals"),
    ("burstiness", "benchmark.load.burstiness"), ("requests", "benchmark.load.num_requests"),
    ("load duration", "benchmark.load.duration_seconds"), ("max concurrency", "benchmark.load.max_concurrency"),
    ("load input length", "benchmark.load.input_length"), ("load output length", "benchmark.load.output_length"),
    ("saturation", "benchmark.load.saturation"), ("max-rate search", "benchmark.load.max_rate_at_slo"),
    ("trace", "benchmark.load.trace"), ("throughput concurrency", "benchmark.throughput.concurrent_requests"),
    ("throughput tokens", "benchmark.throughput.tokens_per_request"),
    ("latency output length", "benchmark.latency.output_length"), ("SLO", "studies.slo"),
    ("endpoint", "engine.openai.endpoint"), ("base URL", "engine.openai.base_url"),
)


def _get(report: Report, dotted: str) -> Any:
    node: Any = report.config.model_dump(mode="json") if report.config is not None else None
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def names(reports: Sequence[Report], paths: Sequence[Path]) -> list[str]:
    """Each column's name: the run's --label when every report has a distinct one, else the file stems (or the
    paths when stems repeat)."""
    labels = [r.label for r in reports]
    if all(labels) and len(set(labels)) == len(labels):
        return [str(x) for x in labels]
    stems = [p.stem for p in paths]
    base = stems if len(set(stems)) == len(stems) else [str(p) for p in paths]
    return [f"{r.label} ({b})" if r.label else b for r, b in zip(reports, base, strict=True)]


def workload_warnings(reports: Sequence[Report], names: Sequence[str]) -> list[str]:
    """One line per workload setting that differs between the runs: 'request rate: base 10, fast 50'."""
    out = []
    for label, key in WORKLOAD_KEYS:
        values = [_get(r, key) for r in reports]
        if any(v is not None for v in values) and len({repr(v) for v in values}) > 1:
            shown = ", ".join(f"{n} {'-' if v is None else v}" for n, v in zip(names, values, strict=True))
            out.append(f"{label}: {shown}")
    return out
