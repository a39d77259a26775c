"""What the mock server with --max-concurrency should give a perfect client: the truth a saturation curve is
checked against.

The capped mock is a first-come-first-served queue of max_concurrency servers with a fixed service time
(its E2E). Over a schedule of arrivals, each request starts when it has arrived and a server is free; its TTFT
from arrival is that wait plus the mock's TTFT. No clocks, no I/O: a pure function of the schedule.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

from mm_orch.mock.server import MockTiming, expected


def queue_ttft_ms(timing: MockTiming, offsets_ns: Sequence[int], n_tokens: int) -> list[float]:
    """TTFT from arrival of each request (arrival order) that the capped mock gives, in ms."""
    service_ns = expected(timing, n_tokens)["e2e_ms"] * 1e6
    servers = timing.max_concurrency or len(offsets_ns) or 1
    free = [0.0] * min(servers, max(1, len(offsets_ns)))  # when each server is next free
    out = []
    for a in sorted(offsets_ns):
        start = max(a, heapq.heappop(free))
        heapq.heappush(free, start + service_ns)
        out.append((start - a) / 1e6 + timing.ttft_ms)
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """numpy's default (linear) percentile, as metrics.distribution computes it."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def fcfs_waits_s(service_s: float, servers: int, arrivals_s):
    """Queueing wait of each arrival (ascending, seconds) at `servers` FCFS servers of one fixed service time,
    vectorised: request k starts at max(arrival_k, start_{k-c} + D) (the server freed first is the one request k-c
    took), so each of the c interleaved columns is a one-server queue whose starts are i*D + cummax(arrival_i -
    i*D). Equal to queue_ttft_ms - ttft (tests/load/test_slo_search.py checks the two agree)."""
    import numpy as np

    a = np.asarray(arrivals_s, dtype=float)
    n = a.size // servers * servers
    cols = a[:n].reshape(-1, servers)
    i = np.arange(cols.shape[0])[:, None] * service_s
    start = i + np.maximum.accumulate(cols - i, axis=0)
    return (start - cols).reshape(-1)


def max_rate_at_slo(timing: MockTiming, n_tokens: int, slo: dict[str, float], percentile: float,
                    n: int = 1_000_000, seed: int = 12345) -> float:
    """The truth a max-rate-at-SLO search against the capped mock should find: the Poisson rate at which the
    steady-state share of requests meeting every objective is the percentile. The mock's TTFT and TPOT are fixed,
    so every objective is a bound on the queueing wait (TTFT and E2E from arrival = wait + the mock's TTFT or E2E);
    bisection over one long Poisson path scaled to each rate (common random numbers), the first 5 % (the queue
    filling up) left out. Good to about 0.3 % with a million requests."""
    import numpy as np

    if timing.max_concurrency is None:
        return math.inf
    e = expected(timing, n_tokens)
    if slo.get("tpot_ms") is not None and not e["tpot_ms"] <= slo["tpot_ms"]:
        return 0.0
    room = min([slo[k] - e[k] for k in ("ttft_ms", "e2e_ms") if slo.get(k) is not None] + [math.inf]) / 1e3
    if room < 0:
        return 0.0
    unit = np.cumsum(np.random.default_rng(seed).exponential(size=n))
    service = e["e2e_ms"] / 1e3
    lo, hi = 0.0, timing.max_concurrency / service
    for _ in range(30):
        mid = (lo + hi) / 2
        waits = fcfs_waits_s(service, timing.max_concurrency, unit / mid)[n // 20:]
        if np.mean(waits <= room + 1e-12) >= percentile / 100:
            lo = mid
        else:
            hi = mid
    return lo
