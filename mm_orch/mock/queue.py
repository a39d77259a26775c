"""What the mock server with --max-concurrency should give a perfect client: the truth a saturation curve is
checked against.

The capped mock is a first-come-first-served queue of max_concurrency servers with a fixed service time
(its E2E). Over a schedule of arrivals, each request starts when it has arrived and a server is free; its TTFT
from arrival is that wait plus the mock's TTFT. No clocks, no I/O: a pure function of the schedule.
"""

from __future__ import annotations

import heapq
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
