"""Command line: python -m mm_orch.main --benchmark --model qwen2.5-3b [...]

Thin: parses flags into config overrides, calls benchmark.session.run_session() (measure, repeat, write,
gate), prints, and maps errors to exit codes (0 ok, 1 target/baseline check failed, 2 bad usage/config/input,
3 engine failed at run time).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from mm_orch import __version__, cli_gate, cli_load, engine_flags
from mm_orch.config import DEFAULT_CONFIG_PATH, TEST_TYPES
from mm_orch.errors import BenchmarkInterrupted, ConfigError, EngineError, MmOrchError
from mm_orch.executors import cli as executors_cli
from mm_orch.studies import cli as study_cli

log = logging.getLogger("mm_orch")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage + error by default)
        self.exit(2, f"mm_orch: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m mm_orch.main", description="Benchmark LLM inference: latency, memory, "
                "throughput. Default model: the embedded offline tiny-qwen2. The summary table and file paths go "
                "to stdout; progress, warnings and errors to stderr.")
    p.add_argument("--version", action="version", version=f"mm_orch {__version__}")
    p.add_argument("--benchmark", action="store_true", help="run a benchmark and write a report")
    p.add_argument("--list-models", action="store_true", help="list registered model aliases and exit")
    p.add_argument("--report-schema", action="store_true", help="print the report's JSON schema and exit")
    p.add_argument("--serve", action="store_true", help="run the HTTP job service (needs the api extra)")
    p.add_argument("--host", default="127.0.0.1", help="--serve: address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="--serve: port (default 8000)")
    p.add_argument("--allow-no-auth", action="store_true",
                   help="--serve: allow a non-loopback --host without MM_ORCH_API_TOKEN (refused otherwise)")
    p.add_argument("--model", default="tiny-qwen2", help="alias or local Hugging Face folder (default tiny-qwen2)")
    p.add_argument("--engine", help="engine name (hf, vllm, dual, openai, ...); default from the config")
    p.add_argument("--config", help=f"YAML layered over the defaults ({DEFAULT_CONFIG_PATH}: a source checkout's "
                   "config/benchmark.yaml, or the copy installed inside the package): a key it leaves out keeps "
                   "its default")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override one config key, e.g. --set benchmark.latency.test_runs=3 (repeatable; YAML value)")
    p.add_argument("--tests", "--test-types", dest="tests", default=",".join(TEST_TYPES),
                   help="comma list of latency,memory,throughput; load (open loop) and the studies "
                   "(workload,accuracy,context_length) run when asked for")
    p.add_argument("--prompts", help="prompt file (one per line, or a JSON list) replacing test_prompts")
    p.add_argument("--benchmark-output", help="report folder (default benchmark.report.output_dir)")
    p.add_argument("--benchmark-format", choices=["json", "csv"], help="report format")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where the model runs")
    p.add_argument("--dtype", choices=["auto", "float32", "float16", "bfloat16"], help="weights dtype")
    p.add_argument("--load-format", choices=["auto", "dummy"],
                   help="auto: real weights (local or hub); dummy: random weights, no download")
    p.add_argument("--check-targets", action="store_true", help="exit 1 if a per-model target is missed "
                   "(missed targets are warned about either way)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or phase lines")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    engine_flags.add_arguments(p)
    cli_gate.add_arguments(p)
    executors_cli.add_arguments(p)
    cli_load.add_arguments(p)
    study_cli.add_arguments(p)  # issue 12: --dataset, --workload, --slo, --accuracy, --context-length, --sweep
    return p


def overrides_from_args(a: argparse.Namespace) -> dict[str, Any]:
    """CLI flags -> a nested dict merged into (and validated with) the layered config."""
    o: dict[str, Any] = {"engine": engine_flags.overrides(a), "benchmark": {"report": {}}}
    for flag, key in (("engine", "name"), ("device", "device"), ("dtype", "dtype"), ("load_format", "load_format")):
        if getattr(a, flag):
            o["engine"][key] = getattr(a, flag)
    if a.benchmark_output:
        o["benchmark"]["report"]["output_dir"] = a.benchmark_output
    if a.benchmark_format:
        o["benchmark"]["report"]["format"] = a.benchmark_format
    return {k: v for k, v in o.items() if v and v != {"report": {}}}


def _quiet_libraries(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # their start-up chatter buries the summary; -v brings it back
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    # through the environment: importing transformers here costs seconds before a bad flag is even reported
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def run_cli(a: argparse.Namespace) -> int:
    from rich.console import Console

    from mm_orch.benchmark.session import SessionOptions, run_session
    from mm_orch.benchmark.workloads import load_prompt_file
    from mm_orch.cli_output import progress_for, summary_table, validation_table
    from mm_orch.config import apply_overrides, load_config

    out, err = Console(), Console(stderr=True)
    cfg = load_config(a.config, a.set)
    overrides = cli_load.merge(overrides_from_args(a) | cli_gate.gate_overrides(a) | study_cli.overrides(a),
                               cli_load.load_overrides(a))
    cfg = apply_overrides(cfg, overrides, source="command line")
    tests = study_cli.tests(a, [t.strip() for t in a.tests.split(",") if t.strip()], ",".join(TEST_TYPES))
    cli_load.check_saturation(a, tests)  # issue 12: --request-rate sweep needs --tests load
    opts = SessionOptions(model_name=a.model, tests=tests,
                          prompts=load_prompt_file(a.prompts) if a.prompts else None, repeat=a.repeat,
                          baseline=a.baseline, allow_env_mismatch=a.allow_env_mismatch,
                          allow_workload_mismatch=a.allow_workload_mismatch, markdown=not a.no_markdown,
                          junit_xml=a.junit_xml)
    if a.sweep:  # issue 12: one session per grid cell, then one sweep report
        return study_cli.run_sweep_cli(a, cfg, opts, out, err)
    try:
        with progress_for(err, enabled=not a.no_progress) as progress:
            result = run_session(cfg, opts, progress)
    except BenchmarkInterrupted as e:  # Ctrl-C: the session wrote what finished (atomically), marked incomplete
        if e.path is not None:
            err.print(f"report (incomplete): {e.path}", soft_wrap=True, highlight=False)
        raise
    report = result.report
    out.print(summary_table(report))
    if report.load is not None:
        out.print(cli_load.load_table(report.load))
    for line in study_cli.summary(report):  # issue 12: the study sections, a few lines each
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
    study = [("study", p) for p in result.study_files]  # issue 12: e.g. the context-length curve
    for label, path in (("report", result.path), ("summary", result.markdown), ("junit", result.junit), *study):
        if path is not None:
            out.print(f"{label}: {path}", soft_wrap=True, highlight=False)
    dead = [f for f in result.failures if not f["completed"]]
    if dead:  # results are written; a phase where nothing succeeded is still an engine failure
        raise EngineError(report.engine, f"every request of {dead[0]['phase']} failed: {dead[0]['error']}")
    failed = not result.gate_passed or (a.check_targets and not result.targets_passed)
    return 1 if failed else 0


def print_report_schema() -> int:
    import json

    from mm_orch.benchmark.schema import Report

    print(json.dumps(Report.model_json_schema(mode="serialization"), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    _quiet_libraries(a.verbose)
    try:
        if a.list_models:
            from mm_orch.config import load_config
            from mm_orch.models import BUILTIN

            user_models = load_config(a.config, a.set).models  # the config's own models, listed after ours
            for alias, spec in sorted(BUILTIN.items()):
                print(f"{alias:18} {spec.hf_id or '(embedded)':32} {spec.description}")
            for alias, entry in sorted(user_models.items()):
                print(f"{alias:18} {entry.path or entry.hf_id or '':32} {entry.description or '(from the config)'}")
            return 0
        if a.report_schema:
            return print_report_schema()
        if a.compare:
            from rich.console import Console

            return cli_gate.run_compare(a, Console())
        if a.serve:
            from mm_orch.api.server import serve

            return serve(a.config, a.host, a.port, a.allow_no_auth, executors_cli.ray_for_serve(a))
        if a.calibrate:
            from rich.console import Console

            cli_load.run_calibration(Console(stderr=True))
            if not a.benchmark:
                return 0
        if not a.benchmark:
            raise ConfigError("nothing to do: pass --benchmark (or --serve, --list-models, --calibrate)")
        if executors_cli.is_multi(a):
            if a.sweep:  # each job is one session; a sweep is one model on one engine
                raise ConfigError("--sweep runs one model on one engine: not with several --model / --engine")
            return executors_cli.run_jobs(a, overrides_from_args(a) | cli_gate.gate_overrides(a)
                                          | study_cli.overrides(a))
        return run_cli(a)
    except MmOrchError as e:
        print(f"mm_orch: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mm_orch: interrupted", file=sys.stderr)
        return 130


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown: freeing torch's and Transformers' modules takes ~2 s on a
    2-core machine (0.08 s this way). By now every report is written (atomically) and every engine closed;
    only the streams are left to flush."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cli() -> None:
    """The `mm-orch` command: main(), then a fast exit."""
    exit_now(main())


if __name__ == "__main__":
    cli()
