"""A load test stopped by Ctrl-C: the requests that had ended, as a LoadResult marked incomplete.

The runner opens async_client.keep_finished() around the test; an interrupted run leaves its ended requests'
records there, and this builds the section from them, so a report written after Ctrl-C keeps what was measured
(the client processes of a multi-worker run keep theirs to themselves: nothing is kept from those)."""

from __future__ import annotations

import math
import os
from typing import Any

from mm_orch.engines.base import Engine
from mm_orch.load.async_client import Finished, cpu_seconds
from mm_orch.load.results import summarize_load
from mm_orch.load.schedule import arrival_offsets_ns
from mm_orch.report.load import ClientCpu, LoadResult
from mm_orch.settings.schedule import ScheduleSpec


def interrupted_result(engine: Engine, settings: Any, done: Finished) -> LoadResult | None:
    """The section over done.records (None when no request had ended): figures over those requests only."""
    from mm_orch.engines.registry import capabilities
    from mm_orch.load.calibration import load_cached

    if not done.records or done.t0 is None:
        return None
    spec = ScheduleSpec(**settings.model_dump(include=set(ScheduleSpec.model_fields)))
    scheduled = len(arrival_offsets_ns(spec))
    recs = sorted(done.records, key=lambda r: r.index)
    fields = summarize_load(recs, done.t0)
    fields["token_counting"].tokenizer = getattr(engine, "tokenizer_note", None)
    wall = fields["metrics"].wall_time_s
    cpu = cpu_seconds() - done.cpu0
    mode = capabilities(engine.name).load_mode(engine)
    cal, cal_note = load_cached()
    return LoadResult(
        engine=engine.name, mode=mode, schedule=spec, max_concurrency=settings.max_concurrency,
        note=f"interrupted (Ctrl-C): {len(recs)} of the {scheduled} scheduled requests had ended; every figure is "
             "over those (requests in flight then are not counted)",
        warmup_requests=settings.warmup_requests, workers=1, prompts="as configured (run interrupted)",
        output_length=settings.output_length,
        requested_rate_rps=None if math.isinf(spec.request_rate) else spec.request_rate,
        client_cpu=ClientCpu(cpu_seconds=cpu, wall_seconds=wall, cores_busy=cpu / wall if wall > 0 else 0.0,
                             per_1000_requests_s=cpu / len(recs) * 1000, processes=1,
                             includes_engine=mode != "async_http",
                             load_average=[round(x, 2) for x in os.getloadavg()]),
        calibration=cal, calibration_note=cal_note, incomplete=True, **fields)
