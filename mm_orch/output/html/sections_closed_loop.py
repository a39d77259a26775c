"""Plots and tables of the closed-loop tests: latency (percentiles, ITL histogram, input x output scenarios),
throughput by phase, memory (GiB, each figure naming how it was obtained). Each returns (plots html, tables html)."""

from __future__ import annotations

from typing import Any

from .charts import Charts, Series, axis, bar_chart, histogram_chart, line_chart, percentile_chart
from .context import slo_of, slo_text
from .format import as_dict, dicts, dig, esc, num, pct
from .labels import memory_kind, point_label
from .tables import dist_table, table

MEMORY_FIELDS = (
    ("model_load", "model load"),
    ("inference_delta", "inference delta"),
    ("peak", "peak"),
    ("kv_cache", "KV cache"),
    ("run_peak", "run peak"),
    ("nvml_process", "NVML process"),
)


def latency_section(report: dict, charts: Charts) -> tuple[str, str]:
    lat = report.get("latency")
    if not isinstance(lat, dict):
        return "", ""
    d = as_dict(lat.get("distributions"))
    slo = slo_of(report)
    plots = [
        percentile_chart(
            charts,
            "TTFT percentiles (test prompts)",
            "TTFT",
            [("TTFT", d.get("ttft_ms"))],
            ("TTFT", slo.get("ttft_ms")),
        ),
        percentile_chart(
            charts,
            "TPOT and ITL percentiles (test prompts)",
            "TPOT / ITL",
            [("TPOT", d.get("tpot_ms")), ("ITL", d.get("itl_ms"))],
            ("TPOT", slo.get("tpot_ms")),
        ),
        percentile_chart(
            charts,
            "E2E latency percentiles (test prompts)",
            "E2E latency",
            [("E2E", d.get("e2e_latency_ms"))],
            ("E2E", slo.get("e2e_ms")),
        ),  # fmt: skip
        histogram_chart(charts, "Inter-token latency histogram", lat.get("itl_histogram"), "ITL", "token gaps"),
        *scenario_charts(dicts(lat.get("scenarios")), charts),
    ]
    tables = "<h3>Latency distributions (test prompts)</h3>" + dist_table(
        [
            ("TTFT", d.get("ttft_ms"), "ms"),
            ("TPOT", d.get("tpot_ms"), "ms"),
            ("E2E latency", d.get("e2e_latency_ms"), "ms"),
            ("ITL", d.get("itl_ms"), "ms"),
            ("per-request tokens/s", d.get("request_tokens_per_second"), "tokens/s"),
        ]
    )
    fixed = " (fixed)" if lat.get("fixed_output_length") else ""
    note = (
        f"{lat.get('completed')} requests completed, {lat.get('failed')} failed; output length"
        f" {lat.get('output_length')} tokens{fixed}; {lat.get('warmup_runs')} warm-up run(s) not counted."
    )
    tables += f'<p class="hint">{esc(note)}</p>'
    scen = dicts(lat.get("scenarios"))
    if scen:
        keys = ("input_length", "output_length", "completed", "failed", "ttft_ms", "tpot_ms", "e2e_latency_ms")
        rows = [[s.get("name"), *(s.get(k) for k in keys), num(s.get("tokens_per_second"))] for s in scen]
        headers = ["scenario", "input tokens", "output tokens", "completed", "failed", "TTFT ms", "TPOT ms", "E2E ms"]
        tables += "<h3>Latency scenarios (input x output tokens)</h3>"
        tables += table([*headers, "tokens/s"], rows, [False] + [True] * 8)
    return "".join(plots), tables


def scenario_charts(scen: list[dict], charts: Charts) -> list[str]:
    """TTFT and TPOT against input length (a line per output length); E2E against output length (a line per
    input length). TTFT against output length means nothing, so it is not drawn."""
    if not scen:
        return []
    ins = sorted({s["input_length"] for s in scen if num(s.get("input_length")) is not None})
    outs = sorted({s["output_length"] for s in scen if num(s.get("output_length")) is not None})

    def value(i: Any, o: Any, key: str) -> Any:
        return next((s.get(key) for s in scen if s.get("input_length") == i and s.get("output_length") == o), None)

    out = []
    for key, name in (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT")):
        series = [Series(f"{o} output tokens", [value(i, o, key) for i in ins]) for o in outs]
        x = axis("input length", "tokens", ins)
        out.append(line_chart(charts, f"{name} against input length", x, (f"{name} mean", "ms"), series))
    series = [Series(f"{i} input tokens", [value(i, o, "e2e_latency_ms") for o in outs]) for i in ins]
    x = axis("output length", "tokens", outs)
    out.append(line_chart(charts, "E2E latency against output length", x, ("E2E mean", "ms"), series))
    return out


def throughput_section(report: dict, charts: Charts) -> tuple[str, str]:
    pts = dicts(dig(report, "throughput", "points"))
    if not pts:
        return "", ""
    names = [point_label(p) for p in pts]
    ticks = ("phase", [point_label(p, short=True) for p in pts])
    tps = [p.get("output_tokens_per_second") for p in pts]
    plots = [bar_chart(charts, "Output tokens/s by phase", ticks, ("output tokens/s", "tokens/s"), tps, titles=names)]
    for mode, x_name, key, y in (
        ("batch", "batch size", "output_tokens_per_second", ("output tokens/s", "tokens/s")),
        ("concurrent", "concurrent clients", "requests_per_second", ("requests/s", "req/s")),
    ):
        sel = sorted(
            (p for p in pts if p.get("mode") == mode and num(p.get("level")) is not None), key=lambda p: p["level"]
        )
        x = axis(x_name, "requests", [p["level"] for p in sel])
        title = f"{y[0].capitalize()} against {x_name}"
        plots.append(line_chart(charts, title, x, y, [Series(y[0], [p.get(key) for p in sel])]))
    shares = [pct(dig(p, "goodput", "share_met")) for p in pts]
    if any(s is not None for s in shares):
        title = f"Requests within the SLO ({slo_text(slo_of(report))})"
        plots.append(bar_chart(charts, title, ticks, ("requests within the SLO", "%"), shares, titles=names))
    with_slo = any(isinstance(p.get("goodput"), dict) for p in pts)
    rows = []
    for p, name in zip(pts, names, strict=True):
        m, good = as_dict(p.get("metrics")), as_dict(p.get("goodput"))
        rates = [num(p.get(k)) for k in ("requests_per_second", "output_tokens_per_second", "total_tokens_per_second")]
        row = [name, *rates, num(p.get("batch_efficiency")), m.get("completed"), m.get("failed")]
        rows.append(row + ([num(good.get("goodput_rps")), pct(good.get("share_met"))] if with_slo else []))
    headers = ["phase", "req/s", "output tokens/s", "total tokens/s", "batch efficiency", "completed", "failed"]
    headers += ["goodput req/s", "SLO met %"] if with_slo else []
    return "".join(plots), "<h3>Throughput</h3>" + table(headers, rows, [False] + [True] * (len(headers) - 1))


def memory_section(report: dict, charts: Charts) -> tuple[str, str]:
    mem = report.get("memory")
    if not isinstance(mem, dict):
        return "", ""
    present = [(label, mem[key]) for key, label in MEMORY_FIELDS if isinstance(mem.get(key), dict)]
    if not present:  # schema 1.0: plain *_gb numbers
        present = [(label, {"value_gb": mem.get(f"{key}_gb")}) for key, label in MEMORY_FIELDS if f"{key}_gb" in mem]
    weights = num(dig(mem, "load", "weights_gb"))
    if weights is not None:
        present.append(("weights", {"value_gb": weights, "source": "model config (parameters x dtype bytes)"}))
    cats = [f"{label} ({memory_kind(m.get('source'))})" if m.get("source") else label for label, m in present]
    caption = "RSS, allocator and NVML figures are measured; computed ones come from the model's shapes. GiB = 2^30 B."
    values = [m.get("value_gb") for _, m in present]
    plot = bar_chart(charts, "Memory", ("figure (how it was obtained)", cats), ("memory", "GiB"), values, caption)
    rows = [
        [label, num(m.get("value_gb")), m.get("source") if num(m.get("value_gb")) is not None else m.get("reason")]
        for label, m in present
    ]
    return plot, "<h3>Memory</h3>" + table(
        ["figure", "GiB", "source (or why it is missing)"], rows, [False, True, False]
    )
