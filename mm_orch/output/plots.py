"""PNG plots of a report, rendered headless (Agg) and written atomically, named after the report's stem."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from mm_orch.io import atomic_write
from mm_orch.report import catalogue
from mm_orch.report.model import LatencyRun, MemorySection, Report, ThroughputPoint

log = logging.getLogger(__name__)

_LATENCY = (("ttft_ms", "latency.scenarios.{scenario}.ttft_ms"), ("tpot_ms", "latency.scenarios.{scenario}.tpot_ms"),
            ("e2e_latency_ms", "latency.scenarios.{scenario}.e2e_latency_ms"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _layout(fig: Any, left: float = 0.8, bottom: float = 0.55, top: float = 0.4, gap: float = 0.8) -> Any:
    """Fixed margins in inches (legends sit inside the axes). tight_layout measured every label first: 0.9 s
    of the main job's 2.4 s of plots on a 2-core CPU, and bbox_inches="tight" renders every figure twice."""
    w, h = fig.get_size_inches()
    cols = max(1, len(fig.axes))
    axis_w = (w - left - 0.2 - gap * (cols - 1)) / cols
    fig.subplots_adjust(left=left / w, right=1 - 0.2 / w, bottom=bottom / h, top=1 - top / h, wspace=gap / axis_w)
    return fig


def _save(fig: Any, path: Path) -> Path:
    """Render to a temporary sibling, then rename: a reader never sees half a PNG."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100,
                                                          pil_kwargs={"compress_level": 1}))
    finally:
        _pyplot().close(fig)


def _latency_vs(scenarios: list[LatencyRun], axis: str) -> Any:
    """TTFT, TPOT and E2E against input or output length; one line per value of the other length."""
    other = "output_length" if axis == "input_length" else "input_length"
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (field, key) in zip(axes, _LATENCY, strict=True):
        spec = catalogue.metric(key)
        for fixed in sorted({getattr(s, other) for s in scenarios}):
            pts = sorted((getattr(s, axis), getattr(s, field)) for s in scenarios
                         if getattr(s, other) == fixed and getattr(s, field) is not None)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{other.split('_')[0]} {fixed}")
        ax.set_title(spec.label.replace(", {scenario}", ""))
        ax.set_xlabel(f"{axis.replace('_', ' ')} (tokens)")
        ax.set_ylabel(spec.unit)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _layout(fig, left=0.7, gap=0.75)


def _points(report: Report, mode: str) -> list[ThroughputPoint]:
    return sorted((p for p in report.throughput.points if p.mode == mode), key=lambda p: p.level)


def _throughput(report: Report) -> Any:
    """Output tokens/s against concurrency and batch size (serialized concurrency labelled as such)."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, mode, title in ((a, "concurrent", "concurrency (closed-loop clients)"), (b, "batch", "batch size")):
        pts = _points(report, mode)
        if not pts:
            ax.set_visible(False)
            continue
        serialized = any(p.serialized for p in pts)
        ax.plot([p.level for p in pts], [p.output_tokens_per_second for p in pts], marker="o",
                label="output tokens/s" + (" (engine serves one request at a time)" if serialized else ""))
        if mode == "batch":
            ax.plot([p.level for p in pts], [p.total_tokens_per_second for p in pts], marker="s", ls="--",
                    label="total tokens/s")
        ax.set_xscale("log", base=2)
        ax.set_xticks([p.level for p in pts], [str(p.level) for p in pts])
        ax.set_title(f"tokens/s vs {title}")
        ax.set_xlabel(title)
        ax.set_ylabel("tokens/s")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _layout(fig, left=0.85, gap=0.9)


def _serving_points(report: Report) -> list:
    """One closed-loop client is the single-request phase: it starts the curve at level 1."""
    pts = [*_points(report, "single"), *(p for p in _points(report, "concurrent") if p.level != 1)]
    return sorted(pts, key=lambda p: p.level)


def _latency_vs_throughput(report: Report) -> Any:
    """Median and p90 E2E latency against requests/s, one point per concurrency level (the serving curve)."""
    plt = _pyplot()
    pts = _serving_points(report)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = [p.requests_per_second for p in pts]
    for stat, style in (("median", "-o"), ("p90", "--s")):
        y = [getattr(p.metrics.e2e_latency_ms, stat) if p.metrics.e2e_latency_ms else None for p in pts]
        if any(v is not None for v in y):
            ax.plot(x, [np.nan if v is None else v for v in y], style, label=f"E2E {stat}")
    for p, xi in zip(pts, x, strict=True):
        if p.metrics.e2e_latency_ms and xi is not None:
            ax.annotate(f"{p.level}", (xi, p.metrics.e2e_latency_ms.median), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)
    serialized = any(p.serialized for p in pts)
    ax.set_title("latency vs throughput (labels: concurrent clients)"
                 + ("\nengine serves one request at a time: latency grows with queueing" if serialized else ""),
                 fontsize=10)
    ax.set_xlabel("requests/s")
    ax.set_ylabel("ms")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _layout(fig, top=0.6 if serialized else 0.4)


def memory_bars(mem: MemorySection) -> list[tuple[str, float]]:
    """The memory breakdown the plot shows: (label, GiB) for each measured part."""
    load = mem.load
    bars = [("libraries", load.libraries_gb if load else None), ("weights", load.weights_gb if load else None),
            ("model load", mem.model_load.value_gb), ("KV cache", mem.kv_cache.value_gb),
            ("inference\ndelta", mem.inference_delta.value_gb), ("peak", mem.peak.value_gb)]
    return [(k, float(v)) for k, v in bars if v is not None and v > 0]


def _memory(mem: MemorySection) -> Any:
    """Horizontal bars on a log axis: a 3 MiB model beside a 400 MiB process peak stays readable."""
    plt = _pyplot()
    bars = memory_bars(mem)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = [b[0].replace("\n", " ") for b in bars]
    rects = ax.barh(labels, [b[1] * 1024 for b in bars], color="#4c72b0")
    ax.bar_label(rects, labels=[f"{b[1] * 1024:.3g} MiB" for b in bars], fontsize=8, padding=2)
    ax.set_xscale("log")
    ax.set_xlim(right=max(b[1] for b in bars) * 1024 * 4)  # room for the largest bar's label
    ax.invert_yaxis()
    source = mem.inference.source if mem.inference else (mem.load.source if mem.load else "")
    ax.set_title(f"memory (MiB, log scale){' - ' + source if source else ''}", fontsize=10)
    ax.set_xlabel("MiB")
    ax.grid(axis="x", alpha=0.3)
    return _layout(fig, left=1.35)


def _ecdf(hist_edges: list[float], counts: list[int]) -> tuple[list[float], list[float]]:
    """A cumulative curve from the stored log-spaced histogram (the raw gaps are not kept in the report)."""
    total = float(sum(counts)) or 1.0
    cum = np.cumsum(counts) / total
    return [hist_edges[0], *hist_edges[1:]], [0.0, *cum.tolist()]


def _itl(runs: list[LatencyRun]) -> Any:
    """ITL as one ECDF per scenario (fraction of gaps <= x ms); median and p99 read off where y = 0.5, 0.99."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    lows: list[float] = []
    for run in runs:
        hist, dist = run.itl_histogram, run.distributions.itl_ms
        if hist is None or dist is None:
            continue
        x, y = _ecdf(hist.edges, hist.counts)
        ax.step(x, y, where="post", label=f"{run.name} (n={dist.count}, median {dist.median:.3g} ms)")
        lows.append(hist.edges[0])
    if lows and min(lows) > 0:  # a zero gap (chunked arrival) has no place on a log axis
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    for q in (0.5, 0.99):
        ax.axhline(q, color="grey", linestyle=":", linewidth=0.8)
    ax.set_ylim(0, 1.02)
    ax.set_title("inter-token latency, cumulative (dotted: median and p99)", fontsize=10)
    ax.set_xlabel("ms")
    ax.set_ylabel("fraction of gaps <= x")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _layout(fig, left=0.75)


def write_plots(report: Report, stem: str | Path) -> dict[str, Path]:
    """Write the plots the report has data for as <stem>_<name>.png; returns {name: path}."""
    stem = Path(stem)
    lat = report.latency
    scenarios = [s for s in lat.scenarios if s.input_length] if lat else []
    figures: dict[str, Any] = {}
    if len({s.input_length for s in scenarios}) > 1:
        figures["latency_vs_input"] = lambda: _latency_vs(scenarios, "input_length")
    if len({s.output_length for s in scenarios}) > 1:
        figures["latency_vs_output"] = lambda: _latency_vs(scenarios, "output_length")
    if report.throughput and report.throughput.points:
        if _points(report, "concurrent") or _points(report, "batch"):
            figures["throughput"] = lambda: _throughput(report)
        if len(_serving_points(report)) > 1:
            figures["latency_vs_throughput"] = lambda: _latency_vs_throughput(report)
    if report.memory and memory_bars(report.memory):
        figures["memory"] = lambda: _memory(report.memory)
    runs = [lat, *lat.scenarios] if lat else []
    if any(r.itl_histogram for r in runs):
        figures["itl"] = lambda: _itl(runs)
    out = {}
    for name, make in figures.items():
        out[name] = _save(make(), stem.with_name(f"{stem.name}_{name}.png"))
        log.debug("plot %s -> %s", name, out[name])
    return out
