"""The load test's PNGs: TTFT, TPOT and E2E from arrival (what a user sees) and from send (the server's time)
as percentile profiles, with the SLO lines; and TTFT and TPOT over the run when the report keeps its requests
(load.timeline). Plot rules: mm_orch/output/plot_style.py."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from mm_orch.output.plot_style import (
    PALETTE,
    PlotContext,
    drawable,
    figure,
    finite,
    nan,
    note,
    plain_log,
    slo_line,
    spread,
    style,
)
from mm_orch.report.model import Report

PERCENTILES = (("min", "min"), ("median", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99"), ("max", "max"))


def _panels(report: Report) -> list[tuple[str, str, list[tuple[str, Any, str | None]]]]:
    """(title, SLO key, [(series label, distribution, repeat key prefix)]) of each panel with data."""
    load, m = report.load, report.load.metrics
    panels = [
        ("TTFT", "ttft_ms", [("from arrival (due time)", load.ttft_from_arrival_ms, "load.ttft_from_arrival_ms"),
                             ("from send", m.ttft_ms, "load.ttft_ms")]),
        ("TPOT", "tpot_ms", [("TPOT", m.tpot_ms, "load.tpot_ms"), ("ITL (every gap)", m.itl_ms, None)]),
        ("E2E latency", "e2e_ms", [("from arrival (due time)", load.e2e_from_arrival_ms, None),
                                   ("from send", m.e2e_latency_ms, "load.e2e_latency_ms")]),
    ]
    out = []
    for title, slo, series in panels:
        series = [s for s in series if s[1] is not None]
        cols = _columns([s[1] for s in series])
        values = [[getattr(s[1], key) for key, _ in cols] for s in series]
        if series and drawable(list(range(len(cols))), *values):
            out.append((title, slo, series))
    return out


def _columns(dists: list[Any]) -> list[tuple[str, str]]:
    return [(key, name) for key, name in PERCENTILES if any(finite([getattr(d, key)]) for d in dists)]


def load_distributions(report: Report, ctx: PlotContext) -> Any:
    """One panel per latency: its percentiles from min to max, from arrival and from send; the SLO dashed."""
    load = report.load
    panels = _panels(report)
    rate = f"{load.requested_rate_rps:g} req/s" if load.requested_rate_rps else "all at once"
    burst = " (the saturation burst)" if report.saturation is not None else ""
    title = f"Load test{burst}: latency percentiles, {rate} requested, {load.throughput_rps or 0:.3g} req/s achieved"
    fig, axes = figure(len(panels), ctx, title)
    bars = False
    for ax, (name, slo, series) in zip(axes, panels, strict=True):
        cols = _columns([s[1] for s in series])
        xs = list(range(len(cols)))
        values = finite([getattr(d, c) for _, d, _ in series for c, _ in cols])
        queued = any(label.startswith("from arrival") for label, _, _ in series)
        log = queued and min(values) > 0 and max(values) / min(values) > 20  # queueing: arrival dwarfs send
        if log:
            plain_log(ax)
        for color, ls, (label, dist, key) in zip(PALETTE, ("-", "--"), series, strict=False):
            ys = [getattr(dist, c) for c, _ in cols]
            ax.plot(xs, [nan(v) for v in ys], marker="o", ls=ls, color=color, label=f"{label} (n={dist.count})")
            for i, (c, _) in enumerate(cols):
                r = spread(report, f"{key}.{c}") if key else None
                if r is not None and finite([ys[i]]):
                    ax.errorbar([i], [ys[i]], yerr=[[max(0, ys[i] - r[0])], [max(0, r[1] - ys[i])]], fmt="none",
                                ecolor=color, capsize=4)
                    bars = True
        slo_line(ax, ctx, slo, name.split()[0])
        style(ax, name, "percentile (of the requests)", f"{name} (ms{', log scale' if log else ''})", zero=not log)
        ax.set_xticks(xs, [n for _, n in cols])
        ax.legend(fontsize=7.5, loc="best")
    text = "From arrival: from the request's due time (queueing included); from send: the server's time."
    if bars:
        text += f" Error bars: min to max over {report.repeat.n} runs (--repeat)."
    note(fig, text)
    return fig


def _timeline(report: Report) -> dict | None:
    """The per-request columns the load section keeps, if any: due_s, ttft_from_arrival_ms, tpot_ms."""
    tl = getattr(report.load, "timeline", None)
    if tl is None:
        return None
    cols = tl if isinstance(tl, dict) else tl.model_dump()
    due = cols.get("due_s") or []
    return cols if len(due) >= 2 else None


def load_over_time(report: Report, ctx: PlotContext) -> Any:
    """TTFT from arrival and TPOT of every request against its due time: queueing builds up as a ramp."""
    cols = _timeline(report)
    due = cols["due_s"]
    series = [(k, n, s) for k, n, s in (("ttft_from_arrival_ms", "TTFT from arrival", "ttft_ms"),
                                        ("tpot_ms", "TPOT", "tpot_ms")) if drawable(due, cols.get(k) or [])]
    fig, axes = figure(len(series), ctx, "Load test: latency of each request over the run")
    for ax, color, (key, name, slo) in zip(axes, PALETTE, series, strict=False):
        ax.plot(due, [nan(v) for v in cols[key]], ".", ms=3, color=color, label=f"{name}, one dot per request")
        slo_line(ax, ctx, slo, name.split()[0])
        style(ax, name, "due time since the first request (s)", f"{name} (ms)")
        ax.set_xlim(left=0)
        ax.legend(fontsize=7.5, loc="upper left")
    if cols.get("requests", 0) > len(due):
        note(fig, f"{len(due):,} of {cols['requests']:,} requests shown (every {math.ceil(cols['requests'] / len(due))}"
                  "th, in due order).")
    return fig


def load_figures(report: Report, ctx: PlotContext) -> dict[str, Callable[[], Any]]:
    """The load test's figures the report has data for: {name: make}."""
    if report.load is None:
        return {}
    out: dict[str, Callable[[], Any]] = {}
    if _panels(report):
        out["load"] = lambda: load_distributions(report, ctx)
    cols = _timeline(report)
    keys = ("ttft_from_arrival_ms", "tpot_ms")
    if cols is not None and any(drawable(cols["due_s"], cols.get(k) or []) for k in keys):
        out["load_over_time"] = lambda: load_over_time(report, ctx)
    return out
