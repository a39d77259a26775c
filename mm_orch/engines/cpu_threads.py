"""How many CPU threads torch uses for a model: one, all, or the faster of the two by a timed probe.

A small model's decode step is a few hundred tiny ops; splitting each across cores costs more in
hand-offs than it saves (tiny-qwen2 on 2 cores: 5.7 ms per token with 2 threads, 4.0 with 1). A large
model's GEMMs are worth splitting. "auto" times one decode-sized forward both ways and keeps the faster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

CpuThreads = Literal["auto"] | int

PROBE_REPEATS = 5
PROBE_SKIP_S = 0.05  # a step this slow on all cores has GEMMs big enough to be worth the threads


def _best_of(step: Callable[[], object], repeats: int) -> float:
    step()  # first call pays allocations
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return best


def choose_cpu_threads(setting: CpuThreads, step: Callable[[], object]) -> tuple[int, dict[int, float]]:
    """Set torch's intra-op threads per `setting`; returns (threads, {threads: probe seconds})."""
    import torch

    if setting != "auto":
        torch.set_num_threads(int(setting))
        return int(setting), {}
    every = torch.get_num_threads()
    probes = {every: _best_of(step, PROBE_REPEATS)}
    if every > 1 and probes[every] < PROBE_SKIP_S:
        torch.set_num_threads(1)
        probes[1] = _best_of(step, PROBE_REPEATS)
    best = min(probes, key=lambda n: probes[n])
    torch.set_num_threads(best)
    return best, probes
