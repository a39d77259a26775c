"""A benchmark session, the one path the CLI and the API share: check, measure (repeat), validate, gate, write.

    result = run_session(cfg, SessionOptions(model_name="tiny-qwen2", baseline="base.json"), progress)

Everything that can be refused before measuring is refused first (bad --repeat, an output path that is a
file, a baseline of another model, environment or workload); the report is written once, after the gate,
so a failing gate never loses results. Exit codes stay with the caller (main.py maps them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.benchmark.sections import now_utc
from mm_orch.config import TEST_TYPES, Config
from mm_orch.errors import BenchmarkInterrupted, ConfigError, OutputError
from mm_orch.gate.baseline import compare_to_baseline, env_differences, workload_differences
from mm_orch.load.requests_file import save_for_report
from mm_orch.models import DEFAULT_MODEL
from mm_orch.report.failures import failed_phases
from mm_orch.report.gate_results import BaselineResult
from mm_orch.report.model import Report
from mm_orch.run.load_notes import load_warnings
from mm_orch.telemetry.run import telemetry_warnings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SessionOptions:
    model_name: str = DEFAULT_MODEL
    tests: Sequence[str] = TEST_TYPES
    prompts: list[str] | None = None  # None: the config's test_prompts
    repeat: int = 1
    baseline: str | None = None  # a previous report to gate against
    allow_env_mismatch: bool = False
    allow_workload_mismatch: bool = False
    report_path: Path | None = None  # None: <output_dir>/<model>_<engine>_<time>.<format>
    markdown: bool = True  # Markdown summary + PNG plots next to the report
    junit_xml: str | None = None


@dataclass(slots=True)
class SessionResult:
    report: Report
    path: Path
    baseline: BaselineResult | None = None
    markdown: Path | None = None
    html: Path | None = None
    junit: Path | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)  # phases with failed requests
    study_files: list[Path] = field(default_factory=list)  # e.g. the context-length curve (PNG + Markdown)
    requests: Path | None = None  # --save-requests: every open-loop request, one JSONL line each

    @property
    def targets_passed(self) -> bool:
        return self.report.validation is None or self.report.validation.passed

    @property
    def failure_rate_passed(self) -> bool:
        """False when --max-failure-rate (benchmark.max_failure_rate) was set and a phase failed more often."""
        from mm_orch.gate.targets import FAILURE_TARGET

        v = self.report.validation
        return v is None or not any(c.target_name == FAILURE_TARGET for c in v.failures)

    @property
    def gate_passed(self) -> bool:
        return self.baseline is None or self.baseline.passed


def _check_env(baseline: Report, current: Report, opts: SessionOptions, fields: Sequence[str]) -> None:
    if baseline.model_name != current.model_name:  # another model is another experiment
        raise ConfigError(f"baseline {opts.baseline} measured model '{baseline.model_name}', this run measures "
                          f"'{current.model_name}': a gate compares a model with its own earlier run "
                          "(--compare puts reports side by side)")
    hard, _ = env_differences(baseline, current, fields)
    if hard and not opts.allow_env_mismatch:
        raise ConfigError(f"baseline {opts.baseline} is from another environment ({'; '.join(hard)}); "
                          "pass --allow-env-mismatch to compare anyway")


def preflight(cfg: Config, opts: SessionOptions) -> Report | None:
    """Refuse what can be refused before minutes of measuring; returns the baseline, if any."""
    from mm_orch.benchmark.reporter import load_report
    from mm_orch.io import check_output_file, check_writable_dir, check_writable_file
    from mm_orch.monitor.system_info import collect_system_info
    from mm_orch.run.preflight import check_before_load
    from mm_orch.run.runner import run_config

    if opts.repeat < 1:
        raise ConfigError(f"--repeat must be >= 1, got {opts.repeat}")
    out = opts.report_path.parent if opts.report_path else Path(cfg.benchmark.report.output_dir)
    check_writable_dir(out, "--benchmark-output")  # now, not after minutes of measuring
    if opts.report_path:
        check_output_file(opts.report_path, "report")
    if opts.junit_xml:
        check_writable_file(opts.junit_xml, "--junit-xml")
    check_before_load(cfg, opts.model_name, opts.tests, opts.prompts, "--prompts" if opts.prompts else "test_prompts")
    trace = getattr(cfg.benchmark.load, "trace", None)
    if trace is not None and "load" in opts.tests:  # a bad trace file is one line now, not after the model loads
        from mm_orch.load.trace_replay import read

        read(trace)
    if not opts.baseline:
        if opts.allow_env_mismatch or opts.allow_workload_mismatch:
            raise ConfigError("--allow-env-mismatch / --allow-workload-mismatch apply to a baseline: add --baseline")
        return None
    baseline = load_report(opts.baseline)
    here = Report(model_name=opts.model_name, engine=cfg.engine.name, timestamp=now_utc(),
                  system_info=collect_system_info(), config=run_config(cfg, opts.model_name, opts.tests, opts.prompts))
    _check_env(baseline, here, opts, BEFORE_RUN)
    differ = workload_differences(baseline, here)
    if differ and not opts.allow_workload_mismatch:
        raise ConfigError(f"baseline {opts.baseline} measured another workload ({'; '.join(differ[:3])}"
                          f"{f'; +{len(differ) - 3} more' if len(differ) > 3 else ''}); "
                          "pass --allow-workload-mismatch to compare anyway")
    return baseline


# Environment fields known before the run, and those known only once the engine has loaded the model.
AFTER_RUN = ("device", "dtype", "load_format")
BEFORE_RUN = ("model_name", "engine", "gpu", "gpu_driver", "cuda_version", "torch_version", "transformers_version",
              "vllm_version")


def measure(cfg: Config, opts: SessionOptions, progress: Progress) -> Report:
    """run_benchmark once, or opts.repeat times folded into medians; targets checked once, on the result."""
    from mm_orch.gate.targets import check_failure_rate, validate_targets
    from mm_orch.run.repeat import run_repeated
    from mm_orch.run.runner import run_benchmark

    report = run_repeated(lambda: run_benchmark(cfg, opts.model_name, opts.tests, opts.prompts, progress),
                          opts.repeat)
    report.validation = validate_targets(opts.model_name, report, cfg.targets.get(opts.model_name))
    check_failure_rate(report, cfg.benchmark.max_failure_rate)  # --max-failure-rate: a check like a target
    return report


def warnings_for(report: Report) -> list[str]:
    """What a reader must know about this run, in the report and on the console."""
    out = []
    info = report.system_info
    if info is not None and info.busy:
        loads = [s.load_1m for s in (info.load_before, info.load_after) if s is not None]
        out.append(f"the machine was busy (load average {' -> '.join(f'{x:g}' for x in loads)} on "
                   f"{info.cpu_count} CPUs): timings are pessimistic")
    for f in failed_phases(report):
        out.append(f"{f['phase']}: {f['failed']} of {f['failed'] + f['completed']} request(s) failed: {f['error']}")
    out += load_warnings(report)  # short outputs, schedules stopped early, a search that did not converge
    out += telemetry_warnings(report)  # a dead metrics endpoint, server token counts off by more than 1 %
    rep = report.repeat
    if rep is not None and rep.requested and rep.requested > rep.n:
        out.append(f"interrupted: {rep.n} of {rep.requested} repeats finished; the medians and spreads are over those")
    if report.load is not None and report.load.incomplete:
        out.append(f"load: {report.load.note}")
    for c in report.validation.failures if report.validation else []:
        out.append(f"target missed: {c.metric} = {c.actual:.4g} {c.unit}, target {c.comparison} {c.target:g} {c.unit}")
    return out


def written_files(result: SessionResult | None) -> list[tuple[str, Path]]:
    """(label, path) of every file a session wrote, in the order they are written."""
    if result is None:
        return []
    files = [("report", result.path), ("summary", result.markdown), ("html", getattr(result, "html", None)),
             ("junit", result.junit), *(("study", p) for p in result.study_files),
             ("requests", getattr(result, "requests", None))]
    return [(label, path) for label, path in files if path is not None]


def finish(cfg: Config, opts: SessionOptions, report: Report, baseline: Report | None) -> SessionResult:
    """Gate, write the report once, then the Markdown, plots and JUnit XML beside it. A write that fails (disk
    full, ...) is an OutputError naming it and listing what was already written, never a traceback."""
    gate = None
    if baseline is not None:
        _check_env(baseline, report, opts, AFTER_RUN)  # the device and dtype that actually ran
        gate = compare_to_baseline(report, baseline, cfg.gate, opts.baseline or "", opts.allow_env_mismatch)
        report.baseline_check = gate
    report.warnings = warnings_for(report)
    started: list[SessionResult] = []  # the result, once the report is written
    try:
        return _write_outputs(cfg, opts, report, gate, started)
    except (OSError, ConfigError) as e:
        raise OutputError(_write_failure(e), written_files(started[0] if started else None)) from None


def _write_failure(e: OSError | ConfigError) -> str:
    if isinstance(e, ConfigError):
        return str(e)
    where = f" {e.filename}" if e.filename else ""
    return f"cannot write{where}: {e.strerror or e}"


def _write_outputs(cfg: Config, opts: SessionOptions, report: Report, gate: BaselineResult | None,
                   started: list[SessionResult]) -> SessionResult:
    from mm_orch.benchmark.reporter import BenchmarkReporter

    reporter = BenchmarkReporter(cfg.benchmark.report.output_dir, cfg.benchmark.report.include_system_info)
    fmt = cfg.benchmark.report.format
    path = reporter.write_json(report, opts.report_path) if opts.report_path else reporter.write(report, fmt)
    result = SessionResult(report, path, gate, failures=failed_phases(report))
    started.append(result)
    result.requests = save_for_report(report, path, cfg.benchmark.report.save_requests)
    if opts.markdown:
        from mm_orch.output.markdown import write_markdown

        result.markdown = write_markdown(report, path)
        from mm_orch.output.html import write_html

        result.html = write_html(json.loads(report.model_dump_json()), path.with_suffix(".html"))
        from mm_orch.output.study_files import write_study_files

        result.study_files = write_study_files(report, path)
    if opts.junit_xml:
        from mm_orch.output.junit import write_junit

        result.junit = write_junit(opts.junit_xml, report, gate)
    return result


def run_session(cfg: Config, opts: SessionOptions, progress: Progress | None = None) -> SessionResult:
    baseline = preflight(cfg, opts)
    progress = progress or NullProgress()
    try:
        report = measure(cfg, opts, progress)
    except BenchmarkInterrupted as e:  # Ctrl-C: keep what finished, atomically, marked incomplete
        if e.report is not None:
            from mm_orch.benchmark.reporter import BenchmarkReporter

            e.report.warnings = warnings_for(e.report)
            reporter = BenchmarkReporter(cfg.benchmark.report.output_dir, cfg.benchmark.report.include_system_info)
            try:
                e.path = reporter.write(e.report, cfg.benchmark.report.format)
                e.requests = save_for_report(e.report, e.path, cfg.benchmark.report.save_requests, incomplete=True)
            except (OSError, ConfigError) as w:  # the interrupt stays the answer; say why nothing was kept
                log.error("the incomplete report could not be written: %s", _write_failure(w))
        raise
    fmt = cfg.benchmark.report.format.upper()
    written = f"{fmt}, Markdown, HTML, plots" if opts.markdown else fmt
    progress.phase(f"report: {written}, gate", None)  # so the last test's time stops here
    return finish(cfg, opts, report, baseline)
