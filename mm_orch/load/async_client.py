"""The async client's loop: send each request at its due time, time every token, on one event loop.

Shared by the load test in this process (dispatch.py) and its worker processes (workers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import math
import resource
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from mm_orch.engines.base import GenerationRequest, now_ns
from mm_orch.load.results import LoadRecord

log = logging.getLogger(__name__)

# Responses are decoded after the measured phase while fewer events than this wait (~100 bytes each); past
# it, each as it ends. Decoding a wave of 256 streams as they end took ~40 ms of the loop at c=256 (2 cores),
# and every stream still open waited that long for its next read.
DECODE_BACKLOG_EVENTS = 1_000_000


@dataclass(slots=True)
class Finished:
    """The requests of a run that had ended when it was interrupted (Ctrl-C), and when the run started."""

    records: list[LoadRecord] = field(default_factory=list)
    t0: int | None = None
    cpu0: float = 0.0
    on_start: Callable[[int], None] | None = None  # hears each schedule's start (telemetry: a server scrape)

    def started(self, t0: int, cpu0: float) -> None:
        self.t0, self.cpu0 = t0, cpu0
        if self.on_start is not None:
            self.on_start(t0)


_FINISHED: contextvars.ContextVar[Finished | None] = contextvars.ContextVar("mm_orch_load_finished", default=None)


@contextlib.contextmanager
def keep_finished(on_start: Callable[[int], None] | None = None) -> Iterator[Finished]:
    """Within this block, a run of this thread (dispatch_async, or the serialized loop) that is interrupted
    leaves the records of its ended requests in the Finished it yields: Ctrl-C keeps what was measured.
    on_start(t0) hears each schedule start, once its warm-up is over (it must not block: the run is starting)."""
    done = Finished(on_start=on_start)
    token = _FINISHED.set(done)
    try:
        yield done
    finally:
        _FINISHED.reset(token)


def finished_sink(t0: int, cpu0: float) -> list[LoadRecord]:
    """The list a run appends its records to as they end: keep_finished's when one is open (started at t0)."""
    done = _FINISHED.get()
    if done is None:
        return []
    done.started(t0, cpu0)
    return done.records


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


# -- async_http -------------------------------------------------------------------------------------
async def dispatch_async(client, reqs: Sequence[GenerationRequest], bodies: Sequence[bytes],
                         indices: Sequence[int], dues: Sequence[int], cap: int | None,
                         advance=None, watch=None) -> list[LoadRecord]:
    """Sends reqs[k] at dues[k] (absolute ns) through the client; at most cap in flight.

    Under the cap, due requests wait in order for a slot. A slot is handed over inside the read of the last
    byte of the request that frees it (client.begin writes the next request there, when the client has
    it), before anything is decoded: otherwise a burst of completions (a closed loop's wave) sends its
    successors only after decoding all of them, and the loop runs below its true rate. Responses are
    decoded (client.finish) once all have ended, up to DECODE_BACKLOG_EVENTS; the caller's CPU figure
    includes that work.

    watch (optional): watch.ended(due, end) hears of each request as it ends, and watch.stop(due) is asked before
    each send; when it says stop, the requests due from there on are not sent (a probe over capacity), and the
    run ends once those already sent (or held by the cap) have ended."""
    loop = asyncio.get_running_loop()
    out: list[LoadRecord] = []
    sink = _FINISHED.get()  # keep_finished: Ctrl-C leaves the ended requests' records there
    if sink is not None and dues:
        sink.started(min(dues), cpu_seconds())
    waiting: deque[tuple[int, int]] = deque()  # (k, due): due, held by the cap
    inflight = 0
    tasks: set[asyncio.Task] = set()
    all_done = loop.create_future()
    begin = getattr(client, "begin", None)
    fetch = getattr(client, "fetch", client.stream)  # fetch + finish: the raw response, decoded later
    finish = getattr(client, "finish", lambda x: x)
    raw: list = []  # (k, due, slot, fetched) not decoded yet
    backlog = 0  # their events
    expected = len(dues)  # requests the run waits for (fewer when watch stops it)

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
            if watch is not None:
                watch.ended(due, now_ns())
            n_events = len(x.res.payloads) if hasattr(x, "res") else 0
            if backlog + n_events <= DECODE_BACKLOG_EVENTS:
                raw.append((k, due, slot, x))
                backlog += n_events
            else:
                s = finish(x)
                out.append(LoadRecord(indices[k], due, slot, s.record, s.events, s.count_source))
            if advance is not None:
                advance(due, *_first_token(x))
        except Exception as e:  # a bug, not a failed request (those are records): end the run with it
            if not all_done.done():
                all_done.set_exception(e)
            return
        if len(out) + len(raw) == expected and not all_done.done():
            all_done.set_result(None)

    try:
        for k, due in enumerate(dues):
            while (delay := due - now_ns()) > 0:  # timers may fire up to a millisecond early: never send early
                await asyncio.sleep(delay / 1e9)
            if watch is not None and watch.stop(due):
                expected = k
                break
            if cap is None or (inflight < cap and not waiting):
                launch(k, due, due)
            else:
                waiting.append((k, due))
        if expected and len(out) + len(raw) < expected:
            await all_done
    except BaseException:  # cancelled (Ctrl-C): keep the requests that had ended (one cut off is no record)
        if sink is not None:
            sink.records.extend(out)
            sink.records.extend(_decoded(finish, indices, raw))
        raise
    finally:
        for t in list(tasks):
            t.cancel()
    for k, due, slot, x in raw:
        s = finish(x)
        out.append(LoadRecord(indices[k], due, slot, s.record, s.events, s.count_source))
    return out


def _decoded(finish, indices: Sequence[int], raw: list) -> list[LoadRecord]:
    out = []
    for k, due, slot, x in raw:
        try:
            s = finish(x)
        except Exception:  # a response that cannot be decoded is not kept
            continue
        out.append(LoadRecord(indices[k], due, slot, s.record, s.events, s.count_source))
    return out


async def warmup_async(client, reqs: Sequence[GenerationRequest], n: int, connections: int = 0) -> None:
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


def _first_token(x) -> tuple[int | None, bool]:
    """First token arrival (ns) and success of a request that just ended, before it is decoded."""
    rec = getattr(x, "record", None)
    if rec is not None:
        return (rec.token_times_ns[0] if rec.token_times_ns else None), rec.success
    res = getattr(x, "res", None)
    times = getattr(res, "times", None) or []
    return (times[0] if times else None), getattr(res, "status", 200) == 200
