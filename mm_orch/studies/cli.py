"""Command-line flags of the studies (--dataset, --workload, --slo, --accuracy, --context-length, --sweep).

A study flag selects its study; when --tests was left at its default, the studies run alone.
"""

from __future__ import annotations

import argparse
from typing import Any

WORKLOAD_KINDS = ("synthetic", "dataset", "shared_prefix", "multi_turn")


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("studies")
    g.add_argument("--dataset", metavar="PATH", help="workload from a JSONL prompts or ShareGPT file "
                   "(format told by its content)")
    g.add_argument("--workload", choices=WORKLOAD_KINDS, help="run the workload study of this kind "
                   "(settings under studies.workload in the config)")
    g.add_argument("--slo", action="append", default=[], metavar="KEY=MS",
                   help="goodput objective, repeatable: ttft_ms=200, tpot_ms=50, e2e_ms=2000")
    g.add_argument("--accuracy", nargs="?", const="builtin", metavar="TASKS",
                   help="accuracy study: built-in tasks, or a JSONL file of {prompt, answer}")
    g.add_argument("--context-length", action="store_true", help="TTFT against context length, doubling "
                   "from studies.context_length.start up to the model's limit")
    g.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2",
                   help="repeatable; runs the grid of all combinations, one report point per cell")
    g.add_argument("--sweep-name", metavar="STEM", help="--sweep: file name stem of the sweep report")


def overrides(a: argparse.Namespace) -> dict[str, Any]:
    st: dict[str, Any] = {}
    if a.dataset or a.workload:
        wl: dict[str, Any] = {}
        if a.dataset:
            wl |= {"dataset": a.dataset, "kind": a.workload or "dataset"}
        elif a.workload:
            wl["kind"] = a.workload
        st["workload"] = wl
    if a.slo:
        from mm_orch.benchmark.goodput import parse_slo

        st["slo"] = parse_slo(a.slo)
    if a.accuracy:
        st["accuracy"] = {"tasks": a.accuracy}
    return {"studies": st} if st else {}


def tests(a: argparse.Namespace, tests: list[str], default: str) -> list[str]:
    """The tests to run: the study flags' studies added, or alone when --tests is the default."""
    chosen = [name for name, on in (("workload", a.dataset or a.workload), ("accuracy", a.accuracy),
                                    ("context_length", a.context_length)) if on]
    if not chosen:
        return tests
    base = [] if a.tests == default else tests
    return base + [t for t in chosen if t not in base]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, fmt: str = ".1f") -> str:
    return "n/a" if x is None else format(x, fmt)


def summary(report: dict[str, Any]) -> list[str]:
    """One line or a few per study section of the report, for the console."""
    lines = []
    if w := report.get("workload"):
        m, g, pc = w["metrics"], w.get("goodput"), w["prefix_cache"]
        ttft = (m.get("ttft_ms") or {}).get("median")
        lines.append(f"workload {w['source']}: {w['requests']} requests, {_num(m['requests_per_second'], '.2f')} "
                     f"req/s, {_num(m['output_tokens_per_second'])} output tok/s, TTFT p50 {_num(ttft)} ms, "
                     f"prefix-cache hit rate {_pct(pc['hit_rate'])}")
        if g:
            lines.append(f"  goodput: {_num(g['goodput_rps'], '.2f')} req/s, {g['met']}/{g['requests']} "
                         f"({_pct(g['share_met'])}) met {g['slo']}")
    if a := report.get("accuracy"):
        for run in a["runs"]:
            o = run["overall"]
            lines.append(f"accuracy [{run['mode']}] on {a['tasks']}: {_pct(o['accuracy'])} ({o['correct']}/"
                         f"{o['total']}, 95% CI {_pct(o['ci95_low'])}-{_pct(o['ci95_high'])}), "
                         f"{_num(run['metrics']['output_tokens_per_second'])} output tok/s")
    if c := report.get("context_length"):
        pts = ", ".join(f"{p['context_tokens']}: {_num(p['ttft_ms'])}" for p in c["points"])
        lines.append(f"context length -> TTFT ms: {pts}")
    return lines


def run_sweep_cli(a: argparse.Namespace, cfg: Any, tests: list[str], prompts: list[str] | None, console: Any
                  ) -> int:
    """--sweep: one benchmark per grid cell, then one sweep report (JSON, Markdown, plots)."""
    import shlex
    import sys

    from mm_orch.benchmark.runner import run_benchmark
    from mm_orch.cli_output import RichProgress
    from mm_orch.studies.sweep import parse_sweep, run_sweep
    from mm_orch.studies.sweep_output import write_sweep

    parameters = parse_sweep(a.sweep)
    with RichProgress(console, enabled=not a.no_progress and console.is_terminal) as progress:
        result = run_sweep(cfg, parameters, lambda c: run_benchmark(c, a.model, tests, prompts, progress),
                           a.model, tests)
    command = "python3 -m mm_orch.main " + shlex.join(sys.argv[1:]) if sys.argv[1:] else None
    paths = write_sweep(result, cfg.benchmark.report.output_dir, a.sweep_name, command)
    failed = [p for p in result.points if p.error]
    for p in failed:
        console.print(f"cell {p.params} failed: {p.error}", markup=False)
    console.print(f"sweep report: {paths['markdown']} (+ {paths['json'].name} and plots)", markup=False)
    if len(failed) == len(result.points):
        from mm_orch.errors import EngineError

        raise EngineError(cfg.engine.name, f"every cell of the sweep failed: {failed[0].error}")
    return 0
