"""Runs the open-loop `load` test: the schedule says when, the client sends and timestamps.

Three ways, by what the engine can do:
- async_http (the openai engine): requests go out from an asyncio loop through the async client; with
  workers > 1, from several processes, each with its own loop, dealt round-robin from one schedule.
- threads (in-process engines that serve concurrent streams, e.g. vllm): each request's engine.stream()
  runs on a thread started at its due time.
- serialized (engines that serve one request at a time: hf, dual): requests run one by one in arrival
  order on this thread; one that arrives while the engine is busy waits, and that wait is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import resource
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mm_orch.benchmark.calibration import Calibration, load_cached
from mm_orch.benchmark.load import ClientCpu, LoadRecord, LoadResult, summarize_load
from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.benchmark.schedule import ScheduleSpec, arrival_offsets_ns
from mm_orch.benchmark.workloads import Prompt, make_request, synthetic_prompt_ids
from mm_orch.engines.base import Engine, GenerationRequest, now_ns
from mm_orch.errors import ConfigError

log = logging.getLogger(__name__)
START_LEAD_NS = 20_000_000
# Responses are decoded after the measured phase while fewer events than this wait (~100 bytes each); past
# it, each as it ends. Decoding a wave of 256 streams as they end took ~40 ms of the loop at c=256 (2 cores),
# and every stream still open waited that long for its next read.
DECODE_BACKLOG_EVENTS = 1_000_000  # the schedule starts this long after everything is ready


def run_loop(coro):
    """asyncio.run on uvloop where installed (cheaper per read: less client-added latency), else asyncio's."""
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    except ImportError:
        return asyncio.run(coro)


def event_loop_name() -> str:
    try:
        import uvloop  # noqa: F401

        return "uvloop"
    except ImportError:
        return "asyncio"


@contextlib.contextmanager
def frozen_heap():
    """The measured phase with the heap as it is frozen out of garbage collection (gc.freeze): a client
    that has imported transformers holds millions of objects, and one full collection of them stalled the
    loop for ~0.4 s at c=256 on the 2-core machine (every stream's next read waited). Young collections of
    what the run itself allocates still happen."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


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


# -- async_http -------------------------------------------------------------------------------------
async def dispatch_async(client, reqs: Sequence[GenerationRequest], bodies: Sequence[bytes],
                         indices: Sequence[int], dues: Sequence[int], cap: int | None,
                         advance=None) -> list[LoadRecord]:
    """Sends reqs[k] at dues[k] (absolute ns) through the client; at most cap in flight.

    Under the cap, due requests wait in order for a slot. A slot is handed over inside the read of the last
    byte of the request that frees it (client.begin writes the next request there, when the client has
    it), before anything is decoded: otherwise a burst of completions (a closed loop's wave) sends its
    successors only after decoding all of them, and the loop runs below its true rate. Responses are
    decoded (client.finish) once all have ended, up to DECODE_BACKLOG_EVENTS; the caller's CPU figure
    includes that work."""
    loop = asyncio.get_running_loop()
    out: list[LoadRecord] = []
    waiting: deque[tuple[int, int]] = deque()  # (k, due): due, held by the cap
    inflight = 0
    tasks: set[asyncio.Task] = set()
    all_done = loop.create_future()
    begin = getattr(client, "begin", None)
    fetch = getattr(client, "fetch", client.stream)  # fetch + finish: the raw response, decoded later
    finish = getattr(client, "finish", lambda x: x)
    raw: list = []  # (k, due, slot, fetched) not decoded yet
    backlog = 0  # their events

    def launch(k: int, due: int, slot: int) -> None:
        nonlocal inflight
        inflight += 1
        freed = False

        def release() -> None:  # once per request, when its exchange is over
            nonlocal inflight, freed
            if freed:
                return
            freed = True
            inflight -= 1
            if waiting:
                k2, due2 = waiting.popleft()
                launch(k2, due2, max(due2, now_ns()))  # slot = when the cap let it go

        fut = begin(bodies[k], release) if begin is not None else None
        task = loop.create_task(one(k, due, slot, fut, release))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def one(k: int, due: int, slot: int, fut, release) -> None:
        nonlocal backlog
        try:
            x = await fetch(reqs[k], bodies[k], fut, release)
            n_events = len(x.res.payloads) if hasattr(x, "res") else 0
            if backlog + n_events <= DECODE_BACKLOG_EVENTS:
                raw.append((k, due, slot, x))
                backlog += n_events
            else:
                s = finish(x)
                out.append(LoadRecord(indices[k], due, slot, s.record, s.events, s.count_source))
            if advance is not None:
                advance()
        except Exception as e:  # a bug, not a failed request (those are records): end the run with it
            if not all_done.done():
                all_done.set_exception(e)
            return
        if len(out) + len(raw) == len(dues) and not all_done.done():
            all_done.set_result(None)

    try:
        for k, due in enumerate(dues):
            while (delay := due - now_ns()) > 0:  # timers may fire up to a millisecond early: never send early
                await asyncio.sleep(delay / 1e9)
            if cap is None or (inflight < cap and not waiting):
                launch(k, due, due)
            else:
                waiting.append((k, due))
        if dues:
            await all_done
    finally:
        for t in list(tasks):
            t.cancel()
    for k, due, slot, x in raw:
        s = finish(x)
        out.append(LoadRecord(indices[k], due, slot, s.record, s.events, s.count_source))
    return out


async def _warmup_async(client, reqs: Sequence[GenerationRequest], n: int, connections: int = 0) -> None:
    """Warm-up requests, then open the connections the run will need: a TCP handshake is not server time."""
    for i in range(n):
        s = await client.stream(reqs[i % len(reqs)])
        if not s.record.success:
            log.warning("warm-up request failed: %s", s.record.error)
    if connections:
        await client.http.open(connections)


def connections_needed(offsets: Sequence[int], cap: int | None, workers: int = 1) -> int:
    """Connections to open before the run: the cap, else the arrivals of the first 2 s (a guess at the
    requests in flight), at most 1024 per process."""
    first = sum(1 for o in offsets if o < 2_000_000_000)
    return max(1, min(1024, math.ceil(min(cap or first, len(offsets)) / workers)))


def _run_async_here(engine, reqs, offsets, cap, warmup, progress) -> tuple[list[LoadRecord], int, float]:
    from mm_orch.engines.openai_client import AsyncOpenAIClient

    async def go():
        client = AsyncOpenAIClient(engine.settings, engine.tokenizer)
        try:
            bodies = [client.body(r) for r in reqs]
            await _warmup_async(client, reqs, warmup, connections_needed(offsets, cap))
            with frozen_heap():
                t0 = now_ns() + START_LEAD_NS
                c0 = cpu_seconds()
                recs = await dispatch_async(client, reqs, bodies, range(len(reqs)), [t0 + o for o in offsets],
                                            cap, progress.advance)
                return recs, t0, cpu_seconds() - c0
        finally:
            client.close()

    return run_loop(go())


# -- threads and serialized -------------------------------------------------------------------------
def _run_threads(engine, reqs, offsets, cap, warmup, progress) -> tuple[list[LoadRecord], int, float]:
    for i in range(warmup):
        engine.stream(reqs[i % len(reqs)])
    pool = ThreadPoolExecutor(max_workers=cap or min(len(reqs), 1024), thread_name_prefix="load")

    class _Threaded:  # the async dispatcher's client interface over a blocking engine.stream
        @staticmethod
        async def stream(req, _body, _fut=None, on_end=None):
            from mm_orch.engines.openai_client import Streamed

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
                                    [t0 + o for o in offsets], cap, progress.advance)
        return recs, t0, cpu_seconds() - c0

    try:
        return asyncio.run(go())
    finally:
        pool.shutdown(wait=True)


def _run_serialized(engine, reqs, offsets, warmup, progress) -> tuple[list[LoadRecord], int, float]:
    import time

    for i in range(warmup):
        engine.stream(reqs[i % len(reqs)])
    t0 = now_ns() + START_LEAD_NS
    c0 = cpu_seconds()
    out = []
    for i, (req, off) in enumerate(zip(reqs, offsets, strict=True)):
        due = t0 + off
        wait = (due - now_ns()) / 1e9
        if wait > 0:
            time.sleep(wait)
        slot = max(due, now_ns())  # the engine was busy until now: the request waited from due to here
        out.append(LoadRecord(i, due, slot, engine.stream(req), 0, "engine"))
        progress.advance()
    return out, t0, cpu_seconds() - c0


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
             keep: list[LoadRecord] | None = None) -> LoadResult:
    """The open-loop test on a loaded engine; settings is a config.LoadSettings. keep, if given, gets the raw
    records (the saturation study computes goodput from them)."""
    progress = progress or NullProgress()
    spec = ScheduleSpec(**settings.model_dump(include=set(ScheduleSpec.model_fields)))
    offsets = arrival_offsets_ns(spec)
    if not offsets:
        raise ConfigError("the load schedule is empty: raise duration_seconds or num_requests")
    reqs, described = build_requests(engine, settings, prompts, len(offsets), ignore_eos)
    cal, cal_note = calibration or load_cached()
    is_http = hasattr(engine, "settings") and engine.name == "openai"
    workers = _workers(settings, cal, is_http)
    cap, warmup = settings.max_concurrency, settings.warmup_requests
    progress.phase(f"load: {len(offsets)} requests", len(offsets))
    note = None
    if is_http and workers > 1:
        from mm_orch.benchmark.load_workers import run_in_workers

        recs, t0, cpu = run_in_workers(engine.settings, engine.tokenizer_name if engine.tokenizer else None,
                                       engine.user_models, reqs, offsets, cap, warmup, workers)
        mode = "async_http"
        note = f"{workers} client processes, one {event_loop_name()} loop each" + (
            "; the concurrency cap is split evenly between them" if cap else "")
    elif is_http:
        recs, t0, cpu = _run_async_here(engine, reqs, offsets, cap, warmup, progress)
        mode = "async_http"
        note = f"one {event_loop_name()} event loop"
    elif engine.supports_concurrency:
        recs, t0, cpu = _run_threads(engine, reqs, offsets, cap, warmup, progress)
        mode, note = "threads", "in-process engine: client CPU includes the engine's work"
    else:
        recs, t0, cpu = _run_serialized(engine, reqs, offsets, warmup, progress)
        mode = "serialized"
        note = (f"engine '{engine.name}' serves one request at a time: requests wait in arrival order (client_queue_ms"
                "), and *_from_arrival include that wait; the concurrency cap does not apply")
    if keep is not None:
        keep.extend(recs)
    fields = summarize_load(recs, t0)
    fields["token_counting"].tokenizer = getattr(engine, "tokenizer_note", None)
    wall = fields["metrics"].wall_time_s
    return LoadResult(
        engine=engine.name, mode=mode, note=note, schedule=spec, max_concurrency=cap, warmup_requests=warmup,
        workers=workers, prompts=described, output_length=settings.output_length,
        requested_rate_rps=None if math.isinf(spec.request_rate) else spec.request_rate,
        client_cpu=ClientCpu(cpu_seconds=cpu, wall_seconds=wall, cores_busy=cpu / wall if wall > 0 else 0.0,
                             per_1000_requests_s=cpu / len(recs) * 1000 if recs else None,
                             processes=workers + (1 if workers > 1 else 0), includes_engine=not is_http,
                             load_average=[round(x, 2) for x in os.getloadavg()]),
        calibration=cal, calibration_note=cal_note, **fields)
