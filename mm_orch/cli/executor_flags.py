"""The CLI's multi-job side: --model a,b --engine x,y runs every model x engine pair as its own job,
one after another here (--executor local) or as Ray tasks on a cluster (--executor ray).

main.py adds the flags with add_arguments() and hands over with run_jobs() when is_multi() says so.
Reports are written here, on the machine that ran the command, whichever node measured them.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mm_orch.config import TEST_TYPES, Config, apply_overrides, load_config
from mm_orch.errors import ConfigError
from mm_orch.executors.devices import visible_gpus
from mm_orch.jobs.spec import JobOutcome, JobSpec

EXECUTORS = ("local", "ray")


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("several jobs and clusters (--model a,b and --engine x,y run every pair)")
    g.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: jobs one after another here (the job service: a child process per slot); "
                        "ray: each job a Ray task (CLI and --serve)")
    g.add_argument("--ray-address", help="Ray cluster: host:port, ray://host:port or auto "
                                         "(default RAY_ADDRESS, else a local cluster for this run)")
    g.add_argument("--gpus", type=int, help="GPUs per job (Ray num_gpus); default 0 on CPU, vLLM's tensor x "
                                            "pipeline parallel size, else 1")
    g.add_argument("--ray-num-cpus", type=float, default=1.0,
                   help="CPUs each Ray task declares (Ray sets the task's OMP_NUM_THREADS to it; default 1)")


def _split(value: str | None) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in (value or "").split(",") if v.strip()))


def is_multi(a: argparse.Namespace) -> bool:
    """This command is for run_jobs (which also refuses its flags where they do not apply)."""
    return (a.executor == "ray" or len(_split(a.model)) > 1 or len(_split(a.engine)) > 1
            or bool(a.ray_address) or a.gpus is not None)


def _check_flags(a: argparse.Namespace) -> None:
    if a.ray_address and a.executor != "ray":
        raise ConfigError("--ray-address applies to --executor ray")
    if a.gpus is not None and a.gpus < 0:
        raise ConfigError(f"--gpus must be >= 0, got {a.gpus}")
    if a.ray_num_cpus <= 0:
        raise ConfigError(f"--ray-num-cpus must be > 0, got {a.ray_num_cpus:g}")
    many = a.executor == "ray" or len(_split(a.model)) > 1 or len(_split(a.engine)) > 1
    single = [f for f, on in (("--baseline", a.baseline), ("--repeat", a.repeat != 1), ("--junit-xml", a.junit_xml),
                              ("--ab", a.ab or a.ab_config)) if on]
    if single and many:
        raise ConfigError(f"{single[0]} gates one model on one engine in this process: not with several "
                          "models/engines or --executor ray")


check_flags = _check_flags  # the sweep's --executor ray path checks the same flags


def ray_for_serve(a: argparse.Namespace) -> Any:
    """--serve --executor ray: the cluster the job service sends its jobs to (None: local processes)."""
    _check_flags(a)
    if a.gpus is not None:
        raise ConfigError("--gpus applies to CLI jobs; a job service request sets its own 'gpus'")
    if a.executor != "ray":
        return None
    from mm_orch.executors.ray_cluster import RayCluster

    return RayCluster(a.ray_address, a.ray_num_cpus)


def plan(a: argparse.Namespace, overrides: dict[str, Any], capacity: int, where: str) -> list[JobSpec]:
    """Every model x engine pair as a JobSpec, each config validated and each model resolved up front."""
    from mm_orch.benchmark.prompts import load_prompt_file
    from mm_orch.engines.base import engine_names
    from mm_orch.executors.devices import job_gpus
    from mm_orch.models.registry import resolve_model

    tests = _split(a.tests)
    bad = [t for t in tests if t not in TEST_TYPES]
    if bad or not tests:
        raise ConfigError(f"--tests: unknown test type '{bad[0] if bad else ''}' (choose from {', '.join(TEST_TYPES)})")
    base = load_config(a.config)
    prompts = load_prompt_file(a.prompts) if a.prompts else None
    specs = []
    for engine in _split(a.engine) or [None]:
        o = copy.deepcopy(overrides)
        o.setdefault("engine", {}).pop("name", None)
        if engine is not None:
            if engine not in engine_names():
                raise ConfigError(f"--engine: unknown engine '{engine}' (choose from {', '.join(engine_names())})")
            o["engine"]["name"] = engine
        cfg: Config = apply_overrides(base, o, source="command line")
        gpus = job_gpus(a.gpus, cfg, capacity, where, field="--gpus")
        for model in _split(a.model):
            resolve_model(model, cfg.models)
            out_dir = Path(cfg.benchmark.report.output_dir)
            if out_dir.exists() and not out_dir.is_dir():  # found now, not after the jobs ran
                raise ConfigError(f"--benchmark-output {out_dir}: exists and is not a folder")
            specs.append(JobSpec(model_name=model, tests=tests, config=cfg.model_dump(mode="json"), prompts=prompts,
                                 gpus=gpus))
    return specs


def _write(spec: JobSpec, out: JobOutcome, no_markdown: bool) -> Path | None:
    """The report as a local run writes it (session.finish: warnings, report, Markdown and plots)."""
    from mm_orch.report.model import Report
    from mm_orch.run.session import SessionOptions, finish

    if out.report is None:
        return None
    opts = SessionOptions(model_name=spec.model_name, tests=spec.tests, markdown=not no_markdown)
    return finish(Config.model_validate(spec.config), opts, Report.model_validate(out.report), None).path


def _run_local(specs: list[JobSpec], console: Console, done) -> None:
    from mm_orch.jobs.spec import run_job_spec

    for i, spec in enumerate(specs, 1):
        console.print(f"job {i}/{len(specs)}: {spec.label}")
        done(spec, run_job_spec(spec))


def _run_ray(cluster: Any, specs: list[JobSpec], console: Console, done) -> None:
    refs = {cluster.submit(s): s for s in specs}
    console.print(f"{len(specs)} job(s) submitted to Ray at {cluster.address} {cluster.resources()}")
    while refs:
        for ref in cluster.wait(list(refs), timeout=None):
            done(refs.pop(ref), cluster.outcome(ref))


def _table(rows: list[tuple[JobSpec, JobOutcome, Path | None]]) -> Table:
    t = Table(title=f"{len(rows)} job(s)")
    for c in ("model", "engine", "gpus", "node", "status", "TTFT ms", "tokens/s", "report"):
        t.add_column(c, justify="right" if c in ("gpus", "TTFT ms", "tokens/s") else "left")
    for spec, out, path in rows:
        lat = (out.report or {}).get("latency") or {}
        status = "ok" if out.error is None else f"[red]failed[/red]: {out.error}"
        num = [f"{v:.2f}" if isinstance(v, (int, float)) else "-"
               for v in (lat.get("ttft_ms"), lat.get("tokens_per_second"))]
        t.add_row(spec.model_name, spec.engine, str(spec.gpus), out.node or "-", status, *num, str(path or "-"))
    return t


def run_jobs(a: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """Plan, run and report every job; exit code: a failed job's (3 engine, 2 input), else 1 if a target
    was missed (--check-targets), else 0."""
    _check_flags(a)
    console = Console(stderr=True)
    cluster = None
    if a.executor == "ray":
        from mm_orch.executors.ray_cluster import RayCluster

        cluster = RayCluster(a.ray_address, a.ray_num_cpus)
    try:
        capacity = cluster.gpu_capacity() if cluster else len(visible_gpus())
        specs = plan(a, overrides, capacity, f"the Ray cluster at {cluster.address}" if cluster else "this machine")
        rows: list[tuple[JobSpec, JobOutcome, Path | None]] = []

        def done(spec: JobSpec, out: JobOutcome) -> None:
            path = _write(spec, out, a.no_markdown)
            rows.append((spec, out, path))
            console.print(f"{spec.label}: " + (f"report {path}" if path else f"failed: {out.error}"), soft_wrap=True)

        if cluster:
            _run_ray(cluster, specs, console, done)
        else:
            _run_local(specs, console, done)
    finally:
        if cluster:
            cluster.close()
    wide = console if console.is_terminal else Console(stderr=True, width=max(console.width, 200))
    wide.print(_table(rows))  # CI logs: paths not squeezed into 80 columns
    failed = [out.exit_code for _, out, _ in rows if out.error is not None]
    if failed:
        return max(failed)
    missed = a.check_targets and any(not out.report["validation"]["passed"] for _, out, _ in rows)
    return 1 if missed else 0
