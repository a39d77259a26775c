"""What the command line can do, in the order a flag is looked for: the first action given runs.

Each action takes the parsed flags and returns the exit code, or None to let the next action run
(--calibrate before --benchmark).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from mm_orch.cli import executor_flags, gate, load_flags, study_flags
from mm_orch.cli.parser import overrides_from_args
from mm_orch.errors import ConfigError


def list_models(a: argparse.Namespace) -> int:
    from mm_orch.config import load_config
    from mm_orch.models import BUILTIN

    user_models = load_config(a.config, a.set).models  # the config's own models, listed after ours
    for alias, spec in sorted(BUILTIN.items()):
        print(f"{alias:18} {spec.hf_id or '(embedded)':32} {spec.description}")
    for alias, entry in sorted(user_models.items()):
        print(f"{alias:18} {entry.path or entry.hf_id or '':32} {entry.description or '(from the config)'}")
    return 0


def report_schema(a: argparse.Namespace) -> int:
    from mm_orch.report.model import Report

    print(json.dumps(Report.model_json_schema(mode="serialization"), indent=2))
    return 0


def compare(a: argparse.Namespace) -> int:
    from rich.console import Console

    return gate.run_compare(a, Console())


def serve(a: argparse.Namespace) -> int:
    from mm_orch.api.server import serve as serve_api

    return serve_api(a.config, a.host, a.port, a.allow_no_auth, executor_flags.ray_for_serve(a))


def calibrate(a: argparse.Namespace) -> int | None:
    from rich.console import Console

    load_flags.run_calibration(Console(stderr=True))
    return None if a.benchmark else 0


def benchmark(a: argparse.Namespace) -> int:
    one_pair = len(executor_flags._split(a.model)) <= 1 and len(executor_flags._split(a.engine)) <= 1
    if a.sweep and one_pair:  # a sweep's cells run here, or as Ray tasks with --executor ray (run_sweep_cli)
        from mm_orch.cli.run_benchmark import run_cli

        return run_cli(a)
    if executor_flags.is_multi(a):
        if a.sweep:  # each job is one session; a sweep is one model on one engine
            raise ConfigError("--sweep runs one model on one engine: not with several --model / --engine")
        if a.save_requests:
            raise ConfigError("--save-requests keeps the requests of a run in this process: not with several "
                              "--model / --engine or --executor ray jobs")
        from mm_orch.config import deep_merge

        return executor_flags.run_jobs(a, deep_merge(overrides_from_args(a) | gate.gate_overrides(a)
                                                     | study_flags.overrides(a), load_flags.load_overrides(a)))
    from mm_orch.cli.run_benchmark import run_cli

    return run_cli(a)


ACTIONS: tuple[tuple[str, Callable[[argparse.Namespace], int | None]], ...] = (
    ("list_models", list_models), ("report_schema", report_schema), ("compare", compare), ("serve", serve),
    ("calibrate", calibrate), ("benchmark", benchmark))


def run_action(a: argparse.Namespace) -> int:
    for flag, action in ACTIONS:
        if getattr(a, flag):
            code = action(a)
            if code is not None:
                return code
    raise ConfigError("nothing to do: pass --benchmark (or --serve, --list-models, --calibrate)")
