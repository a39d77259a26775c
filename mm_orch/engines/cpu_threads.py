"""How many CPU threads torch uses for a model: one, all, or the faster of the two by a timed probe.

A small model's decode step is a few hundred tiny ops; splitting each across cores costs more in
hand-offs than it saves (tiny-qwen2 on 2 cores: 5.7 ms per token with 2 threads, 4.0 with 1). A large
model's GEMMs are worth splitting. "auto" times one decode-sized forward both ways and keeps all cores
only when they are clearly faster (the probe is a few milliseconds and noisy). On a busy machine it
keeps one thread without probing: every op waits at a barrier for its slowest thread, and with other
work on the cores that thread is often not running (on 2 cores with 3 CPU-bound processes beside it,
see reports/main_job_speed_cpu.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Literal

CpuThreads = Literal["auto"] | int

PROBE_REPEATS = 5
PROBE_SKIP_S = 0.05  # a step this slow on all cores has GEMMs big enough to be worth the threads
CLEAR_WIN = 0.85  # all cores must take at most this fraction of one thread's time to be kept
BUSY_SPARE_CORES = 0.5  # busy: the 1-minute load average is above the core count less this


def machine_busy(cores: int) -> bool:
    try:
        return os.getloadavg()[0] > cores - BUSY_SPARE_CORES
    except OSError:  # no load average on this platform
        return False


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
    if every > 1 and machine_busy(every):
        torch.set_num_threads(1)
        return 1, {}
    probes = {every: _best_of(step, PROBE_REPEATS)}
    if every > 1 and probes[every] < PROBE_SKIP_S:
        torch.set_num_threads(1)
        probes[1] = _best_of(step, PROBE_REPEATS)
    best = every if probes[every] <= CLEAR_WIN * probes.get(1, float("inf")) else 1
    torch.set_num_threads(best)
    return best, probes
