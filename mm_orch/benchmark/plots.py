"""PNG plots of a report, rendered headless (Agg) and written atomically, named after the report's stem."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from mm_orch.io import atomic_write

log = logging.getLogger(__name__)

_LATENCY = (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"), ("e2e_latency_ms", "E2E"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    """Render to a temporary sibling, then rename: a reader never sees half a PNG."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    finally:
        _pyplot().close(fig)


def _latency_vs(scenarios: list[dict], axis: str) -> Any:
    """TTFT, TPOT and E2E against input or output length; one line per value of the other length."""
    other = "output_length" if axis == "input_length" else "input_length"
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (key, label) in zip(axes, _LATENCY, strict=True):
        for fixed in sorted({s[other] for s in scenarios}):
            pts = sorted((s[axis], s[key]) for s in scenarios if s[other] == fixed and s.get(key) is not None)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{other.split('_')[0]} {fixed}")
        ax.set_title(f"{label} (mean)")
        ax.set_xlabel(f"{axis.replace('_', ' ')} (tokens)")
        ax.set_ylabel("ms")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def _levels(thr: dict[str, Any], prefix: str, suffix: str) -> list[tuple[int, float]]:
    pat = re.compile(rf"^{prefix}_(\d+)_{suffix}$")
    return sorted((int(m.group(1)), v) for k, v in thr.items()
                  if (m := pat.match(k)) and isinstance(v, int | float))


def _throughput(thr: dict[str, Any]) -> Any:
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, prefix, title in ((a, "concurrent", "concurrency"), (b, "batch", "batch size")):
        pts = _levels(thr, prefix, "tps")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label="output tokens/s")
        if prefix == "batch":
            total = _levels(thr, prefix, "total_tps")
            ax.plot([p[0] for p in total], [p[1] for p in total], marker="s", ls="--", label="total tokens/s")
        ax.set_xscale("log", base=2)
        ax.set_xticks([p[0] for p in pts], [str(p[0]) for p in pts])
        ax.set_title(f"tokens/s vs {title}")
        ax.set_xlabel(title)
        ax.set_ylabel("tokens/s")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def memory_bars(mem: dict[str, Any]) -> list[tuple[str, float]]:
    """The memory breakdown the plot shows: (label, GiB) for each measured part."""
    load = mem.get("load") or {}
    bars = [("libraries", load.get("libraries_gb")), ("weights", load.get("weights_gb")),
            ("model load", mem.get("model_load_gb")),
            ("KV cache", mem.get("kv_cache_gb")), ("inference\ndelta", mem.get("inference_delta_gb")),
            ("peak", mem.get("peak_gb"))]
    return [(k, float(v)) for k, v in bars if isinstance(v, int | float)]


def _memory(mem: dict[str, Any]) -> Any:
    plt = _pyplot()
    bars = memory_bars(mem)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    rects = ax.bar([b[0] for b in bars], [b[1] for b in bars], color="#4c72b0")
    ax.bar_label(rects, labels=[f"{b[1]:.3g}" for b in bars], fontsize=8)
    source = (mem.get("inference") or mem.get("load") or {}).get("source", "")
    ax.set_title(f"memory (GiB){' - ' + source if source else ''}", fontsize=10)
    ax.set_ylabel("GiB")
    ax.grid(axis="y", alpha=0.3)
    return fig


def _itl(lat: dict[str, Any]) -> Any:
    """ITL histograms (log-spaced bins) of the headline and each scenario, with each one's median and p99."""
    plt = _pyplot()
    series = [("test prompts", lat)] + [(s["name"], s) for s in lat.get("scenarios") or []]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    lows: list[float] = []
    for name, part in series:
        hist, dist = part.get("itl_histogram"), (part.get("distributions") or {}).get("itl_ms")
        if not hist or not dist:
            continue
        patch = ax.stairs(hist["counts"], hist["edges"], label=f"{name} (n={dist['count']}, "
                          f"p50 {dist['median']:.3g}, p99 {dist['p99']:.3g} ms)")
        lows.append(hist["edges"][0])
        for stat, style in (("median", "--"), ("p99", ":")):
            ax.axvline(dist[stat], color=patch.get_edgecolor(), linestyle=style, linewidth=0.8)
    if lows and min(lows) > 0:  # a zero gap (chunked arrival) has no place on a log axis
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # labels inside a single decade too
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title("inter-token latency distribution (dashed: median, dotted: p99)")
    ax.set_xlabel("ms")
    ax.set_ylabel("tokens")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def write_plots(report: dict[str, Any], stem: str | Path) -> dict[str, Path]:
    """Write the plots the report has data for as <stem>_<name>.png; returns {name: path}."""
    stem = Path(stem)
    lat, thr, mem = report.get("latency") or {}, report.get("throughput") or {}, report.get("memory") or {}
    scenarios = [s for s in lat.get("scenarios") or [] if s.get("input_length")]
    figures: dict[str, Any] = {}
    if len({s["input_length"] for s in scenarios}) > 1:
        figures["latency_vs_input"] = lambda: _latency_vs(scenarios, "input_length")
    if len({s["output_length"] for s in scenarios}) > 1:
        figures["latency_vs_output"] = lambda: _latency_vs(scenarios, "output_length")
    if _levels(thr, "concurrent", "tps") or _levels(thr, "batch", "tps"):
        figures["throughput"] = lambda: _throughput(thr)
    if memory_bars(mem):
        figures["memory"] = lambda: _memory(mem)
    if lat.get("itl_histogram") or any(s.get("itl_histogram") for s in lat.get("scenarios") or []):
        figures["itl"] = lambda: _itl(lat)
    out = {}
    for name, make in figures.items():
        out[name] = _save(make(), stem.with_name(f"{stem.name}_{name}.png"))
        log.debug("plot %s -> %s", name, out[name])
    return out
