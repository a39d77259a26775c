"""Command line: python -m mm_orch.main --benchmark --model qwen2.5-3b [...]

Thin: parses flags into config overrides, calls run_benchmark(), writes the report, maps errors to exit
codes (0 ok, 1 target/baseline check failed, 2 bad usage/config/input, 3 engine failed at run time).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from mm_orch import __version__, cli_gate
from mm_orch.config import TEST_TYPES
from mm_orch.errors import ConfigError, EngineError, MmOrchError
from mm_orch.studies import cli as study_cli
from mm_orch.studies import plots as study_plots

log = logging.getLogger("mm_orch")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage + error by default)
        self.exit(2, f"mm_orch: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m mm_orch.main", description="Benchmark LLM inference: latency, memory, "
                "throughput. Default model: the embedded offline tiny-qwen2.")
    p.add_argument("--version", action="version", version=f"mm_orch {__version__}")
    p.add_argument("--benchmark", action="store_true", help="run a benchmark and write a report")
    p.add_argument("--list-models", action="store_true", help="list registered model aliases and exit")
    p.add_argument("--serve", action="store_true", help="run the HTTP job service (needs the api extra)")
    p.add_argument("--host", default="127.0.0.1", help="--serve: address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="--serve: port (default 8000)")
    p.add_argument("--model", default="tiny-qwen2", help="alias or local Hugging Face folder (default tiny-qwen2)")
    p.add_argument("--engine", help="engine name (hf, vllm, dual, ...); default from the config")
    p.add_argument("--config", help="YAML config (default config/benchmark.yaml)")
    p.add_argument("--tests", default=",".join(TEST_TYPES), help="comma list of latency,memory,throughput")
    p.add_argument("--prompts", help="prompt file (one per line, or a JSON list) replacing test_prompts")
    p.add_argument("--benchmark-output", help="report folder (default benchmark.report.output_dir)")
    p.add_argument("--benchmark-format", choices=["json", "csv"], help="report format")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where the model runs")
    p.add_argument("--dtype", choices=["auto", "float32", "float16", "bfloat16"], help="weights dtype")
    p.add_argument("--load-format", choices=["auto", "dummy"],
                   help="auto: real weights (local or hub); dummy: random weights, no download")
    p.add_argument("--static-cache", action="store_true", help="hf engine: static KV cache + torch.compile")
    p.add_argument("--attn-implementation", help="hf engine: sdpa, eager, flash_attention_2")
    p.add_argument("--quantization", choices=["8bit", "4bit"], help="hf engine: bitsandbytes 8-bit or 4-bit weights")
    p.add_argument("--base-url", help="openai engine: the server's API root, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--theta-model", help="dual engine: the student/theta model (the teacher is --model)")
    p.add_argument("--alpha-method", choices=["fixed", "kl_symmetry", "ess_balance", "entropy"],
                   help="dual engine: how the teacher weight alpha is chosen")
    p.add_argument("--check-targets", action="store_true", help="exit 1 if a per-model target is missed")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    cli_gate.add_arguments(p)
    study_cli.add_arguments(p)  # issue 12
    return p


def overrides_from_args(a: argparse.Namespace) -> dict[str, Any]:
    """CLI flags -> a nested dict merged into (and validated with) the YAML config."""
    o: dict[str, Any] = {"engine": {"hf": {}}, "benchmark": {"report": {}}, "optimal_sampling": {}}
    for flag, key in (("engine", "name"), ("device", "device"), ("dtype", "dtype"), ("load_format", "load_format")):
        if getattr(a, flag):
            o["engine"][key] = getattr(a, flag)
    if a.static_cache:
        o["engine"]["hf"]["static_cache"] = True
    if a.attn_implementation:
        o["engine"]["hf"]["attn_implementation"] = a.attn_implementation
    if a.quantization:
        o["engine"]["hf"]["quantization"] = a.quantization
    if a.benchmark_output:
        o["benchmark"]["report"]["output_dir"] = a.benchmark_output
    if a.benchmark_format:
        o["benchmark"]["report"]["format"] = a.benchmark_format
    if a.base_url:
        o["engine"]["openai"] = {"base_url": a.base_url}
    if a.theta_model:
        o["optimal_sampling"]["theta_model"] = a.theta_model
    if a.alpha_method:
        o["optimal_sampling"]["alpha_method"] = a.alpha_method
    return {k: v for k, v in o.items() if v and v != {"hf": {}} and v != {"report": {}}}


def _quiet_libraries(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # their start-up chatter buries the summary; -v brings it back
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def run_cli(a: argparse.Namespace) -> int:
    from rich.console import Console

    from mm_orch.benchmark.report import failed_phases
    from mm_orch.benchmark.reporter import BenchmarkReporter
    from mm_orch.benchmark.workloads import load_prompt_file
    from mm_orch.cli_output import RichProgress, summary_table, validation_table
    from mm_orch.config import apply_overrides, load_config

    console = Console(stderr=True)
    cfg = load_config(a.config)
    cfg = apply_overrides(cfg, overrides_from_args(a) | cli_gate.gate_overrides(a) | study_cli.overrides(a),
                          source="command line")
    baseline = cli_gate.preflight(a, cfg)
    out_dir = Path(cfg.benchmark.report.output_dir)
    if out_dir.exists() and not out_dir.is_dir():  # found now, not after minutes of measuring
        raise ConfigError(f"--benchmark-output {out_dir}: exists and is not a folder")
    tests = [t.strip() for t in a.tests.split(",") if t.strip()]
    tests = study_cli.tests(a, tests, ",".join(TEST_TYPES))  # issue 12: --dataset, --accuracy, ...
    prompts = load_prompt_file(a.prompts) if a.prompts else None
    if a.sweep:  # issue 12: one run per grid cell, one sweep report
        return study_cli.run_sweep_cli(a, cfg, tests, prompts, console)
    reporter = BenchmarkReporter(cfg.benchmark.report.output_dir, cfg.benchmark.report.include_system_info)
    with RichProgress(console, enabled=not a.no_progress and console.is_terminal) as progress:
        report = cli_gate.measure(a, cfg, tests, prompts, progress)
    try:
        gate = cli_gate.gate(a, cfg, report, baseline)
    except MmOrchError:  # e.g. the device that ran differs from the baseline's: keep the results anyway
        console.print(f"report (not gated): {reporter.write(report, cfg.benchmark.report.format)}")
        raise
    path = reporter.write(report, cfg.benchmark.report.format)
    console.print(summary_table(report))
    for line in study_cli.summary(report):  # issue 12: study sections
        console.print(line, markup=False)
    console.print(f"report: {path}")
    for extra in study_plots.write_study_files(report, path):  # issue 12: e.g. the context-length curve
        console.print(f"study: {extra}", markup=False)
    failures = failed_phases(report)
    for f in failures:
        console.print(f"[yellow]{f['phase']}: {f['failed']} of {f['failed'] + f['completed']} request(s) "
                      f"failed: {f['error']}[/yellow]")
    cli_gate.write_outputs(a, report, path, gate, console)
    failed_check = gate is not None and not gate.passed
    if a.check_targets:
        validation = report["validation"]
        if not validation["checked"] and not validation["failures"]:
            console.print(f"no targets for '{a.model}' in the config: nothing to check")
        else:
            console.print(validation_table(validation))
        failed_check |= not validation["passed"]
    dead = [f for f in failures if not f["completed"]]
    if dead:  # results are written; a phase where nothing succeeded is still an engine failure
        raise EngineError(report["engine"], f"every request of {dead[0]['phase']} failed: {dead[0]['error']}")
    return 1 if failed_check else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    _quiet_libraries(a.verbose)
    try:
        if a.list_models:
            from mm_orch.config import load_config
            from mm_orch.models import BUILTIN

            user_models = load_config(a.config).models  # the config's own models, listed after ours
            for alias, spec in sorted(BUILTIN.items()):
                print(f"{alias:18} {spec.hf_id or '(embedded)':32} {spec.description}")
            for alias, entry in sorted(user_models.items()):
                print(f"{alias:18} {entry.path or entry.hf_id or '':32} {entry.description or '(from the config)'}")
            return 0
        if a.compare:
            from rich.console import Console

            return cli_gate.run_compare(a, Console(stderr=True))
        if a.serve:
            from mm_orch.api.server import serve

            return serve(a.config, a.host, a.port)
        if not a.benchmark:
            raise ConfigError("nothing to do: pass --benchmark (or --serve, --list-models)")
        return run_cli(a)
    except MmOrchError as e:
        print(f"mm_orch: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mm_orch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
