"""Plots and tables of the studies: context length, accuracy, workload. Each returns (plots html, tables html)."""

from __future__ import annotations

from .charts import Charts, Series, axis, bar_chart, line_chart, percentile_chart
from .format import as_dict, dicts, dig, esc, format_number, num, pct
from .tables import dist_table, kv_table, table


def context_section(report: dict, charts: Charts) -> tuple[str, str]:
    ctx = report.get("context_length")
    if not isinstance(ctx, dict):
        return "", ""
    swept = dicts(ctx.get("points"))
    pts = sorted((p for p in swept if num(p.get("context_tokens")) is not None), key=lambda p: p["context_tokens"])
    x = axis("context length", "tokens", [p["context_tokens"] for p in pts], log=2)
    plots = [
        line_chart(charts, f"{title} against context length", x, y, [Series(y[0], [p.get(key) for p in pts])])
        for key, title, y in (
            ("ttft_ms", "TTFT", ("TTFT mean", "ms")),
            ("prefill_tokens_per_second", "Prefill speed", ("prefill", "tokens/s")),
            ("tpot_ms", "TPOT", ("TPOT mean", "ms")),
        )
    ]
    rows = [
        [p.get("context_tokens"), num(p.get("ttft_ms")), num(dig(p, "ttft", "p95")), num(p.get("tpot_ms")),
         num(p.get("prefill_tokens_per_second")), p.get("failed")]
        for p in pts
    ]  # fmt: skip
    head = f"model limit {format_number(ctx.get('max_context'))} tokens; {ctx.get('runs')} run(s) per length."
    headers = ["context tokens", "TTFT mean ms", "TTFT p95 ms", "TPOT ms", "prefill tokens/s", "failed"]
    return "".join(plots), f'<h3>Context length</h3><p class="hint">{esc(head)}</p>' + table(headers, rows, [True] * 6)


def accuracy_section(report: dict, charts: Charts) -> tuple[str, str]:
    runs = dicts(dig(report, "accuracy", "runs"))
    if not runs:
        return "", ""
    modes = ("engine mode", [str(r.get("mode")) for r in runs])
    values = [pct(dig(r, "overall", "accuracy")) for r in runs]
    caption = "95 % Wilson intervals are in the table."
    plot = bar_chart(charts, "Accuracy by engine mode", modes, ("accuracy", "%"), values, caption)
    keys = ("accuracy", "ci95_low", "ci95_high")
    rows = [
        [
            str(r.get("mode")),
            dig(r, "overall", "correct"),
            dig(r, "overall", "total"),
            *(pct(dig(r, "overall", k)) for k in keys),
        ]
        for r in runs
    ]
    headers = ["mode", "correct", "total", "accuracy %", "CI95 low %", "CI95 high %"]
    return plot, "<h3>Accuracy</h3>" + table(headers, rows, [False] + [True] * 5)


def workload_section(report: dict, charts: Charts) -> tuple[str, str]:
    work = report.get("workload")
    if not isinstance(work, dict):
        return "", ""
    m = as_dict(work.get("metrics"))
    title = f"Workload ({work.get('kind')}): TTFT and TPOT percentiles"
    plot = percentile_chart(charts, title, "latency", [("TTFT", m.get("ttft_ms")), ("TPOT", m.get("tpot_ms"))])
    facts = [(k, work.get(k)) for k in ("kind", "source", "requests", "concurrency")]
    facts += [("req/s", num(m.get("requests_per_second"))), ("output tokens/s", num(m.get("output_tokens_per_second")))]
    facts += [("prefix cache hit rate", num(dig(work, "prefix_cache", "hit_rate")))]
    dists = [("TTFT", m.get("ttft_ms"), "ms"), ("TPOT", m.get("tpot_ms"), "ms"), ("E2E", m.get("e2e_latency_ms"), "ms")]
    dists += [
        ("input tokens", work.get("input_tokens"), "tokens"),
        ("output tokens", work.get("output_tokens"), "tokens"),
    ]
    return plot, "<h3>Workload</h3>" + kv_table(facts) + dist_table(dists)
