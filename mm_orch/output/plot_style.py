"""What every PNG plot shares, so that each is fit for a slide: a title with the model, engine, device and date;
fixed margins; axes from zero where values are compared; no panel of one point or of one value; the repeats'
spread as error bars; the SLO as a dashed red line; Okabe-Ito colours; atomic writes.

    ctx = PlotContext.of(report)            # a Report, a SweepResult, or the dict of either
    fig, axes = figure(3, ctx, "Latency against input length", width=12)
    ...
    save(fig, path)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mm_orch.io import atomic_write

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F")  # Okabe-Ito
SLO_COLOR, KNEE_COLOR, REF_COLOR = "#C0392B", "#000000", "#7F7F7F"
TITLE_IN, SUBTITLE_IN = 0.34, 0.26  # inches above the axes for the title and the context line


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@dataclass(frozen=True)
class PlotContext:
    """Who, what, where and when: the line under every plot's title; and the run's SLO ({'ttft_ms': 100.0})."""

    model: str
    engine: str
    device: str
    date: str
    slo: dict

    @property
    def line(self) -> str:
        return " \u00b7 ".join((self.model, self.engine, self.device, self.date))

    @classmethod
    def of(cls, report: Any) -> PlotContext:
        from mm_orch.output.html.context import context_of, slo_of

        data = report if isinstance(report, dict) else report.model_dump(mode="json")
        c = context_of(data)
        return cls(c.model, c.engine, c.device, c.date, slo_of(data))


def figure(panels: int, ctx: PlotContext, title: str, width: float | None = None, height: float = 3.4,
           left: float = 0.85, bottom: float = 0.75, gap: float = 0.85, cols: int | None = None,
           extra_top: float = 0.0, extra_bottom: float = 0.0, row_gap: float = 0.75) -> tuple[Any, list]:
    """`panels` axes (in rows of `cols`) under a title and the context line, with fixed margins in inches:
    height is one row's. (tight_layout measured every label first: 0.9 s of the main job's 2.4 s of plots.)"""
    plt = pyplot()
    cols = min(cols or panels, panels)
    rows = math.ceil(panels / cols)
    width = width or (4.2 * cols + 1.2)
    top = TITLE_IN + SUBTITLE_IN + 0.45 + extra_top
    bottom += extra_bottom
    fig, axes = plt.subplots(rows, cols, figsize=(width, top + bottom + height * rows + row_gap * (rows - 1)),
                             squeeze=False)
    w, h = fig.get_size_inches()
    axis_w = (w - left - 0.25 - gap * (cols - 1)) / cols
    axis_h = (h - top - bottom - row_gap * (rows - 1)) / rows
    fig.subplots_adjust(left=left / w, right=1 - 0.25 / w, bottom=bottom / h, top=1 - top / h,
                        wspace=gap / axis_w, hspace=row_gap / axis_h)
    fig.text(0.5, 1 - 0.12 / h, title, ha="center", va="top", fontsize=12, fontweight="bold")
    fig.text(0.5, 1 - (0.14 + TITLE_IN) / h, ctx.line, ha="center", va="top", fontsize=8.5, color="#444444")
    flat = list(axes.flat)
    for ax in flat[panels:]:
        ax.axis("off")
    return fig, flat[:panels]


def style(ax: Any, title: str | None, xlabel: str, ylabel: str, zero: bool = True) -> None:
    """Panel title, axis labels (each with its unit), a light grid, and the y axis from zero."""
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if zero:
        top = ax.get_ylim()[1]
        ax.set_ylim(bottom=0, top=max(top * 1.05, 1e-12))  # autoscale's margin was of the data's range, not of top


def plain_log(ax: Any, which: str = "y") -> None:
    """A log axis whose ticks read 2, 5, 10, 20 ... (not 2 x 10^0)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
    axis.set_minor_formatter(NullFormatter())


def finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def drawable(xs: Sequence[Any], *ys: Sequence[Any]) -> bool:
    """A panel worth drawing: at least two x values with a y, and the ys not all one value."""
    points = {x for y in ys for x, v in zip(xs, y, strict=False) if finite([v]) and finite([x])}
    values = {round(v, 12) for y in ys for v in finite(y)}
    return len(points) >= 2 and len(values) >= 2


def nan(v: Any) -> float:
    return float(v) if finite([v]) else float("nan")


def spread(report: Any, key: str) -> tuple[float, float] | None:
    """The (min, max) of a metric over --repeat runs, or None without repeats."""
    rep = getattr(report, "repeat", None)
    s = rep.metrics.get(key) if rep is not None else None
    return (s.min, s.max) if s is not None else None


def error_bars(ax: Any, xs: Sequence[float], ys: Sequence[Any], ranges: Sequence[tuple[float, float] | None],
               color: str) -> bool:
    """Min-max bars around each y with a spread; True when any was drawn."""
    pts = [(x, y, r) for x, y, r in zip(xs, ys, ranges, strict=True) if r is not None and finite([y])]
    if not pts:
        return False
    low = [max(0.0, y - r[0]) for _, y, r in pts]
    high = [max(0.0, r[1] - y) for _, y, r in pts]
    ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[low, high], fmt="none", ecolor=color, capsize=4,
                lw=1.2)
    return True


def slo_line(ax: Any, ctx: PlotContext, key: str, name: str) -> bool:
    """The SLO bound as a dashed red line, when the run had one for this metric."""
    limit = ctx.slo.get(key)
    if limit is None:
        return False
    ax.axhline(limit, color=SLO_COLOR, linestyle="--", linewidth=1.3, label=f"SLO {name} \u2264 {limit:g} ms")
    ax.set_ylim(top=max(ax.get_ylim()[1], limit * 1.15))
    return True


def note(fig: Any, text: str) -> None:
    """A footnote in the bottom-left corner (what error bars mean, which figures are computed), wrapped to the
    figure's width; figure(..., extra_bottom=0.15 a line) leaves it room."""
    import textwrap

    chars = int(fig.get_size_inches()[0] * 100 / 5.3)
    fig.text(0.01, 0.01, textwrap.fill(text, chars), ha="left", va="bottom", fontsize=7.5, color="#444444")


def save(fig: Any, path: Path) -> Path:
    """Render to a temporary sibling, then rename: a reader never sees half a PNG."""
    try:
        return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=100,
                                                                pil_kwargs={"compress_level": 1}))
    finally:
        pyplot().close(fig)
