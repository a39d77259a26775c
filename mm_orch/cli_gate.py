"""The CLI's CI-gate side: --baseline/--tolerance/--repeat, --junit-xml, --compare, the Markdown summary.

main.py stays thin: it adds these flags with add_arguments() and calls the functions below.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mm_orch.benchmark.baseline import BaselineResult, compare_to_baseline, env_differences, non_numeric_metrics
from mm_orch.benchmark.markdown import fmt, pct
from mm_orch.config import Config
from mm_orch.errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("CI gate and reports")
    g.add_argument("--baseline", metavar="FILE", help="compare to a previous JSON report; exit 1 on a regression")
    g.add_argument("--tolerance", metavar="PCT", type=float,
                   help="percent worse a metric may get (default gate.tolerance_pct; gate.tolerances per metric)")
    g.add_argument("--repeat", metavar="N", type=int, default=1, help="measure N times, report medians + spread")
    g.add_argument("--allow-env-mismatch", action="store_true",
                   help="compare to a baseline from another GPU, driver or library version (noted, not refused)")
    g.add_argument("--junit-xml", metavar="PATH", help="write target and baseline checks as JUnit XML")
    g.add_argument("--compare", nargs="+", metavar="REPORT", help="side-by-side table of 2+ JSON reports, as Markdown")
    g.add_argument("--no-markdown", action="store_true", help="no Markdown summary / PNG plots next to the report")


def _wide(console: Console) -> Console:
    """Tables in CI logs (no terminal) are not squeezed into 80 columns."""
    return console if console.is_terminal else Console(file=console.file, width=max(console.width, 160))


def gate_overrides(a: argparse.Namespace) -> dict[str, Any]:
    if a.tolerance is None:
        return {}
    if not a.tolerance >= 0:
        raise ConfigError(f"--tolerance must be a percentage >= 0, got {a.tolerance:g}")
    return {"gate": {"tolerance_pct": a.tolerance}}


def preflight(a: argparse.Namespace, cfg: Config) -> dict[str, Any] | None:
    """Before spending minutes measuring: check --repeat, read the baseline, refuse a foreign environment."""
    if a.repeat < 1:
        raise ConfigError(f"--repeat must be >= 1, got {a.repeat}")
    if not a.baseline:
        unused = [flag for flag, given in (("--tolerance", a.tolerance is not None),
                                           ("--allow-env-mismatch", a.allow_env_mismatch)) if given]
        if unused:
            raise ConfigError(f"{unused[0]} applies to a baseline comparison: add --baseline FILE")
        return None
    from mm_orch.benchmark.reporter import load_report
    from mm_orch.monitor.system_info import collect_system_info

    baseline = load_report(a.baseline)
    bad = non_numeric_metrics(baseline)
    if bad:
        raise ConfigError(f"baseline {a.baseline}: {bad[0][0]} is {bad[0][1]!r}, not a number "
                          "(not an mm_orch report, or edited by hand)")
    here = {"model_name": a.model, "engine": cfg.engine.name, "system_info": collect_system_info()}
    check_env(baseline, here, a)
    return baseline


def check_env(baseline: dict[str, Any], current: dict[str, Any], a: argparse.Namespace) -> None:
    was, now = baseline.get("model_name"), current.get("model_name")
    if was and now and was != now:  # another model is another experiment, not another environment
        raise ConfigError(f"baseline {a.baseline} measured model '{was}', this run measures '{now}': a gate "
                          "compares a model with its own earlier run (--compare puts reports side by side)")
    hard, _ = env_differences(baseline, current)
    if hard and not a.allow_env_mismatch:
        raise ConfigError(f"baseline {a.baseline} is from another environment ({'; '.join(hard)}); "
                          "pass --allow-env-mismatch to compare anyway")


def measure(a: argparse.Namespace, cfg: Config, tests: list[str], prompts: list[str] | None,
            progress: Any) -> dict[str, Any]:
    """run_benchmark once, or --repeat times folded into medians (targets re-checked on the medians)."""
    from mm_orch.benchmark.repeat import run_repeated
    from mm_orch.benchmark.runner import run_benchmark
    from mm_orch.benchmark.targets import validate_targets

    report = run_repeated(lambda: run_benchmark(cfg, a.model, tests, prompts, progress), a.repeat)
    if a.repeat > 1:
        report["validation"] = validate_targets(a.model, report, cfg.targets.get(a.model)).model_dump()
    return report


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


def gate(a: argparse.Namespace, cfg: Config, report: dict[str, Any],
         baseline: dict[str, Any] | None) -> BaselineResult | None:
    """Compare to the baseline (if any); the result is stored in report['baseline_check']."""
    if baseline is None:
        return None
    check_env(baseline, report, a)  # now with the device and dtype that actually ran
    res = compare_to_baseline(report, baseline, cfg.gate, a.baseline, a.allow_env_mismatch)
    report["baseline_check"] = res.model_dump()
    return res


def write_outputs(a: argparse.Namespace, report: dict[str, Any], path: Path, res: BaselineResult | None,
                  console: Console) -> None:
    """The gate's table, the Markdown summary + plots next to the report, JUnit XML where asked."""
    from mm_orch.benchmark.junit import write_junit
    from mm_orch.benchmark.markdown import write_markdown

    if res is not None:
        if res.env_differences:
            console.print(f"[yellow]environment differs from the baseline: {'; '.join(res.env_differences)}[/yellow]",
                          soft_wrap=True)
        if any(d.status != "ok" for d in res.deltas):
            how = f" ({res.statistic} of {a.repeat} runs)" if a.repeat > 1 else ""
            console.print(f"baseline gate vs {res.baseline_path}{how}:", soft_wrap=True)
            _wide(console).print(baseline_table(res))
        else:
            console.print(f"baseline gate vs {res.baseline_path}: PASSED, all {len(res.deltas)} compared metrics "
                          f"within tolerance ({len(res.not_compared)} not compared)", soft_wrap=True)
    if not a.no_markdown:
        console.print(f"summary: {write_markdown(report, path)}", soft_wrap=True)
    if a.junit_xml:
        console.print(f"junit: {write_junit(a.junit_xml, report, res)}", soft_wrap=True)


def _names(paths: list[Path]) -> list[str]:
    stems = [p.stem for p in paths]
    return stems if len(set(stems)) == len(stems) else [str(p) for p in paths]


def run_compare(a: argparse.Namespace, console: Console) -> int:
    from mm_orch.benchmark.compare import side_by_side
    from mm_orch.benchmark.markdown import compare_markdown
    from mm_orch.benchmark.reporter import load_report
    from mm_orch.io import atomic_write_text

    if len(a.compare) < 2:
        raise ConfigError("--compare needs two or more reports")
    paths = [Path(p) for p in a.compare]
    reports = [load_report(p) for p in paths]
    names = _names(paths)
    t = Table(title=f"{len(reports)} reports (change vs {names[0]})")
    for c in ("metric", "better", *names, *[f"change {n}" for n in names[1:]]):
        t.add_column(c, justify="left" if c == "metric" else "right")
    for r in side_by_side(reports):
        t.add_row(r.metric, r.better, *map(fmt, r.values), *map(pct, r.change_pct))
    _wide(console).print(t)
    folder = Path(a.benchmark_output) if a.benchmark_output else paths[0].parent
    more = f"_and_{len(paths) - 2}_more" if len(paths) > 2 else ""
    out = folder / f"compare_{paths[0].stem}_vs_{paths[1].stem}{more}.md"
    console.print(f"comparison: {atomic_write_text(out, compare_markdown(reports, names))}", soft_wrap=True)
    return 0
