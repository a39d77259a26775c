"""Markdown: the summary written next to every report, the baseline-gate section and the compare table."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mm_orch.gate.compare import side_by_side
from mm_orch.io import atomic_write_text
from mm_orch.output.md_format import fmt, pct, table
from mm_orch.report.gate_results import BaselineResult, MetricVerdictRow
from mm_orch.report.model import Report

log = logging.getLogger(__name__)


def _headline(report: Report) -> list[list[Any]]:
    """The catalogue's summary metrics that were measured, with units; load libraries beside model load."""
    from mm_orch.output.headline import summary_slots  # a saturation or search burst is never a headline

    rows = [[f"{s.label} ({s.metric.unit})", s.value] for s in summary_slots(report).values() if s.value is not None]
    if report.memory and report.memory.load and report.memory.load.libraries_gb is not None:
        rows.append(["libraries imported before load (GiB)", report.memory.load.libraries_gb])
    return rows


def _memory_rows(report: Report) -> list[list[Any]]:
    """Every memory figure with its source, or the reason it is missing."""
    mem = report.memory
    if mem is None:
        return []
    figures = [("model load", mem.model_load), ("inference delta", mem.inference_delta), ("peak", mem.peak),
               ("KV cache", mem.kv_cache), ("run peak (CUDA)", mem.run_peak), ("NVML process", mem.nvml_process)]
    return [[name, f.value_gb, f.source or "", f.reason or ""] for name, f in figures if f is not None]


def _spread_rows(report: Report) -> list[list[Any]]:
    spread = report.repeat.metrics if report.repeat else {}
    return [[k, s.min, s.median, s.max, f"{(s.max - s.min) / s.median * 100:.1f}%" if s.median else "n/a"]
            for k, s in spread.items()]


def _scenario_rows(report: Report) -> list[list[Any]]:
    lat = report.latency
    return [[s.name, s.input_length, s.output_length, s.ttft_ms, s.tpot_ms, s.e2e_latency_ms, s.tokens_per_second]
            for s in (lat.scenarios if lat else [])]


def _throughput_rows(report: Report) -> list[list[Any]]:
    thr = report.throughput
    return [[p.mode + (" (serialized)" if p.serialized else "") + (" (latency's requests)" if p.source else ""),
             p.level, p.requests_per_second,
             p.output_tokens_per_second, p.total_tokens_per_second, p.batch_efficiency,
             p.metrics.ttft_ms.median if p.metrics.ttft_ms else None,
             p.metrics.e2e_latency_ms.median if p.metrics.e2e_latency_ms else None]
            for p in (thr.points if thr else [])]


def _load_rows(report: Report) -> list[list[Any]]:
    """The open-loop section's distributions: from the send (server + network) and from the due time."""
    load = report.load
    if load is None:
        return []
    m = load.metrics
    dists = (("TTFT (from arrival)", load.ttft_from_arrival_ms), ("E2E (from arrival)", load.e2e_from_arrival_ms),
             ("TTFT (from send)", m.ttft_ms), ("TPOT", m.tpot_ms), ("ITL", m.itl_ms), ("E2E (from send)",
             m.e2e_latency_ms), ("schedule lag", load.schedule_lag_ms), ("client queue", load.client_queue_ms))
    return [[name, d.median, d.p90, d.p99, d.count] if d else [name, None, None, None, 0] for name, d in dists]


def _load_markdown(report: Report) -> list[str]:
    load = report.load
    if load is None:
        return []
    from mm_orch.output.headline import load_headline, load_is_burst

    s = load.schedule
    rate = "inf" if load.requested_rate_rps is None else fmt(load.requested_rate_rps)
    what = "the burst that found the maximum (not a headline)" if load_is_burst(report) else load_headline(load)
    return ["", f"## Open-loop load ({load.mode}, {load.workers} client process(es))", "", f"**{what}**", "",
            f"{s.arrivals} arrivals (burstiness {s.burstiness:g}, seed {s.seed}), requested {rate} req/s, drawn "
            f"{fmt(load.schedule_rate_rps)}, sent {fmt(load.achieved_send_rate_rps)}, completed "
            f"{fmt(load.throughput_rps)} req/s; {load.metrics.completed} completed, {load.metrics.failed} failed; max "
            "concurrency "
            f"{load.max_concurrency or 'none'}; prompts: {load.prompts}." + (f" {load.note}." if load.note else ""),
            "", table(["ms", "median", "p90", "p99", "samples"], _load_rows(report))]


def _engine_stat_rows(stats: dict[str, Any]) -> list[list[Any]]:
    """Engine-specific counters (vLLM prefix cache, the dual engine's alpha...) as dot-keys; lists left out."""
    from mm_orch.report.flat import flatten

    return [[k, v] for k, v in flatten(stats, lists=False).items()]


def _effect(x: float | None) -> str:
    return "n/a" if x is None else f"{(x - 1) * 100:+.1f} %"


def verdict_cells(v: MetricVerdictRow) -> list[str]:
    """metric, figure, effect, interval, samples, detects, tolerance, verdict: the same words for the console
    table, the Markdown and the JUnit."""
    interval = "n/a" if v.ci_low is None or v.ci_high is None else (
        f"[{_effect(v.ci_low)}, {_effect(v.ci_high)}] at {v.confidence * 100:g} %")
    n = f"{v.n_current} pairs" if v.statistic.endswith("paired ratios") else f"{v.n_baseline}/{v.n_current}"
    detects = "n/a" if v.detectable_pct is None else f">= {v.detectable_pct:.1f} %"
    return [v.metric, v.figure, _effect(v.effect), interval, n, detects, f"{v.tolerance_pct:g} %",
            v.verdict + ("" if v.gated else " (not gated)")]


def verdict_markdown(res: BaselineResult) -> list[str]:
    lines = [""]
    if res.figure_reason:
        lines.append(f"Figure gated: {res.figure_reason}.")
    if res.machine:
        lines += ["", f"Machine: {res.machine}."]
    for note in res.notes:
        lines += ["", f"Note: {note}."]
    header = ["metric", "figure", "effect", "interval", "samples (base/cur)", "detects", "tolerance", "verdict"]
    rows = [verdict_cells(v) for v in res.verdicts if v.gated or v.n_current > 1]
    lines += ["", "Effect is current / baseline of the median (paired: the median of per-round ratios); 'detects' is "
              "the smallest regression (in % worse) these samples would call FAIL.", "", table(header, rows)]
    return lines


def baseline_markdown(res: BaselineResult) -> str:
    if res.verdicts:
        verdict = res.overall + (" (paired A/B)" if res.paired else "")
    else:
        verdict = "PASSED" if res.passed else f"FAILED ({len(res.regressions)} regression(s))"
    out = [f"## Baseline gate: {verdict}", "",
           f"Baseline `{res.baseline_path}` ({res.baseline_timestamp}); {len(res.deltas)} metrics compared, "
           f"{len(res.not_compared)} not compared."]
    if res.env_differences:
        out += ["", "Environment differs" + (" (allowed)" if res.env_mismatch_allowed else "") + ": "
                + "; ".join(res.env_differences)]
    if res.workload_differences:
        out += ["", "Workload differs (allowed): " + "; ".join(res.workload_differences)]
    if res.verdicts:
        out += verdict_markdown(res)
    header = ["metric", "baseline", "now", "change", "worse by", "tolerance", "status"]
    shown = [d for d in res.deltas if d.status not in ("ok", "not_gated") and not res.verdicts]
    if shown:
        out += ["", table(header, [[d.metric, d.baseline, d.current, pct(d.change_pct), pct(d.worse_pct),
                                    f"{d.tolerance_pct:g}%", d.status] for d in shown])]
    return "\n".join(out)


def _context(report: Report) -> str:
    info, model = report.system_info, report.model_info
    where = (info.gpu or info.cpu or "?") if info else "?"
    line = (f"{report.timestamp} · device {model.device if model else '?'} ({model.dtype if model else '?'}) · "
            f"{where}")
    if info:
        line += (f" · torch {info.torch_version} · transformers {info.transformers_version} · mm_orch "
                 f"{info.mm_orch_version} ({(info.git_sha or '')[:10]})")
        loads = [s.load_1m for s in (info.load_before, info.load_after) if s is not None]
        if loads:
            line += f" · load average {' -> '.join(f'{x:g}' for x in loads)} on {info.cpu_count} CPUs"
    return line


def report_markdown(report: Report, plots: dict[str, Path] | None = None, title: str | None = None) -> str:
    """The run's summary: headline numbers, memory sources, scenarios, throughput, spread, checks, plots."""
    out = [f"# {title or report.model_name + ' on ' + report.engine}", "", _context(report), ""]
    if report.warnings:
        out += ["> **Warnings**", ">"] + [f"> - {w}" for w in report.warnings]
    from mm_orch.output.headline import headlines

    out += [f"**{line.strip()}**  " for line in headlines(report)]
    out += ["", "## Summary", "", table(["metric", "value"], _headline(report))]
    if _memory_rows(report):
        out += ["", "## Memory (GiB = 2**30 bytes)", "", table(["figure", "GiB", "source", "missing because"],
                                                               _memory_rows(report))]
    if report.repeat:
        out += ["", f"## Spread over {report.repeat.n} runs (values above are medians)", "", report.repeat.note, "",
                table(["metric", "min", "median", "max", "(max - min) / median"], _spread_rows(report))]
    if _scenario_rows(report):
        out += ["", "## Latency scenarios (means)", "",
                table(["scenario", "input", "output", "TTFT ms", "TPOT ms", "E2E ms", "per-request tokens/s"],
                      _scenario_rows(report))]
    if _throughput_rows(report):
        out += ["", "## Throughput", "",
                table(["mode", "level", "requests/s", "output tokens/s", "total tokens/s", "batch efficiency",
                       "TTFT median ms", "E2E median ms"], _throughput_rows(report))]
    out += _load_markdown(report)
    from mm_orch.output.telemetry_markdown import telemetry_markdown  # GPU J/token per phase, server figures

    out += telemetry_markdown(report)
    if _engine_stat_rows(report.engine_stats):
        out += ["", "## Engine statistics", "", table(["statistic", "value"], _engine_stat_rows(report.engine_stats))]
    v = report.validation
    if v is not None and v.checked:
        out += ["", "## Targets: " + ("PASSED" if v.passed else "FAILED"), "",
                table(["metric", "actual", "target", "result"],
                      [[c.metric, c.actual, f"{c.comparison} {fmt(c.target)}", "ok" if c.passed else "FAIL"]
                       for c in v.checked]
                      + [[s.metric, "n/a", "", f"skipped: {s.reason}"] for s in v.skipped])]
    if report.baseline_check:
        out += ["", baseline_markdown(report.baseline_check)]
    if plots:
        out += ["", "## Plots", ""] + [f"![{name}]({p.name})" for name, p in plots.items()]
    return "\n".join(out) + "\n"


def write_markdown(report: Report, report_path: str | Path, with_plots: bool = True) -> Path:
    """<stem>.md next to the JSON/CSV report, with <stem>_<plot>.png beside it."""
    report_path = Path(report_path)
    stem = report_path.with_suffix("")
    plots = {}
    if with_plots:
        from mm_orch.output.plots import write_plots

        plots = write_plots(report, stem)
    # with_name, not with_suffix: model names such as qwen2.5-3b contain dots
    return atomic_write_text(stem.with_name(stem.name + ".md"), report_markdown(report, plots))


def compare_markdown(reports: list[Report], names: list[str], workload_differs: list[str] | None = None) -> str:
    """Side-by-side: one row per metric, one column per report, change vs the first report; the workload
    settings that differ between the runs first, as a warning."""
    header = ["metric", "unit", "better", *names, *[f"change {n}" for n in names[1:]]]
    rows = [[r.metric, r.unit, r.better, *r.values, *map(pct, r.change_pct)] for r in side_by_side(reports)]
    head = "\n".join(f"- **{n}**: {r.model_name} on {r.engine}, {r.timestamp}"
                     for n, r in zip(names, reports, strict=True))
    differs = ("> **Warning: the runs measured different workloads**, so their numbers differ for more than the "
               "engine:\n" + "".join(f"> - {w}\n" for w in workload_differs) + "\n") if workload_differs else ""
    return (f"# Comparison of {len(reports)} reports\n\nChange is against **{names[0]}**.\n\n{differs}{head}\n\n"
            f"{table(header, rows)}\n")
