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
from mm_orch.output.markdown import fmt, pct
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
    g.add_argument("--junit-xml", metavar="PATH", help="write target and baseline checks as JUnit XML")
    g.add_argument("--compare", nargs="+", metavar="REPORT", help="side-by-side table of 2+ JSON reports, as Markdown")
    g.add_argument("--no-markdown", action="store_true", help="no Markdown summary / PNG plots next to the report")


def wide(console: Console) -> Console:
    """Tables in CI logs (no terminal) are not squeezed into 80 columns."""
    return console if console.is_terminal else Console(file=console.file, width=max(console.width, 160))


def gate_overrides(a: argparse.Namespace) -> dict[str, Any]:
    if a.tolerance is None:
        return {}
    if not a.tolerance >= 0:
        raise ConfigError(f"--tolerance must be a percentage >= 0, got {a.tolerance:g}")
    if not a.baseline:
        raise ConfigError("--tolerance applies to a baseline comparison: add --baseline FILE")
    return {"gate": {"tolerance_pct": a.tolerance}}


def baseline_table(res: BaselineResult) -> Table:
    t = Table(title="baseline gate: " + ("PASSED" if res.passed else f"FAILED, {len(res.regressions)} regression(s)"))
    for c in ("metric", "baseline", "now", "change", "worse by", "tolerance", "status"):
        t.add_column(c, justify="left" if c in ("metric", "status") else "right")
    style = {"regression": "[red]REGRESSION[/red]", "improvement": "[green]improved[/green]",
             "noise": "[yellow]noise (baseline spread / memory_noise_gb)[/yellow]"}
    for d in sorted((d for d in res.deltas if d.status != "ok"), key=lambda d: (d.status != "regression", d.metric)):
        now = fmt(d.current) + (f" [{fmt(d.current_range[0])}..{fmt(d.current_range[1])}]" if d.current_range else "")
        t.add_row(d.metric, fmt(d.baseline), now, pct(d.change_pct), pct(d.worse_pct), f"{d.tolerance_pct:g}%",
                  style[d.status])
    ok = sum(d.status == "ok" for d in res.deltas)
    t.caption = f"{ok} within tolerance, {len(res.not_compared)} not compared"
    return t


def print_gate(res: BaselineResult, repeat: int, out: Console, err: Console) -> None:
    """Differences allowed by flags go to stderr (warnings); the verdict and its table to stdout."""
    if res.env_differences:
        err.print(f"[yellow]environment differs from the baseline: {'; '.join(res.env_differences)}[/yellow]",
                  soft_wrap=True)
    if res.workload_differences:
        err.print(f"[yellow]workload differs from the baseline: {'; '.join(res.workload_differences)}[/yellow]",
                  soft_wrap=True)
    if any(d.status != "ok" for d in res.deltas):
        how = f" ({res.statistic} of {repeat} runs)" if repeat > 1 else ""
        out.print(f"baseline gate vs {res.baseline_path}{how}:", soft_wrap=True)
        wide(out).print(baseline_table(res))
    else:
        out.print(f"baseline gate vs {res.baseline_path}: PASSED, all {len(res.deltas)} compared metrics "
                  f"within tolerance ({len(res.not_compared)} not compared)", soft_wrap=True)


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
