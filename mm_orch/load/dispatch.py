"""Runs the open-loop `load` test: the schedule says when, the client sends and timestamps.

Three ways, by what the engine's plug-in says it can do (capabilities.load_mode):
- async_http (the openai engine): requests go out from an asyncio loop through the async client; with
  workers > 1, from several processes, each with its own loop, dealt round-robin from one schedule.
- threads (in-process engines that serve concurrent streams, e.g. vllm): each request's engine.stream()
  runs on a thread started at its due time.
- serialized (engines that serve one request at a time: hf, dual): requests run one by one in arrival
  order on this thread; one that arrives while the engine is busy waits, and that wait is reported.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mm_orch.benchmark.progress import NullProgress, Progress, observer
from mm_orch.benchmark.prompts import Prompt, make_request, synthetic_prompt_ids
from mm_orch.engines.base import Engine, GenerationRequest, now_ns
from mm_orch.engines.registry import capabilities
from mm_orch.errors import ConfigError
from mm_orch.load.async_client import (
    connections_needed,
    cpu_seconds,
    dispatch_async,
    event_loop_name,
    finished_sink,
    frozen_heap,
    run_loop,
    warmup_async,
)
from mm_orch.load.calibration import load_cached
from mm_orch.load.results import LoadRecord, summarize_load
from mm_orch.load.schedule import arrival_offsets_ns, schedule_rate
from mm_orch.load.steady import check_schedule, split
from mm_orch.report.load import Calibration, ClientCpu, LoadResult
from mm_orch.settings.schedule import ScheduleSpec
from mm_orch.settings.slo import SLO

log = logging.getLogger(__name__)
START_LEAD_NS = 20_000_000  # the schedule starts this long after everything is ready


def build_requests(engine: Engine, settings: Any, prompts: Sequence[Prompt], n: int,
                   ignore_eos: bool = True) -> tuple[list[GenerationRequest], str]:
    """One request per scheduled slot, from the prompts the config asks for; (requests, description)."""
    if settings.input_length:
        vocab = engine.vocab_token_ids()
        reqs = [make_request(synthetic_prompt_ids(vocab, settings.input_length, settings.seed + i),
                             settings.output_length, ignore_eos) for i in range(n)]
        return reqs, f"synthetic: {n} distinct prompts of exactly {settings.input_length} tokens"
    if not prompts:
        raise ConfigError("the load test needs prompts: set benchmark.load.input_length or test_prompts")
    reqs = [make_request(prompts[i % len(prompts)], settings.output_length, ignore_eos) for i in range(n)]
    return reqs, f"text: the config's {len(prompts)} prompt(s), cycled"


def _run_async_here(engine, reqs, offsets, cap, warmup, progress, watch=None) -> tuple[list[LoadRecord], int, float]:
    from mm_orch.engines.openai.client import AsyncOpenAIClient

    async def go():
        client = AsyncOpenAIClient(engine.settings, engine.tokenizer)
        try:
            bodies = [client.body(r) for r in reqs]
            await warmup_async(client, reqs, warmup, connections_needed(offsets, cap))
            with frozen_heap():
                t0 = now_ns() + START_LEAD_NS
                c0 = cpu_seconds()
                recs = await dispatch_async(client, reqs, bodies, range(len(reqs)), [t0 + o for o in offsets],
                                            cap, _ticker(progress), watch)
                return recs, t0, cpu_seconds() - c0
        finally:
            client.close()

    return run_loop(go())


# -- threads and serialized -------------------------------------------------------------------------
def _run_threads(engine, reqs, offsets, cap, warmup, progress, watch=None) -> tuple[list[LoadRecord], int, float]:
    for i in range(warmup):
        engine.stream(reqs[i % len(reqs)])
    pool = ThreadPoolExecutor(max_workers=cap or min(len(reqs), 1024), thread_name_prefix="load")

    class _Threaded:  # the async dispatcher's client interface over a blocking engine.stream
        @staticmethod
        async def stream(req, _body, _fut=None, on_end=None):
            from mm_orch.engines.openai.client import Streamed

            try:
                rec = await asyncio.get_running_loop().run_in_executor(pool, engine.stream, req)
            finally:
                if on_end is not None:
                    on_end()
            return Streamed(rec, 0, "engine")

    async def go():
        t0 = now_ns() + START_LEAD_NS
        c0 = cpu_seconds()
        recs = await dispatch_async(_Threaded, reqs, [b""] * len(reqs), range(len(reqs)),
                                    [t0 + o for o in offsets], cap, _ticker(progress), watch)
        return recs, t0, cpu_seconds() - c0

    try:
        return asyncio.run(go())
    finally:
        pool.shutdown(wait=True)


def _run_serialized(engine, reqs, offsets, warmup, progress, watch=None) -> tuple[list[LoadRecord], int, float]:
    import time

    for i in range(warmup):
        engine.stream(reqs[i % len(reqs)])
    t0 = now_ns() + START_LEAD_NS
    c0 = cpu_seconds()
    out = finished_sink(t0, c0)  # Ctrl-C (keep_finished) keeps the requests that ended
    for i, (req, off) in enumerate(zip(reqs, offsets, strict=True)):
        due = t0 + off
        wait = (due - now_ns()) / 1e9
        if wait > 0:
            time.sleep(wait)
        if watch is not None and watch.stop(due):
            break
        slot = max(due, now_ns())  # the engine was busy until now: the request waited from due to here
        out.append(LoadRecord(i, due, slot, engine.stream(req), 0, "engine"))
        if watch is not None:
            watch.ended(due, out[-1].record.end_ns)
        rec = out[-1].record
        _ticker(progress)(due, rec.token_times_ns[0] if rec.token_times_ns else None, rec.success)
    return out, t0, cpu_seconds() - c0


def _ticker(progress: Progress):
    """The per-request callback of a run: advance the bar, and hand the live view TTFT from arrival."""
    observe = observer(progress)

    def tick(due_ns: int, first_ns: int | None, ok: bool) -> None:
        progress.advance()
        if observe is not None:
            observe((first_ns - due_ns) / 1e6 if first_ns is not None else None, ok)
    return tick


# -- entry ------------------------------------------------------------------------------------------
def _workers(settings: Any, cal: Calibration | None, is_http: bool) -> int:
    if not is_http:
        return 1
    if settings.workers:
        return settings.workers
    rate = settings.request_rate
    if cal is None or not cal.max_rate_rps or math.isinf(rate) or rate <= cal.max_rate_rps:
        return 1
    return max(1, min(os.cpu_count() or 1, math.ceil(rate / cal.max_rate_rps)))


def run_load(engine: Engine, settings: Any, prompts: Sequence[Prompt], progress: Progress | None = None,
             ignore_eos: bool = True, calibration: tuple[Calibration | None, str] | None = None,
             keep: list[LoadRecord] | None = None, slo: SLO | None = None, watch: Any = None,
             phase: str | None = None, request_log: Any = None) -> LoadResult:
    """The open-loop test on a loaded engine; settings is a config.LoadSettings. keep, if given, gets the raw
    records of every request sent (the saturation curve and the max-rate search judge them); slo adds goodput
    over the steady window (TTFT and E2E from arrival); watch (load/queue_watch.QueueWatch) may stop an
    over-capacity schedule at half time; request_log (load/requests_file.RequestLog) keeps every request for
    --save-requests, under `phase`."""
    progress = progress or NullProgress()
    spec = ScheduleSpec(**settings.model_dump(include=set(ScheduleSpec.model_fields)))
    trace = None
    if settings.trace is not None:  # the trace's times and lengths replace the drawn schedule
        from mm_orch.load.trace_replay import read, requests_for

        trace = read(settings.trace)
        offsets = trace.offsets_ns
        reqs, described = requests_for(trace, engine, settings.seed, ignore_eos)
    else:
        offsets = arrival_offsets_ns(spec)
        if not offsets:
            raise ConfigError("the load schedule is empty: raise duration_seconds or num_requests")
        reqs, described = build_requests(engine, settings, prompts, len(offsets), ignore_eos)
    check_schedule(offsets, settings.steady)
    cal, cal_note = calibration or load_cached()
    mode = capabilities(engine.name).load_mode(engine)
    is_http = mode == "async_http"
    workers = _workers(settings, cal, is_http)
    cap, warmup = settings.max_concurrency, settings.warmup_requests
    progress.phase(f"{phase or 'load'}: {len(offsets)} requests", len(offsets))
    note = None
    if is_http and workers > 1:
        from mm_orch.load.workers import run_in_workers

        recs, t0, cpu = run_in_workers(engine.settings, engine.tokenizer_name if engine.tokenizer else None,
                                       engine.user_models, reqs, offsets, cap, warmup, workers)
        note = f"{workers} client processes, one {event_loop_name()} loop each" + (
            "; the concurrency cap is split evenly between them" if cap else "")
        watch = None  # the workers send on their own: no early stop
    elif is_http:
        recs, t0, cpu = _run_async_here(engine, reqs, offsets, cap, warmup, progress, watch)
        note = f"one {event_loop_name()} event loop"
    elif mode == "threads":
        recs, t0, cpu = _run_threads(engine, reqs, offsets, cap, warmup, progress, watch)
        note = "in-process engine: client CPU includes the engine's work"
    else:
        recs, t0, cpu = _run_serialized(engine, reqs, offsets, warmup, progress, watch)
        note = (f"engine '{engine.name}' serves one request at a time: requests wait in arrival order (client_queue_ms"
                "), and *_from_arrival include that wait; the concurrency cap does not apply")
    if keep is not None:
        keep.extend(recs)
    counted, window = split(recs, settings.steady)
    if request_log is not None:
        request_log.add(phase or "load", recs, t0, {r.index for r in counted})
    start = min(r.due_ns for r in counted) if window is not None and counted else t0
    fields = summarize_load(counted, start)
    if window is not None:  # the rate offered is the whole schedule's, not the window's
        fields["schedule_rate_rps"] = schedule_rate(sorted(r.due_ns for r in recs))
    fields["token_counting"].tokenizer = getattr(engine, "tokenizer_note", None)
    wall = fields["metrics"].wall_time_s
    good = None
    if slo is not None:
        from mm_orch.benchmark.goodput import goodput_at
        from mm_orch.load.results import from_arrival

        good = goodput_at(from_arrival(counted), wall, slo, settings.slo_percentile)
    replay = None
    if trace is not None:
        from mm_orch.load.trace_replay import replay_section

        replay = replay_section(trace, described, recs, t0)
    return LoadResult(
        engine=engine.name, mode=mode, note=note, schedule=spec, max_concurrency=cap, warmup_requests=warmup,
        workers=workers, prompts=described, output_length=settings.output_length,
        requested_rate_rps=None if math.isinf(spec.request_rate) or trace is not None else spec.request_rate,
        client_cpu=ClientCpu(cpu_seconds=cpu, wall_seconds=wall, cores_busy=cpu / wall if wall > 0 else 0.0,
                             per_1000_requests_s=cpu / len(recs) * 1000 if recs else None,
                             processes=workers + (1 if workers > 1 else 0), includes_engine=not is_http,
                             load_average=[round(x, 2) for x in os.getloadavg()]),
        calibration=cal, calibration_note=cal_note, goodput=good, steady=window, trace=replay,
        stopped_early=watch.reason if watch is not None else None, scheduled=len(offsets), **fields)
