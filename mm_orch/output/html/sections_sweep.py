"""A sweep summary (parameters x points): one plot per metric against the parameter with the most values."""

from __future__ import annotations

from typing import Any

from .charts import Charts, Series, axis, line_chart
from .format import as_dict, dicts, dig, num
from .tables import table


def is_sweep_summary(report: dict) -> bool:
    return (
        isinstance(report.get("parameters"), dict)
        and isinstance(report.get("points"), list)
        and "latency" not in report
    )


def sweep_section(report: dict, charts: Charts) -> tuple[str, str]:
    """One plot per metric against the parameter with the most numeric values, a line per combination of the
    others; constant metrics (weights_bytes across a sampling sweep) are skipped as such."""
    params = [str(k) for k in report["parameters"]]
    pts = dicts(report.get("points"))
    meta = as_dict(report.get("metrics"))

    def pv(p: dict, k: str) -> Any:
        return dig(p, "params", k)

    plots = []
    if params:
        xp = max(params, key=lambda k: len({pv(p, k) for p in pts if num(pv(p, k)) is not None}))
        others = [k for k in params if k != xp]
        xs = sorted({pv(p, xp) for p in pts if num(pv(p, xp)) is not None})
        groups = sorted({tuple(pv(p, o) for o in others) for p in pts}, key=str)
        x = axis(xp, "req/s" if xp == "request_rate" else None, xs)
        for key, info in meta.items():
            series = []
            for g in groups:
                cell = {pv(p, xp): dig(p, "metrics", key) for p in pts if tuple(pv(p, o) for o in others) == g}
                name = ", ".join(f"{o}={v}" for o, v in zip(others, g, strict=True)) or key
                series.append(Series(name, [cell.get(v) for v in xs]))
            label = str(dig(info, "label") or key)
            title = f"{label[:1].upper()}{label[1:]} against {xp}"
            plots.append(line_chart(charts, title, x, (label.split(" (")[0][:32], dig(info, "unit") or ""), series))
    headers = [*params, *(f"{dig(meta, k, 'label') or k} ({dig(meta, k, 'unit') or ''})" for k in meta)]
    rows = [
        [*(str(pv(p, k)) for k in params), *(num(dig(p, "metrics", k)) for k in meta), str(p.get("report") or ""),
         str(p.get("error") or "")]
        for p in pts
    ]  # fmt: skip
    numeric = [False] * len(params) + [True] * len(meta) + [False, False]
    return "".join(plots), "<h3>Sweep cells</h3>" + table([*headers, "cell report", "error"], rows, numeric)
