"""A sweep's files: the JSON result, a Markdown table, and per swept parameter a PNG of every metric."""

from __future__ import annotations

import json
import re
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


def plot_parameter(result: SweepResult, key: str, path: Path) -> Path | None:
    """Every metric against one swept parameter; one line per combination of the others."""
    from mm_orch.output.plots import _pyplot, _save

    metrics = list(result.metrics)
    if not metrics:
        return None
    plt = _pyplot()
    cols = min(3, len(metrics))
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    values = result.parameters[key]
    xs = values if _numeric(values) else list(range(len(values)))
    others = [k for k in result.parameters if k != key]
    series: dict[tuple, dict[Any, dict[str, float | None]]] = {}
    for p in result.points:
        series.setdefault(tuple(p.params[k] for k in others), {})[p.params[key]] = p.metrics
    for ax, m in zip(axes.flat, metrics, strict=False):
        for combo, by_value in series.items():
            ys = [by_value.get(v, {}).get(m) for v in values]
            label = ", ".join(f"{k}={_fmt(v)}" for k, v in zip(others, combo, strict=True)) or None
            ax.plot(xs, [y if y is not None else float("nan") for y in ys], marker="o", label=label)
        d = result.metrics[m]
        ax.set_title(f"{m}\n({d.unit}, {d.direction} is better)", fontsize=8)
        ax.set_xlabel(key)
        if not _numeric(values):
            ax.set_xticks(xs, [_fmt(v) for v in values])
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    if others and len(series) > 1:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{result.model_name} ({result.engine}): metrics against {key}", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


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


