"""Markdown: the summary written next to every report, the baseline-gate section and the compare table."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mm_orch.benchmark.baseline import BaselineResult, direction
from mm_orch.benchmark.compare import side_by_side
from mm_orch.io import atomic_write_text

log = logging.getLogger(__name__)


def fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool | int) or not isinstance(v, float):
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.2f}" if abs(v) >= 1 else f"{v:.3g}"


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


def table(header: list[str], rows: list[list[Any]]) -> str:
    right = ["---:" if i else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(right) + " |"]
    lines += ["| " + " | ".join(c if isinstance(c, str) else fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _headline(report: dict[str, Any]) -> list[list[Any]]:
    lat, mem, thr = report.get("latency") or {}, report.get("memory") or {}, report.get("throughput") or {}
    rows = [["TTFT (mean, ms)", lat.get("ttft_ms")], ["TPOT (mean, ms)", lat.get("tpot_ms")],
            ["E2E latency (mean, ms)", lat.get("e2e_latency_ms")],
            ["tokens/s per request", lat.get("tokens_per_second")],
            ["model load (GiB)", mem.get("model_load_gb")],
            ["libraries imported before load (GiB)", (mem.get("load") or {}).get("libraries_gb")],
            ["inference delta (GiB)", mem.get("inference_delta_gb")],
            ["peak (GiB)", mem.get("peak_gb")], ["KV cache (GiB)", mem.get("kv_cache_gb")],
            ["single-request tokens/s", thr.get("single_request_tps")]]
    return [r for r in rows if r[1] is not None]


def _spread_rows(report: dict[str, Any]) -> list[list[Any]]:
    spread = (report.get("repeat") or {}).get("metrics") or {}
    return [[m, s["min"], s["median"], s["max"],
             f"{(s['max'] - s['min']) / s['median'] * 100:.1f}%" if s["median"] else "n/a"] for m, s in spread.items()]


def _scenario_rows(lat: dict[str, Any]) -> list[list[Any]]:
    return [[s["name"], s["input_length"], s["output_length"], s.get("ttft_ms"), s.get("tpot_ms"),
             s.get("e2e_latency_ms"), s.get("tokens_per_second")] for s in lat.get("scenarios") or []]


def _throughput_rows(thr: dict[str, Any]) -> list[list[Any]]:
    return [[k, v] for k, v in thr.items() if direction(k) and isinstance(v, int | float) and not isinstance(v, bool)]


def _engine_stat_rows(stats: dict[str, Any]) -> list[list[Any]]:
    """Engine-specific counters (vLLM prefix cache, the dual engine's alpha...) as dot-keys; lists left out."""
    from mm_orch.benchmark.reporter import flatten

    return [[k, v] for k, v in flatten(stats).items()
            if not isinstance(v, str) or not v.startswith("[")]  # flatten() keeps lists as JSON strings


def baseline_markdown(res: BaselineResult) -> str:
    verdict = "PASSED" if res.passed else f"FAILED ({len(res.regressions)} regression(s))"
    out = [f"## Baseline gate: {verdict}", "",
           f"Baseline `{res.baseline_path}` ({res.baseline_timestamp}); {len(res.deltas)} metrics compared, "
           f"{len(res.not_compared)} not compared."]
    if res.env_differences:
        out += ["", "Environment differs" + (" (allowed)" if res.env_mismatch_allowed else "") + ": "
                + "; ".join(res.env_differences)]
    header = ["metric", "baseline", "now", "change", "worse by", "tolerance", "status"]
    shown = [d for d in res.deltas if d.status != "ok"]
    if shown:
        out += ["", table(header, [[d.metric, d.baseline, d.current, pct(d.change_pct), pct(d.worse_pct),
                                    f"{d.tolerance_pct:g}%", d.status] for d in shown])]
    return "\n".join(out)


def report_markdown(report: dict[str, Any], plots: dict[str, Path] | None = None, title: str | None = None) -> str:
    """The run's summary: headline numbers, scenarios, throughput, spread, checks, and the plots."""
    info, model = report.get("system_info") or {}, report.get("model_info") or {}
    lat, thr = report.get("latency") or {}, report.get("throughput") or {}
    out = [f"# {title or report['model_name'] + ' on ' + report['engine']}", "",
           f"{report.get('timestamp')} · device {model.get('device', '?')} ({model.get('dtype', '?')}) · "
           f"{info.get('gpu') or info.get('cpu') or '?'} · torch {info.get('torch_version')} · "
           f"transformers {info.get('transformers_version')} · mm_orch {info.get('mm_orch_version')} "
           f"({(info.get('git_sha') or '')[:10]})", "", "## Summary", "", table(["metric", "value"], _headline(report))]
    if report.get("repeat"):
        out += ["", f"## Spread over {report['repeat']['n']} runs (values above are medians)", "",
                "Medians over the runs: the metrics below, the headline and scenario means. The first run's: the "
                "rest of each distribution (mean, p90, p99...), the ITL histogram and memory (a cold start).", "",
                table(["metric", "min", "median", "max", "(max - min) / median"], _spread_rows(report))]
    if _scenario_rows(lat):
        out += ["", "## Latency scenarios (means)", "",
                table(["scenario", "input", "output", "TTFT ms", "TPOT ms", "E2E ms", "tokens/s"], _scenario_rows(lat))]
    if _throughput_rows(thr):
        out += ["", "## Throughput", "", table(["metric", "value"], _throughput_rows(thr))]
    if _engine_stat_rows(report.get("engine_stats") or {}):
        out += ["", "## Engine statistics", "",
                table(["statistic", "value"], _engine_stat_rows(report["engine_stats"]))]
    validation = report.get("validation") or {}
    if validation.get("checked"):
        out += ["", "## Targets: " + ("PASSED" if validation.get("passed") else "FAILED"), "",
                table(["metric", "actual", "target", "result"],
                      [[c["metric"], c["actual"], f"{c['comparison']} {fmt(c['target'])}",
                        "ok" if c["passed"] else "FAIL"] for c in validation["checked"]])]
    if report.get("baseline_check"):
        out += ["", baseline_markdown(BaselineResult.model_validate(report["baseline_check"]))]
    if plots:
        out += ["", "## Plots", ""] + [f"![{name}]({p.name})" for name, p in plots.items()]
    return "\n".join(out) + "\n"


def write_markdown(report: dict[str, Any], report_path: str | Path, with_plots: bool = True) -> Path:
    """<stem>.md next to the JSON/CSV report, with <stem>_<plot>.png beside it."""
    report_path = Path(report_path)
    stem = report_path.with_suffix("")
    plots = {}
    if with_plots:
        from mm_orch.benchmark.plots import write_plots

        plots = write_plots(report, stem)
    # with_name, not with_suffix: model names such as qwen2.5-3b contain dots
    return atomic_write_text(stem.with_name(stem.name + ".md"), report_markdown(report, plots))


def compare_markdown(reports: list[dict[str, Any]], names: list[str]) -> str:
    """Side-by-side: one row per metric, one column per report, change vs the first report."""
    header = ["metric", "better", *names, *[f"change {n}" for n in names[1:]]]
    rows = [[r.metric, r.better, *r.values, *map(pct, r.change_pct)] for r in side_by_side(reports)]
    head = "\n".join(f"- **{n}**: {r['model_name']} on {r['engine']}, {r.get('timestamp')}"
                     for n, r in zip(names, reports, strict=True))
    return (f"# Comparison of {len(reports)} reports\n\nChange is against **{names[0]}**.\n\n{head}\n\n"
            f"{table(header, rows)}\n")
