"""The run on one time axis: requests in flight, KV cache held, each request's TTFT, the engine's scheduler.

Everything is computed from the requests the run served (telemetry/phases.py) on an even grid over the run, in
O(requests + grid) with difference arrays, so a run of 100,000 requests costs milliseconds; TTFT points are evenly
thinned. The KV cache a request holds is (prompt + tokens generated so far) x the model's KV bytes per token (the
formula of memory.kv_cache_gb), its output taken as growing evenly from the first token to the last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mm_orch.report.telemetry import EngineScheduler, RunPhase, RunTimeline
from mm_orch.telemetry.phases import Phase, Served

MAX_POINTS = 1000
GIB = 2**30


def kv_bytes_per_token(info: Any) -> int | None:
    """KV bytes one token holds: the engine's own figure (two models' caches: dual), else the layout formula."""
    if info is None:
        return None
    if getattr(info, "kv_bytes_per_token", None):
        return int(info.kv_bytes_per_token)
    parts = (info.num_layers, info.num_kv_heads, info.head_dim)
    if None in parts or info.device == "remote":
        return None
    from mm_orch.report.metrics import kv_cache_bytes

    return kv_cache_bytes(*parts, info.dtype_bytes, 1)


def _grid(a_ns: int, b_ns: int) -> np.ndarray:
    n = int(min(MAX_POINTS, max(2, (b_ns - a_ns) // 1_000_000 + 1)))  # at most one point per ms
    return np.linspace(a_ns, b_ns, n)


def in_flight(served: Sequence[Served], grid: np.ndarray) -> np.ndarray:
    """Requests with start <= t < end at each grid instant."""
    starts = np.sort(np.fromiter((s.start_ns for s in served), np.float64, len(served)))
    ends = np.sort(np.fromiter((s.end_ns for s in served), np.float64, len(served)))
    return np.searchsorted(starts, grid, side="right") - np.searchsorted(ends, grid, side="right")


def kv_held(served: Sequence[Served], grid: np.ndarray, bytes_per_token: int) -> np.ndarray:
    """Bytes of KV cache the requests in flight hold at each grid instant: the prompt from the start, output
    tokens growing linearly from the first token to the end (difference arrays of constant and slope terms)."""
    n = len(grid)
    origin = grid[0]
    g = grid - origin

    def col(values) -> np.ndarray:
        return np.fromiter(values, np.float64, len(served))

    start = col(s.start_ns for s in served) - origin
    first = col(s.first_ns or s.end_ns for s in served) - origin
    end = col(s.end_ns for s in served) - origin
    prompt, output = col(s.input_tokens for s in served), col(s.output_tokens for s in served)
    i0, i1, i2 = (np.searchsorted(g, x, side="left") for x in (start, first, end))
    const, slope, offset = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1)
    np.add.at(const, i0, prompt)
    np.add.at(const, i2, -prompt)
    k = np.where((output > 0) & (i2 > i1), output / np.maximum(1.0, end - first), 0.0)
    for arr, v in ((slope, k), (offset, k * first)):
        np.add.at(arr, i1, v)
        np.add.at(arr, i2, -v)
    tokens = np.cumsum(const)[:n] + np.cumsum(slope)[:n] * g - np.cumsum(offset)[:n]
    return np.maximum(tokens, 0.0) * bytes_per_token


def _thin(n: int) -> list[int]:
    step = max(1, -(-n // MAX_POINTS))
    return list(range(0, n, step))


def build(t0_ns: int, phases: Sequence[Phase], served: Sequence[Served], info: Any,
          scheduler: tuple[str, list[tuple[int, Any, Any, Any]]] | None) -> RunTimeline:
    """The timeline section: phases, in-flight requests and KV held on a grid over the phases, TTFT per request."""
    def s(ns: int | None) -> float | None:
        return None if ns is None else round((ns - t0_ns) / 1e9, 6)

    def phase(p: Phase) -> RunPhase:
        rows = p.records or [x for x in served if p.start_ns <= x.end_ns < (p.end_ns or x.end_ns + 1)]
        return RunPhase(name=p.name, key=p.key, start_s=s(p.start_ns), end_s=s(p.end_ns or p.start_ns),
                        window_start_s=s(p.window_start_ns), window_end_s=s(p.window_end_ns), requests=len(rows),
                        input_tokens=sum(r.input_tokens for r in rows),
                        output_tokens=sum(r.output_tokens for r in rows))

    out = RunTimeline(t0_s=t0_ns / 1e9, phases=[phase(p) for p in phases], requests=len(served))
    ends = [p.end_ns for p in phases if p.end_ns is not None] + [x.end_ns for x in served]
    starts = [p.start_ns for p in phases] + [x.start_ns for x in served]
    if served and ends and max(ends) > min(starts):
        grid = _grid(min(starts), max(ends))
        out.grid_s = [round((g - t0_ns) / 1e9, 4) for g in grid]
        out.in_flight = [int(v) for v in in_flight(served, grid)]
        per_token = kv_bytes_per_token(info)
        if per_token:
            out.kv_cache_gib = [round(v / GIB, 9) for v in kv_held(served, grid, per_token)]
    firsts = sorted((x for x in served if x.first_ns), key=lambda x: x.first_ns)
    for i in _thin(len(firsts)):
        x = firsts[i]
        out.ttft_t_s.append(s(x.first_ns))
        out.ttft_ms.append(round((x.first_ns - x.start_ns) / 1e6, 4))
        out.ttft_from_arrival_ms.append(None if x.due_ns is None else round((x.first_ns - x.due_ns) / 1e6, 4))
    if scheduler is not None and scheduler[1]:
        source, rows = scheduler
        keep = _thin(len(rows))
        out.engine_scheduler = EngineScheduler(
            source=source, t_s=[s(rows[i][0]) for i in keep], running=[rows[i][1] for i in keep],
            waiting=[rows[i][2] for i in keep], kv_cache_usage=[rows[i][3] for i in keep])
    return out
