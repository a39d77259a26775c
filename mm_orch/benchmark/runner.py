"""run_benchmark(cfg, ...) -> report dict: the one entry point the CLI, the API and Python users share."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from mm_orch.benchmark.latency import LatencyBenchmark
from mm_orch.benchmark.memory import MemoryBenchmark
from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.benchmark.report import assemble_report, latency_section, memory_section, throughput_section
from mm_orch.benchmark.targets import validate_targets
from mm_orch.benchmark.throughput import ThroughputBenchmark
from mm_orch.benchmark.workloads import grid_scenarios, synthetic_prompt_ids
from mm_orch.config import TEST_TYPES, Config
from mm_orch.engines.base import Engine, ModelInfo, engine_class
from mm_orch.errors import ConfigError, EngineError, MmOrchError
from mm_orch.models import DEFAULT_MODEL
from mm_orch.models.manager import resolve_device
from mm_orch.studies.settings import STUDY_TESTS

log = logging.getLogger(__name__)


def _check_tests(tests: Sequence[str]) -> list[str]:
    known = TEST_TYPES + STUDY_TESTS
    bad = [t for t in tests if t not in known]
    if bad or not tests:
        raise ConfigError(f"unknown test type '{bad[0] if bad else ''}' (choose from {', '.join(known)})")
    return [t for t in known if t in tests]  # memory first: its peak window starts clean


def _prompts(cfg: Config, prompts: Sequence[str] | None) -> list[str]:
    out = list(prompts) if prompts else cfg.test_prompts.all()
    if not out:
        raise ConfigError("no prompts: test_prompts in the config is empty and no --prompts file was given")
    return out


def _run_latency(engine: Engine, cfg: Config, prompts: list[str], progress: Progress) -> dict | None:
    s = cfg.benchmark.latency
    bench = LatencyBenchmark(s.warmup_runs, s.test_runs, s.ignore_eos, progress,
                             sampling=cfg.benchmark.generation.request_kwargs())
    scenarios = grid_scenarios(engine, s.input_lengths, s.output_lengths, cfg.engine.seed)
    progress.phase("latency", bench.steps(len(prompts)) + len(scenarios) * bench.steps(1))
    headline = bench.run(engine, prompts, s.output_length)
    results = [(sc, bench.run(engine, sc.prompts, sc.output_length)) for sc in scenarios]
    return latency_section(headline, results)


def _run_memory(engine: Engine, cfg: Config, info: ModelInfo, load, progress: Progress) -> dict | None:
    s = cfg.benchmark.memory
    progress.phase("memory", 1)
    n_in = max(cfg.benchmark.latency.input_lengths or [128])
    prompt = synthetic_prompt_ids(engine.vocab_token_ids(), n_in, cfg.engine.seed)
    inference = MemoryBenchmark(s.measure_peak, s.gc_before_measure).measure_inference(
        engine, prompt, s.output_length, info)
    progress.advance()
    section = memory_section(load, inference)
    if not s.measure_kv_cache:
        section["kv_cache_gb"] = None
        section["missing"]["kv_cache_gb"] = "measure_kv_cache is off"
    return section


def _run_throughput(engine: Engine, cfg: Config, prompts: list[str], progress: Progress) -> dict | None:
    s = cfg.benchmark.throughput
    bench = ThroughputBenchmark(s.duration_seconds, s.tokens_per_request, s.min_requests,
                                cfg.benchmark.latency.ignore_eos, progress, slo=cfg.studies.slo,
                                sampling=cfg.benchmark.generation.request_kwargs())
    results = []
    progress.phase("throughput: single", None)
    results.append(bench.measure_single_request(engine, prompts))
    for n in s.concurrent_requests:
        progress.phase(f"throughput: {n} concurrent", None)
        results.append(bench.measure_concurrent(engine, prompts, n))
    for b in s.batch_sizes:
        progress.phase(f"throughput: batch {b}", None)
        results.append(bench.measure_batch(engine, prompts, b))
    section = throughput_section(results)
    if cfg.studies.slo:  # issue 12: goodput per phase
        section["goodput"] = [{"mode": r.mode, "level": r.level, **r.goodput.model_dump(mode="json")}
                              for r in results]
    return section


def _check_context(cfg: Config, tests: Sequence[str], info: ModelInfo) -> None:
    """Synthetic prompts plus their outputs must fit the model's context: say so before measuring."""
    lat, mem = cfg.benchmark.latency, cfg.benchmark.memory
    needs = []
    if "latency" in tests and lat.input_lengths and lat.output_lengths:
        needs.append(("benchmark.latency.input_lengths", max(lat.input_lengths), max(lat.output_lengths)))
    if "memory" in tests:
        needs.append(("benchmark.latency.input_lengths (the memory test's prompt)",
                      max(lat.input_lengths or [128]), mem.output_length))
    for key, n_in, n_out in needs:
        if info.max_context and n_in + n_out > info.max_context:
            raise ConfigError(f"{key}: {n_in} prompt + {n_out} output tokens exceed {info.name}'s context of "
                              f"{info.max_context} tokens")


def _config_that_ran(cfg: Config, model_name: str, tests: list[str], prompts: list[str]) -> dict[str, Any]:
    return {"model_name": model_name, "tests": tests, "engine": cfg.engine.model_dump(),
            "benchmark": cfg.benchmark.model_dump(), "prompts": prompts,
            "studies": cfg.studies.model_dump(mode="json"),  # issue 12
            "targets": cfg.targets[model_name].model_dump(exclude_none=True) if model_name in cfg.targets else None}


def run_benchmark(cfg: Config, model_name: str = DEFAULT_MODEL, tests: Sequence[str] = TEST_TYPES,
                  prompts: Sequence[str] | None = None, progress: Progress | None = None,
                  engine: Engine | None = None) -> dict[str, Any]:
    """Load the model in the configured engine, run the tests, return the report (not yet written)."""
    tests = _check_tests(tests)
    prompts = _prompts(cfg, prompts)
    progress = progress or NullProgress()
    engine_name = cfg.engine.name
    if engine is None:
        engine = engine_class(engine_name).from_config(model_name, cfg)
    sections: dict[str, dict | None] = {"latency": None, "memory": None, "throughput": None}
    try:
        progress.phase(f"loading {model_name} ({engine_name})", None)
        info, load = MemoryBenchmark(gc_before_measure=cfg.benchmark.memory.gc_before_measure
                                     ).measure_engine_load(engine, resolve_device(cfg.engine.device))
        _check_context(cfg, tests, info)
        if "memory" in tests:
            sections["memory"] = _run_memory(engine, cfg, info, load, progress)
        if "latency" in tests:
            sections["latency"] = _run_latency(engine, cfg, prompts, progress)
        if "throughput" in tests:
            sections["throughput"] = _run_throughput(engine, cfg, prompts, progress)
        from mm_orch.studies.hooks import run_studies  # issue 12: optional study sections

        studies = run_studies(engine, cfg, info, tests, progress)
        if sections["memory"] is not None and info.device == "cuda":
            snap = engine.memory_snapshot()
            sections["memory"]["run_peak_gb"] = snap.gpu_peak_allocated_gb
            sections["memory"]["nvml_process_gb"] = snap.gpu_process_gb
        engine_stats = engine.stats()
    except MmOrchError:
        raise
    except Exception as e:  # an engine bug or a device error: exit 3 naming the engine
        raise EngineError(engine_name, f"{type(e).__name__}: {e}") from e
    finally:
        engine.close()
    from mm_orch.monitor.system_info import collect_system_info

    report = assemble_report(
        model_name, engine_name, **sections, config=_config_that_ran(cfg, model_name, tests, prompts),
        system_info=collect_system_info() if cfg.benchmark.report.include_system_info else None,
        model_info=asdict(info), extra={"engine_stats": engine_stats})
    report.update(studies)  # issue 12: workload / accuracy / context_length sections
    report["validation"] = validate_targets(model_name, report, cfg.targets.get(model_name)).model_dump()
    return report
