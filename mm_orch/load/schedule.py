"""When each open-loop request is due: arrival offsets precomputed from a seed. No clocks, no I/O.

Gamma arrivals: inter-arrival gaps ~ Gamma(shape=B, scale=1/(R*B)), mean 1/R for every burstiness B;
B = 1 is a Poisson process, B < 1 burstier, B > 1 more even. Constant: gaps of exactly 1/R. An infinite
rate puts every request at offset 0 (with a concurrency cap that is a closed loop of cap clients).
"""

from __future__ import annotations

import math

from mm_orch.errors import ConfigError
from mm_orch.settings.schedule import ScheduleSpec


def arrival_offsets_ns(spec: ScheduleSpec, max_requests: int = 10_000_000) -> list[int]:
    """Due times in ns after the start of the run, ascending; the first request is due at 0."""
    import numpy as np

    if math.isinf(spec.request_rate):
        return [0] * int(spec.num_requests)
    cap = spec.num_requests or max_requests
    if spec.duration_seconds is not None:  # enough gaps to pass the duration, with a wide margin
        cap = min(cap, int(spec.duration_seconds * spec.request_rate * 1.5 + 50 * math.sqrt(
            spec.duration_seconds * spec.request_rate / spec.burstiness) + 10))
    if cap > max_requests:
        raise ConfigError(f"the schedule would hold {cap} requests (more than {max_requests}); lower the rate or "
                          "the duration")
    mean_s = 1.0 / spec.request_rate
    if spec.arrivals == "constant":
        gaps = np.full(cap - 1, mean_s)
    else:
        rng = np.random.default_rng(spec.seed)
        gaps = rng.gamma(shape=spec.burstiness, scale=mean_s / spec.burstiness, size=cap - 1)
    offsets = np.concatenate([[0.0], np.cumsum(gaps)])
    if spec.exact_rate and cap > 1 and offsets[-1] > 0:
        offsets *= (cap - 1) / spec.request_rate / offsets[-1]
    if spec.duration_seconds is not None:
        offsets = offsets[offsets < spec.duration_seconds]
    return [int(x * 1e9) for x in offsets]


def schedule_rate(offsets_ns: list[int]) -> float | None:
    """The rate the drawn schedule actually has (a Poisson sample differs from its mean rate)."""
    if len(offsets_ns) < 2 or offsets_ns[-1] == offsets_ns[0]:
        return None
    return (len(offsets_ns) - 1) / ((offsets_ns[-1] - offsets_ns[0]) / 1e9)
