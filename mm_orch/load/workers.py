"""The async client spread over worker processes, each with its own event loop, one schedule for all.

Request i goes to worker i % W. Every worker prepares its request bodies, warms up its connections and
says it is ready; the parent then picks one start time t0 and sends it to all. perf_counter_ns is the
machine's monotonic clock, so due times and timestamps from every process are on one time line.
"""

from __future__ import annotations

import math
import multiprocessing as mp
from collections.abc import Sequence

from mm_orch.engines.base import GenerationRequest, now_ns
from mm_orch.load.results import LoadRecord

READY_TIMEOUT_S = 300.0
T0_LEAD_NS = 50_000_000


def _worker(conn, settings_json: str, tokenizer: str | None, user_models: dict, reqs: list[GenerationRequest],
            indices: list[int], offsets: list[int], cap: int | None, warmup: int) -> None:
    from mm_orch.engines.openai.client import AsyncOpenAIClient, ClientSettings
    from mm_orch.engines.openai.engine import load_tokenizer_for
    from mm_orch.load.async_client import (
        connections_needed,
        cpu_seconds,
        dispatch_async,
        frozen_heap,
        run_loop,
        warmup_async,
    )

    tok = load_tokenizer_for(tokenizer, user_models)[0] if tokenizer else None

    async def go():
        client = AsyncOpenAIClient(ClientSettings.model_validate_json(settings_json), tok)
        try:
            bodies = [client.body(r) for r in reqs]
            await warmup_async(client, reqs, warmup, connections_needed(offsets, cap))
            with frozen_heap():
                conn.send("ready")
                t0 = conn.recv()  # blocks this loop, which has nothing else to do yet
                c0 = cpu_seconds()
                recs = await dispatch_async(client, reqs, bodies, indices, [t0 + o for o in offsets], cap)
                return recs, cpu_seconds() - c0
        finally:
            client.close()

    try:
        conn.send(run_loop(go()))
    except BaseException as e:  # the parent reports it
        conn.send(RuntimeError(f"load worker failed: {type(e).__name__}: {e}"))
    finally:
        conn.close()


def run_in_workers(settings, tokenizer: str | None, user_models: dict, reqs: Sequence[GenerationRequest],
                   offsets: Sequence[int], cap: int | None, warmup: int, workers: int
                   ) -> tuple[list[LoadRecord], int, float]:
    """(records, t0, client CPU seconds over all workers in the measured phase)."""
    ctx = mp.get_context("spawn")  # no fork of a process that may hold threads (tokenizers, loops)
    share = math.ceil(cap / workers) if cap else None
    procs, pipes = [], []
    for w in range(workers):
        idx = list(range(w, len(reqs), workers))
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_worker, name=f"mm-orch-load-{w}", daemon=True, args=(
            child, settings.model_dump_json(), tokenizer, user_models, [reqs[i] for i in idx], idx,
            [offsets[i] for i in idx], share, math.ceil(warmup / workers)))
        p.start()
        child.close()
        procs.append(p)
        pipes.append(parent)
    try:
        for pipe in pipes:
            if not pipe.poll(READY_TIMEOUT_S):
                raise RuntimeError("a load worker did not get ready in time")
            msg = pipe.recv()
            if isinstance(msg, Exception):
                raise msg
        t0 = now_ns() + T0_LEAD_NS
        for pipe in pipes:
            pipe.send(t0)
        recs, cpu = [], 0.0
        for pipe in pipes:
            msg = pipe.recv()
            if isinstance(msg, Exception):
                raise msg
            recs.extend(msg[0])
            cpu += msg[1]
        return recs, t0, cpu
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
