"""The metric catalogue: every gated/compared metric's key, unit, direction, definition, and how it is computed.

The gate, compare, targets, Markdown, plots, CSV and the console table read metrics only through here; no
caller guesses a unit or a direction from a key. A metric reads its values from a typed Report through
`slots`: each Slot names the concrete key (e.g. throughput.concurrent_4_rps), the object holding the value
and its field, so --repeat can write a median back. Each section's metrics are a plain list in its
catalogue/<part>.py; this index joins them in one fixed order (a new section adds its list here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mm_orch.report.catalogue.closed_loop import LATENCY, MEMORY, THROUGHPUT
from mm_orch.report.catalogue.metric import Metric, Slot
from mm_orch.report.catalogue.open_loop import LOAD, MAX_RATE, SATURATION
from mm_orch.report.catalogue.studies import GOODPUT, STUDIES
from mm_orch.report.catalogue.telemetry import GPU_TELEMETRY, SERVER_METRICS

if TYPE_CHECKING:
    from mm_orch.report.model import Report

CATALOGUE: tuple[Metric, ...] = (*LATENCY, *MEMORY, *THROUGHPUT, *GOODPUT, *LOAD, *SATURATION, *MAX_RATE, *STUDIES,
                                 *SERVER_METRICS, *GPU_TELEMETRY)
if len({x.key for x in CATALOGUE}) != len(CATALOGUE):
    raise ValueError("a metric key is listed twice in the catalogue")


def metric(key: str) -> Metric:
    """The catalogue entry of a template key (e.g. 'memory.peak_gb', 'throughput.batch_{level}_tps')."""
    for x in CATALOGUE:
        if x.key == key:
            return x
    raise KeyError(key)


def slots(report: Report, *, section: str | None = None, summary: bool = False) -> dict[str, Slot]:
    """Every catalogue value of a report, keyed by its concrete key, in catalogue order."""
    out: dict[str, Slot] = {}
    for x in CATALOGUE:
        if (section and x.section != section) or (summary and not x.summary):
            continue
        for s in x.slots(report, x):
            out[s.key] = s
    return out


def values(report: Report) -> dict[str, float | None]:
    """Concrete key -> value (None: present but not measured)."""
    return {k: s.value for k, s in slots(report).items()}


def format_value(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"
    return f"{text} {unit}" if unit and unit != "ratio" else text


def markdown_table() -> str:
    """The catalogue as a Markdown table (docs/report.md carries it; a test keeps the two in step)."""
    rows = ["| key | unit | better | definition | computed by |", "| --- | --- | --- | --- | --- |"]
    # grouped by report section (goodput sits in the throughput section)
    order = ("latency", "memory", "throughput", "load", "saturation", "max_rate_at_slo", "workload", "accuracy",
             "context_length", "server_metrics", "gpu_telemetry")
    ranked = sorted(CATALOGUE, key=lambda x: order.index(x.section) if x.section in order else len(order))
    rows += [f"| `{x.key}` | {x.unit} | {x.direction} | {x.definition} | "
             f"`{_short(x.computed_by)}` |" for x in ranked]
    return "\n".join(rows)


def _short(dotted: str) -> str:
    """'mm_orch.report.metrics:ttft_ms' -> 'metrics.ttft_ms' (the docs table's column)."""
    module, qualname = dotted.split(":")
    return f"{module.rsplit('.', 1)[-1]}.{qualname}"
