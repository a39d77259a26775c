"""Where a decode step's time goes: cumulative CUDA graphs of the step's prefixes, timed with events.

teacher = G1, theta = G2 - G1, alpha = G3 - G2 (log-softmax, solve, mix), sampling = G4 - G3 (filter,
Gumbel race, logging). Launch gaps inside a graph are part of each phase; the full step is G4.
"""

from __future__ import annotations

import math

import torch

from mm_orch.engines.optimal_sampling.decoder import BUCKET, DualDecoder
from mm_orch.engines.optimal_sampling.head import StepParams


def replay_ms(g, reps: int) -> float:
    """ms per replay of a captured CUDA graph, timed with events over `reps` back-to-back replays."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        g.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def _time_graph(dec: DualDecoder, run, g, reps: int) -> float:
    dec.reset_counters(run)
    g.replay()
    dec.reset_counters(run)
    return replay_ms(g, reps)


@torch.inference_mode()
def profile_step(dec: DualDecoder, batch: int, prompt_t: int, prompt_th: int, p: StepParams,
                 reps: int = 50) -> dict[str, float]:
    """ms per step of each phase at the middle attention bucket of p.max_tokens (CUDA only)."""
    run = dec.run_for(batch, prompt_t, prompt_th, p)
    bucket = max(1, math.ceil(p.max_tokens / 2 / BUCKET))
    reps = min(reps, p.max_tokens - 1)
    times = []
    for upto in (1, 2, 3, 4):
        if upto in (2, 3) and run.theta is None or upto == 1 and run.teacher is None:
            times.append(times[-1] if times else 0.0)
            continue
        g = dec.capture(run, p, bucket, upto)
        run.graphs[-upto] = g  # a graph must outlive the captures that share its memory pool
        times.append(_time_graph(dec, run, g, reps))
    t1, t2, t3, t4 = times
    return {"teacher_ms": t1, "theta_ms": t2 - t1, "alpha_ms": t3 - t2, "sampling_ms": t4 - t3,
            "step_ms": t4, "bucket_len": bucket * BUCKET}
