"""A sweep's files: the JSON result, a Markdown table, and per swept parameter a PNG of every metric."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from mm_orch.io import atomic_write_text
from mm_orch.report.sweep import SweepResult


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown(result: SweepResult, plots: list[str], command: str | None = None) -> str:
    keys = list(result.parameters)
    metrics = list(result.metrics)
    lines = [f"# Sweep: {' x '.join(keys)} on {result.model_name} ({result.engine})", "",
             f"{len(result.points)} cells; tests: {', '.join(result.tests)}; {result.timestamp}."]
    if result.system_info:
        si = result.system_info
        lines.append(f"Machine: {si.get('gpu') or si.get('cpu')} ({si.get('cpu_count')} CPUs), torch "
                     f"{si.get('torch_version')}, mm_orch {si.get('mm_orch_version')} ({si.get('git_sha')}).")
    if command:
        lines += ["", "```bash", command, "```"]
    lines += ["", "| " + " | ".join(keys + metrics + ["error"]) + " |",
              "|" + "---|" * (len(keys) + len(metrics) + 1)]
    for p in result.points:
        cells = [_fmt(p.params[k]) for k in keys] + [_fmt(p.metrics.get(m)) for m in metrics] + [p.error or ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Metrics (from the catalogue): " + "; ".join(
        f"`{k}` {m.label}, {m.unit}, {m.direction} is better" for k, m in result.metrics.items()) + "."]
    lines += [""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(lines) + "\n"


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) for v in values)


QUANTITY = {"ms": "latency", "tokens/s": "throughput", "req/s": "rate", "GiB": "memory", "%": "share"}
PARAMETER_AXES = {  # how a swept key reads on an axis, with its unit
    "temperature": "temperature (sampling; 0 = greedy)", "top_k": "top_k (tokens kept)",
    "top_p": "top_p (probability mass kept)", "num_beams": "beams (count)", "max_new_tokens": "output length (tokens)",
    "batch_size": "batch size (requests)", "concurrency": "concurrency (clients)",
    "request_rate": "request rate (req/s)",
    "quantization": "quantization (weights format)", "engine": "engine", "dtype": "dtype (weights format)",
}


def _scaled(unit: str, values: list[float | None]) -> tuple[str, list[float | None]]:
    """Bytes are drawn in GiB, as every memory figure is."""
    if unit == "bytes":
        return "GiB", [None if v is None else v / 2**30 for v in values]
    return unit, values


def plot_parameter(result: SweepResult, key: str, path: Path) -> Path | None:
    """Every metric against one swept parameter, one line per combination of the others, from zero; a metric
    with fewer than two points or one value throughout (weights across a sampling sweep) is not drawn but named
    under the plot. None when no metric is worth a panel."""
    from mm_orch.output.plot_style import PALETTE, PlotContext, drawable, figure, finite, nan, note, save, style

    values = result.parameters[key]
    xs = values if _numeric(values) else list(range(len(values)))
    others = [k for k in result.parameters if k != key]
    series: dict[tuple, dict[Any, dict[str, float | None]]] = {}
    for p in result.points:
        series.setdefault(tuple(p.params[k] for k in others), {})[p.params[key]] = p.metrics
    lines = {m: [[by_value.get(v, {}).get(m) for v in values] for by_value in series.values()] for m in result.metrics}
    drawn = [m for m in result.metrics if drawable(xs, *lines[m])]
    skipped = []
    for m in result.metrics:
        if m not in drawn:
            got = {round(v, 12) for ys in lines[m] for v in finite(ys)}
            unit, shown = _scaled(result.metrics[m].unit, [next(iter(got))] if len(got) == 1 else [])
            why = f"constant at {shown[0]:.4g} {unit}" if len(got) == 1 else f"{len(got)} value(s)"
            skipped.append(f"{result.metrics[m].label} ({why})")
    if not drawn:
        return None
    ctx = PlotContext.of(result)
    fig, axes = figure(len(drawn), ctx, f"Sweep: metrics against {key}", cols=3, height=3.0,
                       extra_top=0.15, extra_bottom=0.15 if skipped else 0.0, row_gap=0.95)
    axis_label = PARAMETER_AXES.get(key, key)
    for ax, m in zip(axes, drawn, strict=True):
        d = result.metrics[m]
        width = 0.8 / max(1, len(series))
        for i, (color, (combo, ys)) in enumerate(zip(PALETTE, zip(series, lines[m], strict=True), strict=False)):
            unit, ys = _scaled(d.unit, ys)
            label = ", ".join(f"{k}={_fmt(v)}" for k, v in zip(others, combo, strict=True)) or None
            if _numeric(values):
                ax.plot(xs, [nan(y) for y in ys], marker="o", color=color, label=label)
            else:  # categories: bars from zero, side by side per combination of the other keys
                offset = (i - (len(series) - 1) / 2) * width
                ax.bar([x + offset for x in xs], [nan(y) for y in ys], width=width * 0.95, color=color, label=label)
        unit = _scaled(d.unit, [])[0]
        title = textwrap.shorten(d.label, 60, placeholder="...") + f"\n({d.direction} is better)"
        style(ax, title, axis_label, f"{QUANTITY.get(unit, d.label.split(' (')[0][:24])} ({unit})")
        ax.title.set_fontsize(9)
        ax.set_xticks(xs, [_fmt(v) if v is not None else "none" for v in values])
    if others and len(series) > 1:
        axes[0].legend(fontsize=7, loc="lower right")
    if skipped:
        note(fig, "Not drawn (one point, or one value throughout): " + "; ".join(skipped) + ".")
    return save(fig, path)


def write_sweep(result: SweepResult, out_dir: str | Path, stem: str | None = None,
                command: str | None = None) -> dict[str, Path]:
    """Write <stem>.json, <stem>_<param>.png per swept parameter and <stem>.md; returns the paths."""
    out_dir = Path(out_dir)
    if stem is None:
        stamp = re.sub(r"[^0-9T]", "", result.timestamp)[:15]
        stem = f"sweep_{'_'.join(result.parameters)}_{result.model_name}_{result.engine}_{stamp}"
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem)
    paths = {"json": atomic_write_text(out_dir / f"{stem}.json", json.dumps(result.model_dump(mode="json"),
                                                                          indent=1) + "\n")}
    plots = []
    for key in result.parameters:
        p = plot_parameter(result, key, out_dir / f"{stem}_{key}.png")
        if p is not None:
            paths[f"plot_{key}"] = p
            plots.append(str(p))
    paths["markdown"] = atomic_write_text(out_dir / f"{stem}.md", markdown(result, plots, command))
    from mm_orch.output.html import write_html

    cells = [(f"cell {i + 1}", Path(pt.report).with_suffix(".html").name) for i, pt in enumerate(result.points)
             if pt.report]
    paths["html"] = write_html(result.model_dump(mode="json"), out_dir / f"{stem}.html", siblings=cells)
    return paths


