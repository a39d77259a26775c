"""--ab REF: paired A/B in one job. Both sides run alternately on this machine, and the gate compares pairs.

    python -m mm_orch.main --benchmark --config config/ci_gate.yaml --tests latency,memory --ab ../main-before
    python -m mm_orch.main --benchmark --config a.yaml --ab-config b.yaml

A is this checkout; B is REF, another source tree or installed copy of mm_orch (a folder holding the mm_orch
package, run as ``PYTHONPATH=REF python -m mm_orch.main ...``), or this checkout with --ab-config's config
(REF 'self' or left out). Each round runs one child process per side with the same flags (A's own flags
minus the gate's and output flags; B's --config replaced by --ab-config), in ABBA order (A B, B A, A B, ...)
so that a slow trend of the machine hits both sides alike. A child is a whole run: its own model load,
warm-up and measurement, written to a report in a temporary folder.

Round i of A and round i of B are a pair; gate.regression.paired_verdicts compares the per-round values
(the median of each run's per-request samples, or its catalogue value) with gate.verdict.compare(paired=True).
Load that hits both runs of a pair cancels, so no baseline file, machine reference or CPU figure is needed
(the CPU figure is still used when the machine was busy). The job's report is A's runs merged (as --repeat
would) with baseline_check holding the paired verdicts; every round's report stays in <output>/ab_<time>/;
the exit code is the gate's (0 / 1 / 4).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import mm_orch
from mm_orch.benchmark.sections import now_utc
from mm_orch.errors import ConfigError, EngineError

if TYPE_CHECKING:
    from mm_orch.config import Config
    from mm_orch.run.session import SessionOptions, SessionResult

# flags the children do not get: the gate's, the outputs' and the A/B's own (the parent handles them)
DROPPED = {"--ab": 1, "--ab-config": 1, "--ab-rounds": 1, "--baseline": 1, "--junit-xml": 1,
           "--benchmark-output": 1, "--repeat": 1, "--on-inconclusive": 1, "--tolerance": 1,
           "--allow-env-mismatch": 0, "--allow-workload-mismatch": 0, "--check-targets": 0, "--no-markdown": 0,
           "--no-progress": 0, "--config": 1}
MIN_ROUNDS = 3
CHILD_TIMEOUT_S = 3600


def child_args(argv: list[str]) -> list[str]:
    """argv without the DROPPED flags (both '--flag value' and '--flag=value' forms)."""
    out: list[str] = []
    skip = 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in DROPPED:
            skip = 0 if "=" in arg else DROPPED[name]
            continue
        out.append(arg)
    return out


def source_root() -> Path:
    """The folder holding the mm_orch package this process runs (a checkout's root or site-packages)."""
    return Path(mm_orch.__file__).resolve().parent.parent


def check_ref(ref: str | None, ab_config: str | None) -> Path | None:
    """The REF folder (None: this checkout, with --ab-config); a folder without mm_orch in it is exit 2."""
    if ref in (None, "self"):
        if ab_config is None:
            raise ConfigError("--ab self compares this checkout with itself: add --ab-config FILE for the B side")
        return None
    path = Path(ref).expanduser().resolve()
    if not (path / "mm_orch" / "__init__.py").is_file():
        raise ConfigError(f"--ab {ref}: not a source tree or install folder of mm_orch (no {path}/mm_orch/"
                          "__init__.py); give the folder that holds the mm_orch package")
    return path


def _run_child(cmd: list[str], env: dict[str, str], side: str, round_no: int) -> Path:
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    report = next((line.split(":", 1)[1].strip() for line in r.stdout.splitlines() if line.startswith("report:")),
                  None)
    if r.returncode not in (0, 1) or report is None:  # 1: a target of the child missed; it is not the gate
        tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise EngineError(f"A/B side {side}", f"round {round_no} exited {r.returncode}: {tail}")
    return Path(report)


def run_ab(a: argparse.Namespace, config_path: str | None, out_dir: Path) -> tuple[list[Path], list[Path], str]:
    """Run the rounds; returns the report paths of A and of B (in round order) and REF's label."""
    rounds = a.ab_rounds
    if rounds < MIN_ROUNDS:
        raise ConfigError(f"--ab-rounds must be at least {MIN_ROUNDS} (pairs for an interval), got {rounds}")
    if a.baseline:
        raise ConfigError("--ab compares two sides measured now: not with --baseline")
    if a.repeat != 1:
        raise ConfigError("--ab runs --ab-rounds rounds per side: not with --repeat")
    if getattr(a, "sweep", None):
        raise ConfigError("--ab compares one configuration on two sides: not with --sweep")
    ref = check_ref(a.ab, a.ab_config)
    base = child_args(list(getattr(a, "argv", None) or sys.argv[1:]))
    tail = ["--no-markdown", "--no-progress", "--set", "benchmark.report.format=json"]
    config_a = ["--config", config_path] if config_path else []
    config_b = ["--config", a.ab_config] if a.ab_config else config_a
    env_a = dict(os.environ)
    env_a["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source_root()), os.environ.get("PYTHONPATH")]))
    env_b = dict(env_a) if ref is None else {**os.environ, "PYTHONPATH": str(ref)}
    label = f"REF {ref}" if ref is not None else "this checkout"
    if a.ab_config:
        label += f" with --ab-config {a.ab_config}"
    paths: dict[str, list[Path]] = {"A": [], "B": []}
    folder = out_dir / f"ab_{now_utc().replace(':', '').replace('-', '')[:15]}"
    for i in range(rounds):
        for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
            cmd = [sys.executable, "-m", "mm_orch.main", *base, *(config_a if side == "A" else config_b),
                   *tail, "--benchmark-output", str(folder / f"{side}{i + 1}")]
            paths[side].append(_run_child(cmd, env_a if side == "A" else env_b, side, i + 1))
    return paths["A"], paths["B"], label


def ab_session(cfg: Config, opts: SessionOptions, a: argparse.Namespace) -> SessionResult:
    """Run the rounds, gate on the pairs, write A's merged report (baseline_check = the paired verdicts)."""
    from mm_orch.benchmark.reporter import load_report
    from mm_orch.gate.baseline import compare_to_baseline
    from mm_orch.gate.regression import apply_paired
    from mm_orch.gate.targets import validate_targets
    from mm_orch.io import check_writable_dir
    from mm_orch.run.repeat import merge_repeats
    from mm_orch.run.session import _write_outputs, warnings_for

    out_dir = Path(a.benchmark_output or cfg.benchmark.report.output_dir)
    check_writable_dir(out_dir, "--benchmark-output")
    a_paths, b_paths, label = run_ab(a, a.config, out_dir)
    runs_a, runs_b = [load_report(p) for p in a_paths], [load_report(p) for p in b_paths]
    report, other = merge_repeats(runs_a), merge_repeats(runs_b)
    result = compare_to_baseline(report, other, cfg.gate, f"A/B: {label} ({a_paths[0].parent.parent})",
                                 allow_env_mismatch=True)
    result.notes = []
    apply_paired(result, runs_a, runs_b, cfg.gate)
    report.baseline_check = result
    report.validation = validate_targets(opts.model_name, report, cfg.targets.get(opts.model_name))
    report.warnings = warnings_for(report)
    return _write_outputs(cfg, opts, report, result, [])
