"""The command line's flags: one parser (each concern adds its own flags) and the overrides they make."""

from __future__ import annotations

import argparse
from typing import Any

from mm_orch import __version__
from mm_orch.cli import engine_flags, executor_flags, gate, load_flags, study_flags, telemetry_flags
from mm_orch.config import DEFAULT_CONFIG_PATH, TEST_TYPES


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
    p.add_argument("--max-failure-rate", metavar="PCT", type=float,
                   help="exit 1 when more than PCT percent of any phase's requests failed (benchmark.max_failure_rate; "
                   "default: failed requests are a warning, all failed is exit 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or phase lines")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    for part in (engine_flags, gate, executor_flags, load_flags, study_flags, telemetry_flags):
        part.add_arguments(p)
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
    if getattr(a, "max_failure_rate", None) is not None:
        o["benchmark"]["max_failure_rate"] = a.max_failure_rate
    o["benchmark"] |= telemetry_flags.overrides(a).get("benchmark", {})
    return {k: v for k, v in o.items() if v and v != {"report": {}}}
