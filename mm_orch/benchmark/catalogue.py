"""The metric catalogue: every gated/compared metric's key, unit, direction, definition, and how it is computed.

The gate, compare, targets, Markdown, plots, CSV and the console table read metrics only through here; no
caller guesses a unit or a direction from a key. A metric reads its values from a typed Report through
`slots`: each Slot names the concrete key (e.g. throughput.concurrent_4_rps), the object holding the value
and its field, so --repeat can write a median back. Future sections register theirs with register_metrics().
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mm_orch.benchmark import memory as mem
from mm_orch.benchmark import metrics as m

if TYPE_CHECKING:
    from mm_orch.benchmark.schema import Report

Direction = Literal["higher", "lower"]


@dataclass(slots=True)
class Slot:
    """Where one concrete metric value lives in a report."""

    metric: Metric
    key: str
    label: str
    owner: Any  # the pydantic object holding the value; None when that part was not measured
    field: str
    names: dict[str, Any]  # the template's values: {"scenario": "in128_out64"}, {"level": 4}, or {}

    @property
    def value(self) -> float | None:
        v = getattr(self.owner, self.field, None) if self.owner is not None else None
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    def set(self, value: float) -> None:
        setattr(self.owner, self.field, value)


@dataclass(frozen=True, slots=True)
class Metric:
    key: str  # a template where the metric has many instances: {scenario}, {level}
    label: str
    unit: str
    direction: Direction
    definition: str
    computed_by: Callable[..., Any]  # the pure function in metrics.py that computes it
    slots: Callable[[Report, Metric], Iterator[Slot]]
    section: str  # the report section it belongs to
    summary: bool = False  # shown in the console table and the Markdown summary
    first_run_only: bool = False  # --repeat keeps the first (cold) run's value (memory)

    def slot(self, report: Report, owner: Any, field: str, **names: Any) -> Slot:
        return Slot(self, self.key.format(**names), self.label.format(**names), owner, field, names)


def _headline(dist: str, stat: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        if r.latency is not None:
            yield metric.slot(r, getattr(r.latency.distributions, dist), stat)
    return slots


def _scenario(dist: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        for s in r.latency.scenarios if r.latency is not None else []:
            yield metric.slot(r, getattr(s.distributions, dist), "mean", scenario=s.name)
    return slots


def _memory(figure: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        if r.memory is not None:
            yield metric.slot(r, getattr(r.memory, figure), "value_gb")
    return slots


def _points(mode: str, field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        for p in r.throughput.points if r.throughput is not None else []:
            if p.mode == mode:
                yield metric.slot(r, p, field, level=p.level)
    return slots


_LAT = (("ttft_ms", "TTFT", m.ttft_ms, "first token arrival - request start"),
        ("tpot_ms", "TPOT", m.tpot_ms, "(E2E - TTFT) / (output tokens - 1); null for one token"),
        ("e2e_latency_ms", "E2E latency", m.e2e_ms, "last token arrival - request start"),
        ("itl_ms", "ITL", m.itl_ms, "gap between consecutive token arrivals"))
_PER_REQ_TPS = "mean over requests of output tokens / that request's E2E (one stream's speed as it sees it)"


def _latency_metrics() -> list[Metric]:
    out = [Metric(f"latency.{k}", f"{label} (mean, test prompts)", "ms", "lower", f"mean of {d}", fn,
                  _headline(k, "mean"), "latency", summary=True) for k, label, fn, d in _LAT[:3]]
    out.append(Metric("latency.tokens_per_second", "per-request tokens/s (mean of output / own E2E)", "tokens/s",
                      "higher", _PER_REQ_TPS, m.request_tokens_per_second,
                      _headline("request_tokens_per_second", "mean"), "latency", summary=True))
    for k, label, fn, d in _LAT:
        for stat in ("median", "p95"):
            out.append(Metric(f"latency.distributions.{k}.{stat}", f"{label} {stat}", "ms", "lower",
                              f"{stat} of {d}", fn, _headline(k, stat), "latency"))
    for k, label, fn, d in _LAT[:3]:
        out.append(Metric(f"latency.scenarios.{{scenario}}.{k}", f"{label} (mean, {{scenario}})", "ms", "lower",
                          f"mean of {d}, one synthetic scenario", fn, _scenario(k), "latency"))
    out.append(Metric("latency.scenarios.{scenario}.tokens_per_second", "per-request tokens/s ({scenario})",
                      "tokens/s", "higher", _PER_REQ_TPS, m.request_tokens_per_second,
                      _scenario("request_tokens_per_second"), "latency"))
    return out


def _memory_metrics() -> list[Metric]:
    rows = (("model_load", "model load memory", "growth of the process (RSS) or allocator across loading",
             mem.MemoryBenchmark.measure_load),
            ("inference_delta", "inference memory delta", "peak during one request - reading before it",
             mem.MemoryBenchmark.measure_inference),
            ("peak", "peak memory", "peak during one request (allocator peak on CUDA, 5 ms RSS samples on CPU)",
             mem.MemoryBenchmark.measure_inference),
            ("kv_cache", "KV cache (measured request)",
             "2 x layers x kv_heads x head_dim x dtype bytes x tokens, from the model config", mem.kv_cache_gb))
    return [Metric(f"memory.{k}_gb", label, "GiB", "lower", d, fn, _memory(k), "memory", summary=True,
                   first_run_only=True) for k, label, d, fn in rows]


def _throughput_metrics() -> list[Metric]:
    t = "throughput"
    return [
        Metric("throughput.single_request_tps", "single-stream output tokens/s (tokens / wall s)", "tokens/s",
               "higher", "sum(output tokens) / wall time, one request at a time back to back", m.summarize,
               _points("single", "output_tokens_per_second"), t, summary=True),
        Metric("throughput.single_request_rps", "single-stream requests/s", "req/s", "higher",
               "completed requests / wall time, one at a time", m.summarize,
               _points("single", "requests_per_second"), t),
        Metric("throughput.concurrent_{level}_rps", "{level} concurrent: requests/s", "req/s", "higher",
               "completed / wall time with N closed-loop clients", m.summarize,
               _points("concurrent", "requests_per_second"), t, summary=True),
        Metric("throughput.concurrent_{level}_tps", "{level} concurrent: output tokens/s", "tokens/s", "higher",
               "output tokens / wall time with N closed-loop clients", m.summarize,
               _points("concurrent", "output_tokens_per_second"), t),
        Metric("throughput.batch_{level}_tps", "batch {level}: output tokens/s", "tokens/s", "higher",
               "output tokens / wall time, batches of N through generate()", m.summarize,
               _points("batch", "output_tokens_per_second"), t, summary=True),
        Metric("throughput.batch_{level}_total_tps", "batch {level}: total tokens/s", "tokens/s", "higher",
               "(input + output tokens) / wall time, batches of N", m.summarize,
               _points("batch", "total_tokens_per_second"), t),
        Metric("throughput.batch_{level}_efficiency", "batch {level}: efficiency", "ratio", "higher",
               "tokens/s at batch N / (N x batch-1 tokens/s, or single-stream's without batch 1)", m.batch_efficiency,
               _points("batch", "batch_efficiency"), t),
    ]


CATALOGUE: list[Metric] = [*_latency_metrics(), *_memory_metrics(), *_throughput_metrics()]


def register_metrics(*metrics: Metric) -> None:
    """A new report section (load, sweep, accuracy...) adds its metrics here, from its own module."""
    known = {x.key for x in CATALOGUE}
    for metric in metrics:
        if metric.key in known:
            raise ValueError(f"metric '{metric.key}' is already in the catalogue")
        CATALOGUE.append(metric)


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
    # grouped by report section in a fixed order, whichever section module registered first
    order = ("latency", "memory", "throughput", "load", "saturation", "workload", "accuracy", "context_length")
    ranked = sorted(CATALOGUE, key=lambda x: order.index(x.section) if x.section in order else len(order))
    rows += [f"| `{x.key}` | {x.unit} | {x.direction} | {x.definition} | "
             f"`{x.computed_by.__module__.rsplit('.', 1)[-1]}.{x.computed_by.__qualname__}` |" for x in ranked]
    return "\n".join(rows)


# Sections in their own modules register their metrics when imported; import them here so that every
# reader of the catalogue sees them (the modules import this one first: CATALOGUE exists by then).
from mm_orch.benchmark import load as _load  # noqa: E402, F401
from mm_orch.studies import report_metrics as _studies  # noqa: E402,F401  - registers the studies' metrics
from mm_orch.studies import saturation as _saturation  # noqa: E402,F401  - registers the saturation metrics

if __name__ == "__main__":  # run as a script this file is __main__; the registered catalogue is the module's
    from mm_orch.benchmark import catalogue as _registered

    print(_registered.markdown_table())  # noqa: T201  - a docs helper: python -m mm_orch.benchmark.catalogue
