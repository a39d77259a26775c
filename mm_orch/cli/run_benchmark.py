"""--benchmark on one model and engine: build the config from the flags, run the session, print the answer."""

from __future__ import annotations

import argparse

from mm_orch.cli import gate as cli_gate
from mm_orch.cli import load_flags as cli_load
from mm_orch.cli import study_flags as study_cli
from mm_orch.cli.parser import overrides_from_args
from mm_orch.config import TEST_TYPES
from mm_orch.errors import BenchmarkInterrupted, EngineError, OutputError


def run_cli(a: argparse.Namespace) -> int:
    from rich.console import Console

    from mm_orch.benchmark.prompts import load_prompt_file
    from mm_orch.cli.console import progress_for, summary_table, validation_table
    from mm_orch.config import apply_overrides, deep_merge, load_config
    from mm_orch.output.headline import headlines, load_is_burst
    from mm_orch.run.session import SessionOptions, run_session

    out, err = Console(), Console(stderr=True)
    cfg = load_config(a.config, a.set)
    overrides = deep_merge(overrides_from_args(a) | cli_gate.gate_overrides(a) | study_cli.overrides(a),
                               cli_load.load_overrides(a))
    cfg = apply_overrides(cfg, overrides, source="command line")
    tests = study_cli.tests(a, [t.strip() for t in a.tests.split(",") if t.strip()], ",".join(TEST_TYPES))
    cli_load.check_load_flags(a, tests)  # --request-rate sweep / max-slo, --trace ... need --tests load
    opts = SessionOptions(model_name=a.model, tests=tests,
                          prompts=load_prompt_file(a.prompts) if a.prompts else None, repeat=a.repeat,
                          baseline=a.baseline, allow_env_mismatch=a.allow_env_mismatch,
                          allow_workload_mismatch=a.allow_workload_mismatch, markdown=not a.no_markdown,
                          junit_xml=a.junit_xml)
    if a.sweep:  # one session per grid cell, then one sweep report
        return study_cli.run_sweep_cli(a, cfg, opts, out, err)
    ab = a.ab is not None or a.ab_config is not None  # paired A/B in one job (run/ab.py)
    try:
        if ab:
            from mm_orch.run.ab import ab_session

            err.print(f"A/B: {a.ab_rounds} rounds per side, alternating (each a child process) ...", soft_wrap=True)
            result = ab_session(cfg, opts, a)
        else:
            with progress_for(err, enabled=not a.no_progress) as progress:
                result = run_session(cfg, opts, progress)
    except BenchmarkInterrupted as e:  # Ctrl-C: the session wrote what finished (atomically), marked incomplete
        if e.path is not None:
            err.print(f"report (incomplete): {e.path}", soft_wrap=True, highlight=False)
        if getattr(e, "requests", None) is not None:
            err.print(f"requests (incomplete): {e.requests}", soft_wrap=True, highlight=False)
        raise
    except OutputError as e:  # a later write failed (disk full ...): what was kept is still named
        for label, path in e.written:
            out.print(f"{label}: {path}", soft_wrap=True, highlight=False)
        raise
    report = result.report
    for line in headlines(report):  # the answer first: the max rate at SLO, what a load run delivered
        out.print(line, markup=False, soft_wrap=True, highlight=False)
    out.print(summary_table(report))
    if report.load is not None and not load_is_burst(report):  # a saturation or search burst is no headline
        out.print(cli_load.load_table(report.load))
    for line in study_cli.summary(report):  # the study sections, a few lines each
        out.print(line, markup=False, soft_wrap=True)
    for w in report.warnings:
        err.print(f"[yellow]warning: {w}[/yellow]", soft_wrap=True, highlight=False)
    if result.baseline is not None:
        cli_gate.print_gate(result.baseline, a.repeat, out, err)
    if a.check_targets:
        if report.validation is None or not (report.validation.checked or report.validation.failures):
            err.print(f"no targets for '{a.model}' in the config: nothing to check", soft_wrap=True)
        else:
            cli_gate.wide(out).print(validation_table(report.validation))
    study = [("study", p) for p in result.study_files]  # e.g. the context-length curve
    written = (("report", result.path), ("summary", result.markdown), ("html", result.html), ("junit", result.junit),
               ("requests", result.requests))
    for label, path in (*written, *study):
        if path is not None:
            out.print(f"{label}: {path}", soft_wrap=True, highlight=False)
    if not result.failure_rate_passed:  # --max-failure-rate: exit 1 (after the files are written)
        c = next(c for c in report.validation.failures if c.target_name == "max_failure_rate")
        err.print(f"[red]failed: {c.metric} = {c.actual:.1f}% > --max-failure-rate {c.target:g}%[/red]",
                  soft_wrap=True, highlight=False)
    dead = [f for f in result.failures if not f["completed"]]
    if dead:  # results are written; a phase where nothing succeeded is still an engine failure
        raise EngineError(report.engine, f"every request of {dead[0]['phase']} failed: {dead[0]['error']}")
    targets_failed = (a.check_targets and not result.targets_passed) or not result.failure_rate_passed
    return cli_gate.gate_exit_code(result.baseline, targets_failed)
