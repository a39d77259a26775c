"""Command-line flags of the studies (--dataset, --workload, --slo, --accuracy, --context-length, --sweep).

A study flag selects its study; when --tests was left at its default, the studies run alone.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mm_orch.report.model import Report

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


def summary(report: Report) -> list[str]:
    """One line or a few per study section of the typed report, for the console."""
    lines = []
    if (w := report.workload) is not None:
        m, g = w.metrics, w.goodput
        ttft = m.ttft_ms.median if m.ttft_ms is not None else None
        lines.append(f"workload {w.source}: {w.requests} requests, {_num(m.requests_per_second, '.2f')} req/s, "
                     f"{_num(m.output_tokens_per_second)} output tok/s, TTFT p50 {_num(ttft)} ms, "
                     f"prefix-cache hit rate {_pct(w.prefix_cache.hit_rate)}")
        if g is not None:
            lines.append(f"  goodput: {_num(g.goodput_rps, '.2f')} req/s, {g.met}/{g.requests} "
                         f"({_pct(g.share_met)}) met {g.slo.objectives()}")
    for p in report.throughput.points if report.throughput is not None else []:
        if (g := p.goodput) is not None:
            lines.append(f"throughput {p.mode} {p.level} goodput: {_num(g.goodput_rps, '.2f')} req/s, "
                         f"{g.met}/{g.requests} ({_pct(g.share_met)}) met the SLOs")
    if (a := report.accuracy) is not None:
        for run in a.runs:
            o = run.overall
            lines.append(f"accuracy [{run.mode}] on {a.tasks}: {_pct(o.accuracy)} ({o.correct}/{o.total}, "
                         f"95% CI {_pct(o.ci95_low)}-{_pct(o.ci95_high)}), "
                         f"{_num(run.metrics.output_tokens_per_second)} output tok/s")
    if (s := report.saturation) is not None:
        lines.append(f"saturation: maximum {_num(s.max_throughput_rps, '.2f')} req/s "
                     f"({_num(s.max_output_tokens_per_second)} output tok/s); knee at {_num(s.knee_rps, '.2f')} "
                     f"req/s, {s.tail_statistic} TTFT {_num(s.knee_ttft_tail_ms)} ms ({s.knee_note})")
    if (c := report.context_length) is not None:
        pts = ", ".join(f"{p.context_tokens}: {_num(p.ttft_ms)}" for p in c.points)
        lines.append(f"context length -> TTFT ms: {pts}")
    return lines


def run_sweep_cli(a: argparse.Namespace, cfg: Any, opts: Any, out: Any, err: Any) -> int:
    """--sweep: one session per grid cell (its own report, checked and written like any run), then one sweep
    report (JSON, Markdown, plots) over the cells' typed reports."""
    import shlex
    import sys
    from dataclasses import replace

    from mm_orch.cli.console import Prefixed, progress_for
    from mm_orch.errors import BenchmarkInterrupted
    from mm_orch.output.sweep_files import write_sweep
    from mm_orch.run.session import run_session
    from mm_orch.studies.sweep import CellRun, check_tests, grid, parse_sweep, run_sweep

    if opts.baseline or opts.repeat != 1:
        from mm_orch.errors import ConfigError

        raise ConfigError("--sweep runs one session per cell: --baseline and --repeat apply to a single run")
    parameters = parse_sweep(a.sweep)
    check_tests(parameters, opts.tests)
    cell_opts = replace(opts, markdown=False, junit_xml=None)  # the sweep's own Markdown covers the cells

    names = [", ".join(f"{k}={v}" for k, v in cell.items()) for cell in grid(parameters)]
    done = []

    def run_cell(cell_cfg: Any) -> CellRun:  # cells run in grid order: the k-th call is the k-th cell
        done.append(1)
        k = len(done)
        name = names[k - 1] if k <= len(names) else "?"
        res = run_session(cell_cfg, cell_opts, Prefixed(progress, f"cell {k}/{len(names)} ({name}): "))
        return CellRun(res.report, str(res.path))

    command = "python3 -m mm_orch.main " + shlex.join(sys.argv[1:]) if sys.argv[1:] else None
    cells = cluster = None
    if getattr(a, "executor", "local") == "ray":  # every cell a Ray task, submitted at once
        from mm_orch.cli.executor_flags import check_flags
        from mm_orch.executors.ray_cluster import RayCluster
        from mm_orch.executors.sweep_ray import RayCells

        check_flags(a)
        cluster = RayCluster(a.ray_address, a.ray_num_cpus)
        cells = RayCells(cluster, a.model, opts.tests, opts.prompts, a.gpus, cell_opts, err)
    try:
        with progress_for(err, enabled=not a.no_progress and cells is None) as progress:
            result = run_sweep(cfg, parameters, cells.run if cells else run_cell, a.model, list(opts.tests),
                               submit=cells.submit if cells else None, label=cfg.benchmark.report.label)
    except BenchmarkInterrupted as e:  # Ctrl-C: the cells that finished, as a sweep report marked incomplete
        if e.report is not None and e.report.points:
            paths = write_sweep(e.report, cfg.benchmark.report.output_dir, a.sweep_name, command)
            e.path = paths["json"]
            err.print(f"sweep report (incomplete): {paths['markdown']} (+ {paths['json'].name})", markup=False,
                      soft_wrap=True)
        raise
    finally:
        if cells is not None:
            cells.cancel_rest()
            cluster.close()
    paths = write_sweep(result, cfg.benchmark.report.output_dir, a.sweep_name, command)
    failed = [p for p in result.points if p.error]
    for p in failed:
        err.print(f"cell {p.params} failed: {p.error}", markup=False, soft_wrap=True)
    out.print(f"sweep report: {paths['markdown']} (+ {paths['json'].name} and plots)", markup=False, soft_wrap=True)
    if len(failed) == len(result.points):
        from mm_orch.errors import EngineError

        raise EngineError(cfg.engine.name, f"every cell of the sweep failed: {failed[0].error}")
    return 0
