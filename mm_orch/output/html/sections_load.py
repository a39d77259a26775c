"""Plots and tables of the open-loop tests: the load test (percentiles from arrival and from send, TTFT and TPOT
over time when the requests are kept) and the saturation sweep (curves against the achieved rate, the knee, the
SLO line). Each returns (plots html, tables html)."""

from __future__ import annotations

import math

from .charts import KNEE_COLOR, REF_COLOR, Charts, Series, axis, line_chart, percentile_chart
from .context import slo_of
from .format import LE, as_dict, dicts, dig, esc, fnum, format_number, num, pct
from .tables import dist_table, kv_table, table

MAX_TIMELINE_POINTS = 4000


def load_section(report: dict, charts: Charts) -> tuple[str, str]:
    load = report.get("load")
    if not isinstance(load, dict):
        return "", ""
    m = as_dict(load.get("metrics"))
    slo = slo_of(report)
    burst = " (the saturation burst)" if isinstance(report.get("saturation"), dict) else ""
    both = "from arrival (due time)", "from send"
    plots = [
        percentile_chart(
            charts,
            f"Load test: TTFT percentiles{burst}",
            "TTFT",
            [(both[0], load.get("ttft_from_arrival_ms")), (both[1], m.get("ttft_ms"))],
            ("TTFT", slo.get("ttft_ms")),
        ),
        percentile_chart(
            charts,
            f"Load test: TPOT and ITL percentiles{burst}",
            "TPOT / ITL",
            [("TPOT", m.get("tpot_ms")), ("ITL", m.get("itl_ms"))],
            ("TPOT", slo.get("tpot_ms")),
        ),
        percentile_chart(
            charts,
            f"Load test: E2E latency percentiles{burst}",
            "E2E latency",
            [(both[0], load.get("e2e_from_arrival_ms")), (both[1], m.get("e2e_latency_ms"))],
            ("E2E", slo.get("e2e_ms")),
        ),
        *timeline_charts(load, charts, slo),
    ]
    rate = num(load.get("requested_rate_rps"))
    facts = [
        ("mode", load.get("mode")),
        ("requested rate req/s", rate if rate is not None else "\u221e (all at once)"),
        ("schedule rate req/s (as drawn)", num(load.get("schedule_rate_rps"))),
        ("achieved send rate req/s", num(load.get("achieved_send_rate_rps"))),
        ("completed req/s", num(load.get("throughput_rps"))),
        ("output tokens/s", num(m.get("output_tokens_per_second"))),
        ("completed", m.get("completed")),
        ("failed", m.get("failed")),
        ("peak in flight", load.get("peak_in_flight")),
        ("max concurrency", load.get("max_concurrency")),
        ("workers", load.get("workers")),
        ("prompts", load.get("prompts")),
        ("calibration", load.get("calibration_note")),
    ]
    dists = [
        ("TTFT from arrival", load.get("ttft_from_arrival_ms"), "ms"),
        ("TTFT from send", m.get("ttft_ms"), "ms"),
        ("TPOT", m.get("tpot_ms"), "ms"),
        ("ITL", m.get("itl_ms"), "ms"),
        ("E2E from arrival", load.get("e2e_from_arrival_ms"), "ms"),
        ("E2E from send", m.get("e2e_latency_ms"), "ms"),
        ("schedule lag", load.get("schedule_lag_ms"), "ms"),
        ("client queue", load.get("client_queue_ms"), "ms"),
    ]
    return "".join(plots), f"<h3>Load test{esc(burst)}</h3>" + kv_table(facts) + dist_table(dists)


def timeline_charts(load: dict, charts: Charts, slo: dict) -> list[str]:
    """TTFT from arrival and TPOT of each request against its due time, from the load section's timeline
    (columns due_s, ttft_from_arrival_ms, tpot_ms; the run may have thinned it). At most MAX_TIMELINE_POINTS."""
    cols = as_dict(load.get("timeline"))
    due = cols.get("due_s") if isinstance(cols.get("due_s"), list) else []
    rows = [i for i, v in enumerate(due) if num(v) is not None]
    rows = rows[:: max(1, math.ceil(len(rows) / MAX_TIMELINE_POINTS))]
    if len(rows) < 2:
        return []
    x = axis("due time since the first request", "s", [due[i] for i in rows])
    out = []
    for key, name, limit in (
        ("ttft_from_arrival_ms", "TTFT from arrival", slo.get("ttft_ms")),
        ("tpot_ms", "TPOT", slo.get("tpot_ms")),
    ):
        vals = [dig(cols, key, i) for i in rows]
        series = [Series(f"{name}, one dot per request", vals, "points")]
        if limit is not None:
            series.append(Series(f"SLO {name.split()[0]} {LE} {format_number(limit)} ms", [limit] * len(rows), "dash"))
        out.append(line_chart(charts, f"Load test: {name} over the run", x, (name, "ms"), series))
    return out


def saturation_section(report: dict, charts: Charts) -> tuple[str, str]:
    sat = report.get("saturation")
    if not isinstance(sat, dict):
        return "", ""
    swept = dicts(sat.get("points"))
    pts = sorted((p for p in swept if num(p.get("achieved_rps")) is not None), key=lambda p: p["achieved_rps"])
    knee = dig(sat, "points", sat["knee_index"]) if isinstance(sat.get("knee_index"), int) else None
    slo, tail = slo_of(report), sat.get("tail_statistic") or "tail"
    x = axis("achieved", "req/s", [p["achieved_rps"] for p in pts])
    plots = []
    for key, name, limit in (("ttft", "TTFT from arrival", slo.get("ttft_ms")), ("tpot", "TPOT", slo.get("tpot_ms"))):
        series = [
            Series(f"{name} p50", [p.get(f"{key}_p50_ms") for p in pts]),
            Series(f"{name} {tail}", [p.get(f"{key}_tail_ms") for p in pts]),
        ]
        if knee is not None and key == "ttft":
            series.append(
                Series("knee", [p.get("ttft_tail_ms") if p is knee else None for p in pts], "ring", KNEE_COLOR)
            )
        if limit is not None:
            series.append(Series(f"SLO {name.split()[0]} {LE} {format_number(limit)} ms", [limit] * len(pts), "dash"))
        plots.append(line_chart(charts, f"Saturation: {name} against achieved rate", x, (name, "ms"), series))

    def offered(p: dict) -> float | None:
        return num(p.get("schedule_rate_rps")) or num(p.get("requested_rate_rps"))

    by_rate = sorted((p for p in pts if offered(p) is not None), key=offered)
    rates = [offered(p) for p in by_rate]
    series = [
        Series("achieved req/s", [p.get("achieved_rps") for p in by_rate]),
        Series("achieved = offered", rates, "dash", REF_COLOR),
    ]
    xo = axis("offered (schedule)", "req/s", rates)
    plots.append(line_chart(charts, "Saturation: achieved against offered rate", xo, ("achieved", "req/s"), series))
    series = [Series("output tokens/s", [p.get("output_tokens_per_second") for p in pts])]
    plots.append(
        line_chart(
            charts, "Saturation: output tokens/s against achieved rate", x, ("output tokens/s", "tokens/s"), series
        )
    )
    return "".join(plots), _saturation_table(sat, knee, tail)


def _saturation_table(sat: dict, knee: dict | None, tail: str) -> str:
    keys = ("schedule_rate_rps", "achieved_rps", "output_tokens_per_second", "ttft_p50_ms", "ttft_tail_ms")
    keys += ("tpot_p50_ms", "tpot_tail_ms", "e2e_tail_ms")
    rows, classes = [], []
    for p in ([sat["burst"]] if isinstance(sat.get("burst"), dict) else []) + dicts(sat.get("points")):
        label = "burst" if p.get("kind") == "burst" else fnum(p.get("requested_rate_rps"))
        share = pct(dig(p, "goodput", "share_met"))
        rows.append([label, *(num(p.get(k)) for k in keys), p.get("requests"), p.get("failed"), share])
        classes.append("good" if p is knee else "")
    headers = ["requested req/s", "schedule req/s", "achieved req/s", "output tokens/s", "TTFT p50 ms"]
    headers += [
        f"TTFT {tail} ms",
        "TPOT p50 ms",
        f"TPOT {tail} ms",
        f"E2E {tail} ms",
        "requests",
        "failed",
        "SLO met %",
    ]
    note = f'<p class="hint">{esc(sat.get("knee_rule"))}</p>' if sat.get("knee_rule") else ""
    title = "<h3>Saturation (TTFT and E2E from arrival; the knee's row is marked)</h3>"
    return title + table(headers, rows, [False] + [True] * 11, classes) + note
