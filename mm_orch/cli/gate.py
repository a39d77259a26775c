"""The CLI's CI-gate side: the --baseline/--repeat/--junit-xml/--compare flags and the gate's tables.

main.py stays thin: it adds these flags with add_arguments(); the gate itself runs in benchmark/session.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mm_orch.errors import ConfigError
from mm_orch.output.md_format import fmt, pct
from mm_orch.report.gate_results import BaselineResult


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("CI gate and reports")
    g.add_argument("--baseline", metavar="FILE", help="compare to a previous JSON report; exit 1 on a regression")
    g.add_argument("--tolerance", metavar="PCT", type=float,
                   help="percent worse a metric may get (default gate.tolerance_pct; gate.tolerances per metric)")
    g.add_argument("--repeat", metavar="N", type=int, default=1, help="measure N times, report medians + spread")
    g.add_argument("--allow-env-mismatch", action="store_true",
                   help="compare to a baseline from another GPU, driver or library version (noted, not refused)")
    g.add_argument("--allow-workload-mismatch", action="store_true",
                   help="compare to a baseline measured with other lengths, runs or prompts (noted, not refused)")
    g.add_argument("--on-inconclusive", choices=["pass", "fail", "warn"],
                   help="exit code of an INCONCLUSIVE gate verdict: 4 by default; pass = 0, fail = 1, warn = 0 "
                   "with a warning (gate.on_inconclusive)")
    g.add_argument("--ab", metavar="REF", help="paired A/B in one job: REF is another source tree (run as "
                   "PYTHONPATH=REF python -m mm_orch.main) or 'self'; both sides run alternately, --ab-rounds "
                   "times each, and the gate compares paired rounds (exit 0/1/4 as --baseline)")
    g.add_argument("--ab-config", metavar="FILE", help="--ab: the B side runs with this config instead of --config")
    g.add_argument("--ab-rounds", metavar="N", type=int, default=6, help="--ab: rounds per side (default 6: the fewest "
                   "pairs that bound their median at 95 %%; >= 3)")
    g.add_argument("--junit-xml", metavar="PATH", help="write target and baseline checks as JUnit XML")
    g.add_argument("--compare", nargs="+", metavar="REPORT", help="side-by-side table of 2+ JSON reports, as Markdown")
    g.add_argument("--no-markdown", action="store_true", help="no Markdown summary / PNG plots next to the report")


def wide(console: Console) -> Console:
    """Tables in CI logs (no terminal) are not squeezed into 80 columns."""
    return console if console.is_terminal else Console(file=console.file, width=max(console.width, 160))


def gate_overrides(a: argparse.Namespace) -> dict[str, Any]:
    gate: dict[str, Any] = {}
    compared = a.baseline or getattr(a, "ab", None) or getattr(a, "ab_config", None)
    if getattr(a, "on_inconclusive", None) is not None:
        if not compared:
            raise ConfigError("--on-inconclusive applies to a gate: add --baseline FILE or --ab REF")
        gate["on_inconclusive"] = a.on_inconclusive
    if a.tolerance is None:
        return {"gate": gate} if gate else {}
    if not a.tolerance >= 0:
        raise ConfigError(f"--tolerance must be a percentage >= 0, got {a.tolerance:g}")
    if not compared:
        raise ConfigError("--tolerance applies to a baseline comparison: add --baseline FILE")
    return {"gate": gate | {"tolerance_pct": a.tolerance}}


def baseline_table(res: BaselineResult) -> Table:
    """The single-value comparison (reports without samples): the metrics that were not ok."""
    t = Table(title="baseline gate: " + ("PASSED" if res.passed else f"FAILED, {len(res.regressions)} regression(s)"))
    for c in ("metric", "baseline", "now", "change", "worse by", "tolerance", "status"):
        t.add_column(c, justify="left" if c in ("metric", "status") else "right")
    style = {"regression": "[red]REGRESSION[/red]", "improvement": "[green]improved[/green]",
             "noise": "[yellow]noise (baseline spread / memory_noise_gb)[/yellow]",
             "inconclusive": "[yellow]inconclusive[/yellow]", "not_gated": "not gated"}
    for d in sorted((d for d in res.deltas if d.status != "ok"), key=lambda d: (d.status != "regression", d.metric)):
        now = fmt(d.current) + (f" [{fmt(d.current_range[0])}..{fmt(d.current_range[1])}]" if d.current_range else "")
        t.add_row(d.metric, fmt(d.baseline), now, pct(d.change_pct), pct(d.worse_pct), f"{d.tolerance_pct:g}%",
                  style[d.status])
    ok = sum(d.status == "ok" for d in res.deltas)
    t.caption = f"{ok} within tolerance, {len(res.not_compared)} not compared"
    return t


VERDICT_STYLE = {"FAIL": "[red]FAIL[/red]", "INCONCLUSIVE": "[yellow]INCONCLUSIVE[/yellow]",
                 "PASS": "[green]PASS[/green]"}
MAX_ROWS = 24


def verdict_table(res: BaselineResult) -> Table:
    """Effect, interval, samples, detectable %, verdict: every gated metric, then what was only reported."""
    from mm_orch.output.markdown import verdict_cells

    t = Table(title=f"baseline gate: {res.overall}" + (" (paired A/B)" if res.paired else ""))
    for c in ("metric", "figure", "effect", "interval", "samples", "detects", "tolerance", "verdict"):
        t.add_column(c, justify="left" if c in ("metric", "figure", "verdict") else "right")
    shown = [v for v in res.verdicts if v.gated or v.n_current > 1][:MAX_ROWS]  # single values: the report
    hidden = len(res.verdicts) - len(shown)
    for v in shown:
        cells = verdict_cells(v)
        verdict = VERDICT_STYLE[v.verdict] if v.gated else f"({v.verdict.lower()}, not gated)"
        t.add_row(*cells[:-1], verdict)
    gated = sum(v.gated for v in res.verdicts)
    t.caption = (f"{gated} gated, {len(res.verdicts) - gated} reported only"
                 + (f" ({hidden} not shown: see the report)" if hidden else "")
                 + f"; {len(res.not_compared)} not compared")
    return t


def print_gate(res: BaselineResult, repeat: int, out: Console, err: Console) -> None:
    """Differences allowed by flags go to stderr (warnings); the verdict and its table to stdout."""
    if res.env_differences:
        err.print(f"[yellow]environment differs from the baseline: {'; '.join(res.env_differences)}[/yellow]",
                  soft_wrap=True)
    if res.workload_differences:
        err.print(f"[yellow]workload differs from the baseline: {'; '.join(res.workload_differences)}[/yellow]",
                  soft_wrap=True)
    for note in res.notes:
        err.print(f"[yellow]gate: {note}[/yellow]", soft_wrap=True, highlight=False)
    if not res.verdicts:  # a baseline without samples: the single-value comparison, as before
        if any(d.status != "ok" for d in res.deltas):
            how = f" ({res.statistic} of {repeat} runs)" if repeat > 1 else ""
            out.print(f"baseline gate vs {res.baseline_path}{how}:", soft_wrap=True)
            wide(out).print(baseline_table(res))
        else:
            out.print(f"baseline gate vs {res.baseline_path}: PASSED, all {len(res.deltas)} compared metrics "
                      f"within tolerance ({len(res.not_compared)} not compared)", soft_wrap=True)
        return
    out.print(f"baseline gate vs {res.baseline_path}: {res.overall}", soft_wrap=True, highlight=False)
    if res.figure_reason:
        out.print(f"  figure gated: {res.figure_reason}", soft_wrap=True, highlight=False)
    if res.machine:
        out.print(f"  {res.machine}", soft_wrap=True, highlight=False)
    wide(out).print(verdict_table(res))
    warn = inconclusive_warning(res)
    if warn:
        err.print(f"[yellow]warning: {warn}[/yellow]", soft_wrap=True, highlight=False)


def inconclusive_warning(res: BaselineResult) -> str | None:
    """The one line printed when INCONCLUSIVE is let through (--on-inconclusive warn or pass)."""
    if res.overall != "INCONCLUSIVE" or res.on_inconclusive not in ("warn", "pass"):
        return None
    undecided = [v.metric for v in res.gated if v.verdict == "INCONCLUSIVE"] or ["nothing was gated"]
    return (f"gate INCONCLUSIVE, exit 0 by --on-inconclusive {res.on_inconclusive}: "
            f"{', '.join(undecided)} could not be told from noise")


def gate_exit_code(res: BaselineResult | None, targets_failed: bool) -> int:
    """1 when a target or the gate failed (INCONCLUSIVE counted as chosen), else 4 for INCONCLUSIVE, else 0."""
    code = res.exit_code() if res is not None else 0
    return 1 if targets_failed or code == 1 else code


def _names(paths: list[Path]) -> list[str]:
    stems = [p.stem for p in paths]
    return stems if len(set(stems)) == len(stems) else [str(p) for p in paths]


def run_compare(a: argparse.Namespace, out: Console) -> int:
    from mm_orch.benchmark.reporter import load_report
    from mm_orch.gate.compare import side_by_side
    from mm_orch.io import atomic_write_text
    from mm_orch.output.markdown import compare_markdown

    if len(a.compare) < 2:
        raise ConfigError("--compare needs two or more reports")
    from mm_orch.output.compare_notes import names as column_names
    from mm_orch.output.compare_notes import workload_warnings

    paths = [Path(p) for p in a.compare]
    reports = [load_report(p) for p in paths]
    names = column_names(reports, paths)  # by --label where every run has one
    differ = workload_warnings(reports, names)
    for line in differ:  # other rates, concurrency, endpoints...: the numbers differ for more than the engine
        Console(stderr=True).print(f"[yellow]warning: the compared runs measured different workloads: {line}"
                                   "[/yellow]", soft_wrap=True, highlight=False)
    t = Table(title=f"{len(reports)} reports (change vs {names[0]})")
    for c in ("metric", "unit", "better", *names, *[f"change {n}" for n in names[1:]]):
        t.add_column(c, justify="left" if c in ("metric", "unit") else "right")
    for r in side_by_side(reports):
        t.add_row(r.metric, r.unit, r.better, *map(fmt, r.values), *map(pct, r.change_pct))
    wide(out).print(t)
    folder = Path(a.benchmark_output) if a.benchmark_output else paths[0].parent
    more = f"_and_{len(paths) - 2}_more" if len(paths) > 2 else ""
    dest = folder / f"compare_{paths[0].stem}_vs_{paths[1].stem}{more}.md"
    out.print(f"comparison: {atomic_write_text(dest, compare_markdown(reports, names, differ))}", soft_wrap=True)
    return 0
