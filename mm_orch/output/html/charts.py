"""Chart specs for report.js (uPlot): series, axes, and the Charts collector that refuses a panel with fewer than two
points or constant values (listed under the plots with the reason); percentile, bar, line and histogram charts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .context import Context
from .format import LE, dig, esc, format_number, num, plural

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F")  # Okabe-Ito

SLO_COLOR, REF_COLOR, KNEE_COLOR = "#C0392B", "#7F7F7F", "#000000"

PERCENTILES = (("min", "min"), ("median", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99"), ("max", "max"))


@dataclass
class Series:
    label: str
    values: list[Any]
    style: str = "line"  # line | points | bar | dash (a reference line: SLO, y = x) | ring (a marked point)
    color: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.style in ("dash", "ring")


def axis(
    label: str,
    unit: str | None,
    values: Sequence[Any],
    categories: Sequence[str] | None = None,
    log: int | None = None,
    titles: Sequence[str] | None = None,
) -> dict:
    """An x axis: numbers (log: the base of a log scale), or categories (tick labels; titles: names on hover)."""
    cats = [str(c) for c in categories] if categories else None
    hover = [str(t) for t in titles] if titles else cats
    return {"label": label, "unit": unit, "values": list(values), "categories": cats, "titles": hover, "log": log}


@dataclass
class Charts:
    """Collects chart specs for report.js, and the panels that were not drawn with why."""

    ctx: Context
    specs: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, title: str, x: dict, y: dict, series: Sequence[Series], caption: str | None = None) -> str:
        """One figure's HTML, or '' when the panel has fewer than two points or is constant (then listed)."""
        kept = [s for s in series if any(num(v) is not None for v in s.values)]
        data = [s for s in kept if not s.is_reference]
        points = [i for i in range(len(x["values"])) if any(num(dig(s.values, i)) is not None for s in data)]
        values = {num(dig(s.values, i)) for s in data for i in points} - {None}
        if len(points) < 2:
            self.skipped.append(f"{title}: {plural(len(points), 'point')}")
            return ""
        if len(values) < 2:
            self.skipped.append(f"{title}: constant at {format_number(values.pop())} {y.get('unit') or ''}".rstrip())
            return ""
        chart_id = f"chart-{len(self.specs) + 1}"
        colors = iter(PALETTE)
        specs = []
        for s in kept:
            color = s.color or (SLO_COLOR if s.style == "dash" else next(colors, REF_COLOR))
            specs.append({"label": s.label, "values": [num(v) for v in s.values], "style": s.style, "color": color})
        self.specs.append({"id": chart_id, "title": title, "x": x, "y": y, "series": specs})
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        return (
            f'<figure class="chart" data-chart="{chart_id}"><div class="title">{esc(title)}</div>'
            f'<div class="subtitle">{esc(self.ctx.subtitle)}</div><div class="plot" id="{chart_id}"></div>'
            f"{cap}</figure>"
        )


def percentile_chart(
    charts: Charts,
    title: str,
    quantity: str,
    dists: Sequence[tuple[str, Any]],
    slo: tuple[str, float | None] = ("", None),
) -> str:
    """Percentile profile (min, p50 ... max) of distributions in ms, one line each; the means are in the tables."""
    dists = [(label, d) for label, d in dists if isinstance(d, dict)]
    cols = [(key, name) for key, name in PERCENTILES if any(num(d.get(key)) is not None for _, d in dists)]
    series = [Series(label, [d.get(key) for key, _ in cols]) for label, d in dists]
    slo_name, limit = slo
    if limit is not None and cols:
        series.append(Series(f"SLO {slo_name} {LE} {format_number(limit)} ms", [limit] * len(cols), style="dash"))
    x = axis("percentile of requests", None, range(len(cols)), [name for _, name in cols])
    return charts.add(title, x, {"label": quantity, "unit": "ms"}, series)


def bar_chart(
    charts: Charts,
    title: str,
    x: tuple[str, Sequence[str]],
    y: tuple[str, str],
    values: Sequence[Any],
    caption: str | None = None,
    titles: Sequence[str] | None = None,
) -> str:
    """Bars from zero, one per category. x: (what the categories are, their labels); y: (quantity, unit)."""
    x_label, cats = x
    spec = axis(x_label, None, range(len(cats)), cats, titles=titles)
    return charts.add(title, spec, {"label": y[0], "unit": y[1]}, [Series(y[0], list(values), "bar")], caption)


def line_chart(charts: Charts, title: str, x: dict, y: tuple[str, str], series: Sequence[Series]) -> str:
    return charts.add(title, x, {"label": y[0], "unit": y[1]}, series)


def histogram_chart(charts: Charts, title: str, hist: Any, quantity: str, what: str) -> str:
    """Counts per bin; log-spaced bins (a constant edge ratio) get a log x axis so that every bar is as wide."""
    edges, counts = dig(hist, "edges"), dig(hist, "counts")
    if not isinstance(edges, list) or not isinstance(counts, list) or len(edges) != len(counts) + 1:
        return ""
    if any(num(e) is None for e in edges):
        return ""
    ratios = [b / a for a, b in zip(edges, edges[1:], strict=False) if a > 0]
    geometric = len(ratios) == len(counts) > 1 and max(ratios) - min(ratios) < 1e-6 * max(ratios)
    pairs = zip(edges, edges[1:], strict=False)
    centers = [math.sqrt(a * b) if geometric else (a + b) / 2 for a, b in pairs]
    x = axis(quantity + (", log scale" if geometric else ""), "ms", centers, log=10 if geometric else None)
    return charts.add(title, x, {"label": what, "unit": "count"}, [Series(what, counts, "bar")])
