"""The run's timeline PNG: what the client, the server and the GPUs did in the same seconds, one shared x axis.

Panels, top to bottom, each only when the report has data for it: requests in flight (the client's), TTFT per
request (from send, and from arrival for open-loop requests), the server's queue (running and waiting requests:
its /metrics, or the in-process engine's scheduler), KV cache (the server's or the engine's usage in %, else the
KV cache the requests in flight hold, computed), GPU power and GPU utilization per GPU. The runner's phases are
shaded bands named at the top. Plot rules: mm_orch/output/plot_style.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mm_orch.output.plot_style import PALETTE, PlotContext, drawable, figure, finite, note, style
from mm_orch.report.model import Report

RUNNING = ("vllm:num_requests_running", "sglang:num_running_reqs", "tgi_batch_current_size")
WAITING = ("vllm:num_requests_waiting", "sglang:num_queue_reqs", "tgi_queue_size")
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage")
BAND = "#E8E8E8"

Series = tuple[str, list[float], list[Any], str]  # label, x, y, style ("step", "line", "dots")


def _server_series(report: Report, names: tuple[str, ...]) -> tuple[list[float], list[float]] | None:
    sm = report.server_metrics
    s = next((sm.series[n] for n in names if n in sm.series), None) if sm is not None else None
    if s is None or len(s.timeline) < 2:
        return None
    shift = sm.t0_s - report.timeline.t0_s  # both from the run's t0 in practice; kept exact if not
    return [p.t_s + shift for p in s.timeline], [p.value for p in s.timeline]


def _points(xs: list[float], ys: list[Any]) -> bool:
    """Worth a line: two or more points, and not one value throughout (plot_style.drawable)."""
    return drawable(xs, ys)


def panels(report: Report) -> list[tuple[str, str, list[Series]]]:
    """(title, y label, series) of every panel with data, top to bottom."""
    tl = report.timeline
    if tl is None:
        return []
    out: list[tuple[str, str, list[Series]]] = []
    if _points(tl.grid_s, tl.in_flight):
        out.append(("Requests in flight (client)", "requests", [("in flight", tl.grid_s, tl.in_flight, "step")]))
    ttft = [("TTFT from send", tl.ttft_t_s, tl.ttft_ms, "dots")]
    if any(v is not None for v in tl.ttft_from_arrival_ms):
        ttft.insert(0, ("TTFT from arrival", tl.ttft_t_s, tl.ttft_from_arrival_ms, "dots"))
    if _points(tl.ttft_t_s, tl.ttft_ms):
        out.append(("TTFT of each request, at its first token", "ms", ttft))
    queue: list[Series] = []
    kv: list[Series] = []
    for label, names, into in (("running", RUNNING, queue), ("waiting", WAITING, queue),
                               ("KV cache usage", KV_USAGE, kv)):
        got = _server_series(report, names)
        if got is not None:
            ys = [y * 100 for y in got[1]] if into is kv else got[1]
            into.append((f"server {label}", got[0], ys, "step"))
    es = tl.engine_scheduler
    if es is not None and not queue:
        queue += [("engine running", es.t_s, es.running, "step"), ("engine waiting", es.t_s, es.waiting, "step")]
    if es is not None and not kv and any(v is not None for v in es.kv_cache_usage):
        kv.append(("engine KV cache usage", es.t_s, [None if v is None else v * 100 for v in es.kv_cache_usage],
                    "step"))
    queue = [s for s in queue if len(finite(s[2])) >= 2]
    if any(_points(s[1], s[2]) for s in queue):
        out.append(("Server queue" if not es or "server" in queue[0][0] else "Engine scheduler", "requests", queue))
    if any(_points(s[1], s[2]) for s in kv):
        out.append(("KV cache usage", "% of blocks", kv))
    elif tl.kv_cache_gib and _points(tl.grid_s, tl.kv_cache_gib):
        out.append(("KV cache held by the requests in flight (computed)", "GiB",
                    [("prompt + generated tokens x KV bytes/token", tl.grid_s, tl.kv_cache_gib, "line")]))
    gt = report.gpu_telemetry
    if gt is not None and gt.available:
        shift = gt.t0_s - tl.t0_s
        for title, field, unit in (("GPU power", "power_w", "W"), ("GPU utilization", "util_pct", "%")):
            series = [(f"GPU {g.index}", [s.t_s + shift for s in g.samples], [getattr(s, field) for s in g.samples],
                       "line") for g in gt.gpus]
            series = [s for s in series if _points(s[1], s[2])]
            if series:
                out.append((title, unit, series))
    return out


def _draw(ax: Any, series: list[Series]) -> None:
    for i, (label, xs, ys, how) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = [(x, float(y)) for x, y in zip(xs, ys, strict=False) if finite([y])]
        if not pts:
            continue
        x, y = [p[0] for p in pts], [p[1] for p in pts]
        if how == "step":
            ax.step(x, y, where="post", color=color, lw=1.3, label=label)
        elif how == "dots":
            ax.plot(x, y, ".", color=color, ms=3, alpha=0.7, label=label)
        else:
            ax.plot(x, y, color=color, lw=1.2, label=label)
    if len(series) > 1:
        ax.legend(fontsize=7.5, loc="upper right", framealpha=0.8)


def _phases(ax: Any, report: Report, top: bool) -> None:
    """Every other phase shaded; on the top panel each phase's key inside the axes, at the top, two rows
    alternating so that short neighbouring phases do not overwrite each other."""
    for i, p in enumerate(report.timeline.phases):
        if i % 2 == 0:
            ax.axvspan(p.start_s, p.end_s, color=BAND, zorder=0, lw=0)
        if top:
            ax.text((p.start_s + p.end_s) / 2, 0.96 - 0.13 * (i % 2), p.key, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=6.5, color="#333333", zorder=5,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})


def timeline(report: Report, ctx: PlotContext) -> Any:
    rows = panels(report)
    fig, axes = figure(len(rows), ctx, "Timeline: the client, the server and the GPUs in the same seconds",
                       width=12, height=1.7, cols=1, row_gap=0.45, extra_bottom=0.15)
    phases = report.timeline.phases
    lo = min([p.start_s for p in phases] + [0.0]) if phases else None
    hi = max(p.end_s for p in phases) if phases else None
    for k, (ax, (title, unit, series)) in enumerate(zip(axes, rows, strict=True)):
        if phases:
            _phases(ax, report, top=k == 0)
        _draw(ax, series)
        style(ax, None, "seconds since the run's t0" if k == len(rows) - 1 else "", unit)
        if unit == "requests":  # counts: whole-number ticks
            from matplotlib.ticker import MaxNLocator

            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title, fontsize=9, loc="left")
        if k == 0 and phases:  # headroom for the phase names above the data
            ax.set_ylim(top=ax.get_ylim()[1] * 1.45)
        if lo is not None and hi is not None and hi > lo:
            ax.set_xlim(lo, hi)
        if k != len(rows) - 1:
            ax.tick_params(labelbottom=False)
    note(fig, "Shaded bands: the runner's phases (every other one). Server series: its Prometheus /metrics, scraped "
         "on the run's clock; GPU series: NVML; all on one clock, the one the request timestamps use.")
    return fig


def timeline_figures(report: Report, ctx: PlotContext) -> dict[str, Callable[[], Any]]:
    """{'timeline': a figure maker} when the report has a panel's worth of data, else {}."""
    return {"timeline": lambda: timeline(report, ctx)} if len(panels(report)) >= 1 else {}
