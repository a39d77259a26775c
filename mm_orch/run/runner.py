"""run_benchmark(cfg, ...) -> Report: one measured run (the session in session.py adds repeat, write, gate)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mm_orch.benchmark.latency import LatencyBenchmark, LatencyResult
from mm_orch.benchmark.memory import MemoryBenchmark
from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.benchmark.prompts import grid_scenarios, synthetic_prompt_ids
from mm_orch.benchmark.sections import (
    assemble_report,
    latency_section,
    memory_section,
    model_info_section,
    throughput_section,
)
from mm_orch.benchmark.throughput import ThroughputBenchmark
from mm_orch.config import ALL_TEST_TYPES, TEST_TYPES, Config
from mm_orch.engines.base import Engine, ModelInfo, engine_class
from mm_orch.errors import BenchmarkInterrupted, ConfigError, EngineError, MmOrchError, PartialInterrupt
from mm_orch.load.requests_file import RequestLog
from mm_orch.models import DEFAULT_MODEL
from mm_orch.models.manager import resolve_device
from mm_orch.report.load import LoadResult
from mm_orch.report.model import LatencySection, MemoryFigure, MemorySection, Report, RunConfig, ThroughputSection
from mm_orch.run.preflight import check_loaded
from mm_orch.run.reference_samples import ReferenceTimer, samples_section
from mm_orch.run.slo_check import check_slo
from mm_orch.settings.studies import STUDY_TESTS
from mm_orch.telemetry.run import RunTelemetry, check_telemetry

log = logging.getLogger(__name__)


def _check_tests(tests: Sequence[str]) -> list[str]:
    known = ALL_TEST_TYPES + STUDY_TESTS
    bad = [t for t in tests if t not in known]
    if bad or not tests:
        raise ConfigError(f"unknown test type '{bad[0] if bad else ''}' (choose from {', '.join(known)})")
    return [t for t in known if t in tests]  # memory first: its peak window starts clean


def _prompts(cfg: Config, prompts: Sequence[str] | None) -> list[str]:
    out = list(prompts) if prompts else cfg.test_prompts.all()
    if not out:
        raise ConfigError("no prompts: test_prompts in the config is empty and no --prompts file was given")
    return out


def _run_latency(engine: Engine, cfg: Config, prompts: list[str], progress: Progress, cpu_figures: bool = False
                 ) -> tuple[LatencySection, LatencyResult]:
    """The section, and the headline result (the throughput test may reuse its requests); the headline keeps
    its per-request samples (with CPU figures where the engine works in this process on the CPU)."""
    s = cfg.benchmark.latency
    bench = LatencyBenchmark(s.warmup_runs, s.test_runs, s.ignore_eos, progress,
                             sampling=cfg.benchmark.generation.request_kwargs(), warmup_tokens=s.warmup_tokens,
                             cpu_figures=cpu_figures)
    scenarios = grid_scenarios(engine, s.input_lengths, s.output_lengths, cfg.engine.seed)
    progress.phase("latency", bench.steps(len(prompts)) + len(scenarios) * bench.steps(1))
    headline = bench.run(engine, prompts, s.output_length, samples=True)
    results = [(sc, bench.run(engine, sc.prompts, sc.output_length, warm_engine=True)) for sc in scenarios]
    return latency_section(headline, results), headline


REMOTE_MEMORY = "the model's memory is held by the server process; this client cannot see it"


def _run_memory(engine: Engine, cfg: Config, info: ModelInfo, load, progress: Progress) -> MemorySection | None:
    s = cfg.benchmark.memory
    progress.phase("memory", 1)
    if info.device == "remote":  # the openai engine: this process's RSS is the client's, not the model's
        progress.advance()
        gone = MemoryFigure(value_gb=None, reason=REMOTE_MEMORY)
        return MemorySection(model_load=gone, inference_delta=gone, peak=gone, kv_cache=gone)
    n_in = max(cfg.benchmark.latency.input_lengths or [128])
    prompt = synthetic_prompt_ids(engine.vocab_token_ids(), n_in, cfg.engine.seed)
    inference = MemoryBenchmark(s.measure_peak, s.gc_before_measure).measure_inference(
        engine, prompt, s.output_length, info)
    progress.advance()
    section = memory_section(load, inference)
    if not s.measure_kv_cache:
        section.kv_cache = MemoryFigure(value_gb=None, reason="measure_kv_cache is off")
    return section


def _single_is_latency_headline(cfg: Config, headline: LatencyResult | None) -> bool:
    """The single-request phase would repeat the latency headline's work: same prompts, output length and
    sampling, one request at a time (goodput needs per-request SLO checks, so an SLO runs it anyway)."""
    s, lat = cfg.benchmark.throughput, cfg.benchmark.latency
    return (headline is not None and headline.metrics.completed >= s.min_requests and not s.input_length
            and s.tokens_per_request == lat.output_length and cfg.studies.slo is None)


def _run_throughput(engine: Engine, cfg: Config, prompts: list[str], progress: Progress,
                    headline: LatencyResult | None = None) -> ThroughputSection | None:
    s = cfg.benchmark.throughput
    bench = ThroughputBenchmark(s.duration_seconds, s.tokens_per_request, s.min_requests,
                                cfg.benchmark.latency.ignore_eos, progress, slo=cfg.studies.slo,
                                sampling=cfg.benchmark.generation.request_kwargs())
    if s.input_length:  # the lengths the config asks for, not the text prompts
        vocab = engine.vocab_token_ids()
        prompts = [synthetic_prompt_ids(vocab, s.input_length, cfg.engine.seed + i) for i in range(8)]
    if _single_is_latency_headline(cfg, headline):
        results = [bench.single_from_latency(headline.metrics)]
    else:
        progress.phase("throughput: single", None)
        results = [bench.measure_single_request(engine, prompts)]
    for n in s.concurrent_requests:
        progress.phase(f"throughput: {n} concurrent", None)
        results.append(bench.measure_concurrent(engine, prompts, n))
    for b in s.batch_sizes:
        progress.phase(f"throughput: batch {b}", None)
        results.append(bench.measure_batch(engine, prompts, b))
    return throughput_section(results)


def _run_load(engine: Engine, cfg: Config, prompts: list[str], progress: Progress, requests: Any = None
              ) -> dict[str, Any]:
    """The open-loop test in its mode ({section name: result}): one schedule (or a trace), the saturation curve or
    the max-rate search. The SLO (studies.slo) goes to every mode; requests (a RequestLog) keeps every request
    for --save-requests, the ended ones of an interrupted run too."""
    from mm_orch.load.async_client import keep_finished
    from mm_orch.load.interrupted import interrupted_result

    with keep_finished(getattr(requests, "schedule_started", None)) as done:  # telemetry hears each start
        try:
            return _load_sections(engine, cfg, prompts, progress, requests)
        except KeyboardInterrupt:  # Ctrl-C: the requests that ended are a section too, marked incomplete
            if requests is not None and done.records and done.t0 is not None:
                requests.add("interrupted", done.records, done.t0)
            load = cfg.benchmark.load
            if getattr(load, "saturation", False) or getattr(load, "max_rate_at_slo", False):
                raise  # one run of many: its requests say nothing of the curve or the search
            partial = interrupted_result(engine, load, done)
            if partial is None:
                raise
            raise PartialInterrupt(partial) from None


def _load_sections(engine: Engine, cfg: Config, prompts: list[str], progress: Progress, requests: Any
                   ) -> dict[str, Any]:
    load = cfg.benchmark.load
    args = (engine, load, prompts, progress, cfg.benchmark.latency.ignore_eos)
    if load.saturation:  # --request-rate sweep
        from mm_orch.load.saturation import run_saturation

        burst, curve = run_saturation(*args, slo=cfg.studies.slo, request_log=requests)
        return {"load": burst, "saturation": curve}
    if load.max_rate_at_slo:  # --request-rate max-slo
        from mm_orch.load.max_rate import run_max_rate

        burst, search = run_max_rate(*args, slo=cfg.studies.slo, request_log=requests)
        return {"load": burst, "max_rate_at_slo": search}
    from mm_orch.load.dispatch import run_load

    return {"load": run_load(*args, slo=cfg.studies.slo, request_log=requests)}


def run_config(cfg: Config, model_name: str, tests: Sequence[str], prompts: Sequence[str] | None) -> RunConfig:
    """What a run of these settings measures (recorded in the report; compared by the baseline gate)."""
    tests = _check_tests(tests)
    studies = cfg.studies if set(tests) & set(STUDY_TESTS) or cfg.studies.slo else None  # only when they ran
    return RunConfig(model_name=model_name, tests=tests, engine=cfg.engine.running(), benchmark=cfg.benchmark,
                     prompts=_prompts(cfg, prompts), targets=cfg.targets.get(model_name), studies=studies)


def _run_studies(engine: Engine, cfg: Config, info: ModelInfo, tests: Sequence[str], progress: Progress,
                 sections: dict[str, Any]) -> None:
    """Each study test fills its typed section, in turn (so Ctrl-C keeps the ones that finished)."""
    from mm_orch.run.study_tests import STUDY_RUNNERS

    for name in STUDY_TESTS:
        if name in tests:
            sections[name] = STUDY_RUNNERS[name](engine, cfg, info, progress)
            log.info("test %s finished", name)


def _cuda_figures(engine: Engine, memory: MemorySection) -> None:
    snap = engine.memory_snapshot()
    memory.run_peak = MemoryFigure(value_gb=snap.gpu_peak_allocated_gb, source="torch.cuda.max_memory_allocated",
                                   reason=None if snap.gpu_peak_allocated_gb is not None else "no allocator reading")
    memory.nvml_process = MemoryFigure(value_gb=snap.gpu_process_gb, source="NVML (this process)",
                                       reason=None if snap.gpu_process_gb is not None else "; ".join(snap.notes)
                                       or "NVML gave no reading")


def run_benchmark(cfg: Config, model_name: str = DEFAULT_MODEL, tests: Sequence[str] = TEST_TYPES,
                  prompts: Sequence[str] | None = None, progress: Progress | None = None,
                  engine: Engine | None = None) -> Report:
    """Load the model in the configured engine, run the tests, return the report (not written, targets not
    checked: session.run_session does both, once, also over --repeat runs)."""
    from mm_orch.monitor.system_info import load_sample

    tests = _check_tests(tests)
    check_slo(cfg, tests)  # --slo (and --slo-percentile) honoured by a test of this run, or refused
    check_telemetry(cfg)  # --server-metrics where the engine names no server needs a URL
    prompts = _prompts(cfg, prompts)
    progress = progress or NullProgress()
    engine_name = cfg.engine.name
    requests = RequestLog() if cfg.benchmark.report.save_requests else None
    if engine is None:
        engine = engine_class(engine_name).from_config(model_name, cfg)
    load_before = load_sample()
    tele: RunTelemetry | None = None  # server metrics, GPU telemetry, the timeline: only what is asked for
    load_log = requests
    sections: dict[str, Any] = dict.fromkeys(ALL_TEST_TYPES + STUDY_TESTS)
    headline: LatencyResult | None = None
    timer = ReferenceTimer()  # the machine-speed reference, before, between and after the tests
    try:
        progress.phase(f"loading {model_name} ({engine_name})", None)
        info, load = MemoryBenchmark(gc_before_measure=cfg.benchmark.memory.gc_before_measure
                                     ).measure_engine_load(engine, resolve_device(cfg.engine.device))
        check_loaded(cfg, tests, prompts, engine, info)
        tele = RunTelemetry.start(cfg, engine, info)
        if tele is not None:  # each progress phase is a telemetry phase; each open-loop run reports its window
            progress, load_log = tele.progress(progress), tele.request_log(requests)
        timer.before()
        if "memory" in tests:
            sections["memory"] = _run_memory(engine, cfg, info, load, progress)
            log.info("test memory finished")
            timer.after_test("memory")
        if "latency" in tests:
            sections["latency"], headline = _run_latency(engine, cfg, prompts, progress, info.device == "cpu")
            log.info("test latency finished")
            timer.after_test("latency")
        if "throughput" in tests:
            sections["throughput"] = _run_throughput(engine, cfg, prompts, progress, headline)
        if "load" in tests:
            sections |= _run_load(engine, cfg, prompts, progress, load_log)
        _run_studies(engine, cfg, info, tests, progress, sections)  # workload, accuracy, context length
        if sections["memory"] is not None and info.device == "cuda":
            _cuda_figures(engine, sections["memory"])
        engine_stats = engine.stats()
        timer.after()
    except MmOrchError:
        raise
    except KeyboardInterrupt as e:  # Ctrl-C: keep the tests that finished (and the load test's ended requests)
        if isinstance(e, PartialInterrupt) and isinstance(e.section, LoadResult) and sections["load"] is None:
            sections["load"] = e.section
        finished = [t for t in tests if sections[t] is not None]
        partial = None
        if finished:
            partial = _report(cfg, model_name, tests, prompts, sections, info, {}, load_before)
            partial.incomplete = True
            partial.finished_tests = finished
            partial.missing_tests = [t for t in tests if t not in finished]
            partial.set_requests(requests)
        said = [f"{t} (incomplete: {sections[t].metrics.completed + sections[t].metrics.failed} requests ended)"
                if t == "load" and getattr(sections[t], "incomplete", False) else t for t in finished]
        raise BenchmarkInterrupted(partial, said, [t for t in tests if t not in finished]) from None
    except Exception as e:  # an engine bug or a device error: exit 3 naming the engine
        raise EngineError(engine_name, f"{type(e).__name__}: {e}") from e
    finally:
        if tele is not None:
            tele.stop()
        engine.close()
    report = _report(cfg, model_name, tests, prompts, sections, info, engine_stats, load_before)
    if tele is not None:
        tele.attach(report)
    report.set_requests(requests)
    report.samples = samples_section(headline.samples if headline else None, timer)
    return report


def _report(cfg: Config, model_name: str, tests: list[str], prompts: list[str], sections: dict[str, Any],
            info: ModelInfo, engine_stats: dict[str, Any], load_before: Any) -> Report:
    from mm_orch.monitor.system_info import collect_system_info

    system_info = collect_system_info(load_before) if cfg.benchmark.report.include_system_info else None
    return assemble_report(model_name, cfg.engine.name, **sections, config=run_config(cfg, model_name, tests, prompts),
                           system_info=system_info, model_info=model_info_section(info), engine_stats=engine_stats,
                           label=cfg.benchmark.report.label)
