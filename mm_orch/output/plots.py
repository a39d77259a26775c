"""PNG plots of a report, fit for a slide (mm_orch/output/plot_style.py: a title with the model, engine, device
and date, units on every axis, y from zero, no panel of one point or one value, the repeats' spread as error
bars, the SLO as a dashed line), rendered headless (Agg), written atomically, named after the report's stem."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from mm_orch.output.plot_style import (
    PALETTE,
    PlotContext,
    drawable,
    error_bars,
    figure,
    finite,
    nan,
    note,
    plain_log,
    save,
    slo_line,
    spread,
    style,
)
from mm_orch.report.model import LatencyRun, MemorySection, Report, ThroughputPoint

log = logging.getLogger(__name__)

# field, name, SLO key: TTFT against output length means nothing (the first token comes before the others)
_BY_INPUT = (("ttft_ms", "TTFT", "ttft_ms"), ("tpot_ms", "TPOT", "tpot_ms"),
             ("e2e_latency_ms", "E2E latency", "e2e_ms"))
_BY_OUTPUT = _BY_INPUT[1:]


def _scenario_panels(scenarios: list[LatencyRun], axis: str) -> list[tuple[str, str, str]]:
    other = "output_length" if axis == "input_length" else "input_length"
    xs = sorted({getattr(s, axis) for s in scenarios})
    out = []
    for field, name, slo in _BY_INPUT if axis == "input_length" else _BY_OUTPUT:
        lines = [[next((getattr(s, field) for s in scenarios if getattr(s, axis) == x and getattr(s, other) == o),
                       None) for x in xs] for o in {getattr(s, other) for s in scenarios}]
        if drawable(xs, *lines):
            out.append((field, name, slo))
    return out


def _latency_vs(report: Report, scenarios: list[LatencyRun], axis: str, ctx: PlotContext) -> Any:
    """Mean TTFT, TPOT and E2E against input length (TPOT and E2E against output length); a line per value
    of the other length; min-max bars over --repeat runs."""
    other = "output_length" if axis == "input_length" else "input_length"
    panels = _scenario_panels(scenarios, axis)
    what = axis.split("_")[0]
    fig, axes = figure(len(panels), ctx, f"Latency against {what} length (synthetic prompts, mean per scenario)")
    bars = False
    for ax, (field, name, slo) in zip(axes, panels, strict=True):
        for color, fixed in zip(PALETTE, sorted({getattr(s, other) for s in scenarios}), strict=False):
            runs = sorted((s for s in scenarios if getattr(s, other) == fixed and getattr(s, field) is not None),
                          key=lambda s: getattr(s, axis))
            xs, ys = [getattr(s, axis) for s in runs], [getattr(s, field) for s in runs]
            ax.plot(xs, ys, marker="o", color=color, label=f"{other.split('_')[0]} {fixed} tokens")
            ranges = [spread(report, f"latency.scenarios.{s.name}.{field}") for s in runs]
            bars = error_bars(ax, xs, ys, ranges, color) or bars
        slo_line(ax, ctx, slo, name)
        style(ax, f"{name} (mean)", f"{what} length (tokens)", f"{name} (ms)")
        ax.set_xticks(sorted({getattr(s, axis) for s in scenarios}))
        ax.legend(fontsize=8, loc="lower right")
    if bars:
        note(fig, f"Error bars: min to max over {report.repeat.n} runs (--repeat).")
    return fig


def _points(report: Report, mode: str) -> list[ThroughputPoint]:
    return sorted((p for p in report.throughput.points if p.mode == mode), key=lambda p: p.level)


def _serving_points(report: Report) -> list[ThroughputPoint]:
    """One closed-loop client is the single-request phase: it starts the curve at level 1."""
    pts = [*_points(report, "single"), *(p for p in _points(report, "concurrent") if p.level != 1)]
    return sorted(pts, key=lambda p: p.level)


def _repeat_key(p: ThroughputPoint, what: str) -> str:
    if p.mode == "single":
        return f"throughput.single_request_{what}"
    return f"throughput.{p.mode}_{p.level}_{what}"


def _throughput_panels(report: Report) -> list[tuple[str, list[ThroughputPoint]]]:
    out = []
    for mode, pts in (("batch", _points(report, "batch")), ("concurrent", _serving_points(report))):
        if drawable([p.level for p in pts], [p.output_tokens_per_second for p in pts]):
            out.append((mode, pts))
    return out


def _throughput(report: Report, ctx: PlotContext) -> Any:
    """Output tokens/s against batch size and against closed-loop clients (from zero; the single-stream rate
    as a dashed reference); a panel needs two levels or more."""
    panels = _throughput_panels(report)
    two_lines = any(p.serialized for _, pts in panels for p in pts)
    fig, axes = figure(len(panels), ctx, "Throughput against batch size and concurrent clients",
                       extra_top=0.2 if two_lines else 0.0)
    single = next((p.output_tokens_per_second for p in _points(report, "single")), None)
    bars = False
    for ax, (mode, pts) in zip(axes, panels, strict=True):
        levels = [p.level for p in pts]
        serialized = any(p.serialized for p in pts)
        ys = [p.output_tokens_per_second for p in pts]
        ax.plot(levels, [nan(v) for v in ys], marker="o", color=PALETTE[0], label="output tokens/s")
        bars = error_bars(ax, levels, ys, [spread(report, _repeat_key(p, "tps")) for p in pts], PALETTE[0]) or bars
        if mode == "batch":
            total = [p.total_tokens_per_second for p in pts]
            ax.plot(levels, [nan(v) for v in total], marker="s", ls="--", color=PALETTE[1],
                    label="total tokens/s (input + output)")
            if single is not None:
                ax.axhline(single, color="#7F7F7F", ls=":", label="single stream, output tokens/s")
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(v) for v in levels])
        ax.minorticks_off()
        x_label = "batch size (requests per batch)" if mode == "batch" else "concurrent clients (closed loop)"
        title = "batched generate()" if mode == "batch" else "closed-loop clients" + (
            "\n(engine serves one request at a time)" if serialized else "")
        style(ax, title, x_label, "throughput (tokens/s)")
        ax.legend(fontsize=8, loc="upper left" if mode == "batch" else "lower right")
    if bars:
        note(fig, f"Error bars: min to max over {report.repeat.n} runs (--repeat).")
    return fig


def _latency_vs_throughput(report: Report, ctx: PlotContext) -> Any:
    """Median and p90 E2E latency against requests/s, one point per concurrency level (the serving curve)."""
    pts = _serving_points(report)
    serialized = any(p.serialized for p in pts)
    fig, (ax,) = figure(1, ctx, "E2E latency against throughput (closed-loop clients)", width=7.5)
    x = [p.requests_per_second for p in pts]
    for color, stat, style_ in ((PALETTE[0], "median", "-o"), (PALETTE[1], "p90", "--s")):
        y = [getattr(p.metrics.e2e_latency_ms, stat) if p.metrics.e2e_latency_ms else None for p in pts]
        if len(finite(y)) >= 2:
            ax.plot([nan(v) for v in x], [nan(v) for v in y], style_, color=color, label=f"E2E {stat}")
    for p, xi in zip(pts, x, strict=True):
        if p.metrics.e2e_latency_ms and xi is not None and p.metrics.e2e_latency_ms.median is not None:
            ax.annotate(f"{p.level} client{'s' if p.level > 1 else ''}", (xi, p.metrics.e2e_latency_ms.median),
                        textcoords="offset points", xytext=(5, 5), fontsize=8)
    slo_line(ax, ctx, "e2e_ms", "E2E")
    sub = "engine serves one request at a time: latency grows with queueing" if serialized else None
    style(ax, sub, "throughput (requests/s)", "E2E latency (ms)")
    ax.set_xlim(left=0, right=max(finite(x)) * 1.15)
    ax.set_ylim(top=ax.get_ylim()[1] * 1.12)  # room for the point labels
    ax.legend(fontsize=8, loc="lower right")
    return fig


def memory_bars(mem: MemorySection) -> list[tuple[str, float, str]]:
    """The figures the memory plot shows: (label, GiB, how it was obtained: RSS / allocator / NVML / computed)."""
    from mm_orch.output.html.labels import memory_kind

    load = mem.load
    bars = [("libraries", load.libraries_gb if load else None, load.source if load else None),
            ("weights", load.weights_gb if load else None, "model config"),
            ("model load", mem.model_load.value_gb, mem.model_load.source),
            ("KV cache", mem.kv_cache.value_gb, mem.kv_cache.source),
            ("inference delta", mem.inference_delta.value_gb, mem.inference_delta.source),
            ("peak", mem.peak.value_gb, mem.peak.source)]
    for label, fig in (("run peak", mem.run_peak), ("NVML process", mem.nvml_process)):
        if fig is not None:
            bars.append((label, fig.value_gb, fig.source))
    return [(k, float(v), memory_kind(s)) for k, v, s in bars if v is not None and v > 0]


def _memory(mem: MemorySection, ctx: PlotContext) -> Any:
    """Horizontal bars from zero in GiB, measured figures (RSS, allocator, NVML) apart from computed ones."""
    bars = memory_bars(mem)
    fig, (ax,) = figure(1, ctx, "Memory (GiB)", width=8.5, height=0.42 * len(bars) + 0.8, left=2.2,
                        extra_bottom=0.3)
    labels = [f"{b[0]} ({b[2]})" for b in bars]
    colors = ["#E69F00" if b[2] == "computed" else PALETTE[0] for b in bars]
    rects = ax.barh(labels, [b[1] for b in bars], color=colors, hatch=None)
    for rect, b in zip(rects, bars, strict=True):
        if b[2] == "computed":
            rect.set_hatch("//")
    ax.bar_label(rects, labels=[f"{b[1]:.3g} GiB" for b in bars], fontsize=8, padding=3)
    ax.set_xlim(0, max(b[1] for b in bars) * 1.25)  # room for the largest bar's label
    ax.invert_yaxis()
    ax.set_xlabel("memory (GiB = 2^30 bytes)")
    ax.set_ylabel("figure (how it was obtained)")
    ax.grid(axis="x", alpha=0.3)
    from matplotlib.patches import Patch

    kinds = sorted({b[2] for b in bars if b[2] != "computed"})
    handles = [Patch(color=PALETTE[0], label=f"measured ({', '.join(kinds)})")] if kinds else []
    if any(b[2] == "computed" for b in bars):
        handles.append(Patch(facecolor="#E69F00", hatch="//", label="computed from the model's shapes"))
    ax.legend(handles=handles, fontsize=8, loc="best")
    note(fig, "RSS: the process's resident memory (psutil); allocator: torch's CUDA allocator; NVML: the driver's "
              "per-process figure. Computed: weights = parameters x dtype bytes; KV = 2 x layers x kv heads x "
              "head dim x dtype bytes x tokens.")
    return fig


def _ecdf(hist_edges: list[float], counts: list[int]) -> tuple[list[float], list[float]]:
    """A cumulative curve from the stored log-spaced histogram (the raw gaps are not kept in the report)."""
    total = float(sum(counts)) or 1.0
    cum = np.cumsum(counts) / total
    return [hist_edges[0], *hist_edges[1:]], [0.0, *cum.tolist()]


def _itl(runs: list[LatencyRun], ctx: PlotContext) -> Any:
    """ITL as one ECDF per scenario (share of gaps <= x ms); median and p99 read off where y = 0.5, 0.99."""
    fig, (ax,) = figure(1, ctx, "Inter-token latency, cumulative", width=8)
    lows: list[float] = []
    for i, run in enumerate(r for r in runs if r.itl_histogram is not None and r.distributions.itl_ms is not None):
        hist, dist = run.itl_histogram, run.distributions.itl_ms
        x, y = _ecdf(hist.edges, hist.counts)
        ax.step(x, y, where="post", color=PALETTE[i % len(PALETTE)],
                label=f"{run.name} (n={dist.count}, median {dist.median:.3g} ms)")
        lows.append(hist.edges[0])
    log_x = bool(lows) and min(lows) > 0  # a zero gap (chunked arrival) has no place on a log axis
    if log_x:
        plain_log(ax, "x")
    for q in (0.5, 0.99):
        ax.axhline(q, color="grey", linestyle=":", linewidth=0.8)
    style(ax, "dotted lines: median and p99", "inter-token latency (ms" + (", log scale)" if log_x else ")"),
          "share of gaps \u2264 x (fraction)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def write_plots(report: Report, stem: str | Path) -> dict[str, Path]:
    """Write the plots the report has data for as <stem>_<name>.png; returns {name: path}."""
    from mm_orch.output.load_plots import load_figures
    from mm_orch.output.timeline_plot import timeline_figures

    stem = Path(stem)
    ctx = PlotContext.of(report)
    lat = report.latency
    scenarios = [s for s in lat.scenarios if s.input_length] if lat else []
    figures: dict[str, Any] = {}
    if _scenario_panels(scenarios, "input_length"):
        figures["latency_vs_input"] = lambda: _latency_vs(report, scenarios, "input_length", ctx)
    if _scenario_panels(scenarios, "output_length"):
        figures["latency_vs_output"] = lambda: _latency_vs(report, scenarios, "output_length", ctx)
    if report.throughput and report.throughput.points:
        if _throughput_panels(report):
            figures["throughput"] = lambda: _throughput(report, ctx)
        if len(_serving_points(report)) > 1:
            figures["latency_vs_throughput"] = lambda: _latency_vs_throughput(report, ctx)
    if report.memory and memory_bars(report.memory):
        figures["memory"] = lambda: _memory(report.memory, ctx)
    runs = [lat, *lat.scenarios] if lat else []
    if any(r.itl_histogram for r in runs):
        figures["itl"] = lambda: _itl(runs, ctx)
    figures.update(load_figures(report, ctx))
    figures.update(timeline_figures(report, ctx))  # client, server and GPUs against one time axis
    out = {}
    for name, make in figures.items():
        out[name] = save(make(), stem.with_name(f"{stem.name}_{name}.png"))
        log.debug("plot %s -> %s", name, out[name])
    return out
