"""The per-step math after both forwards: temperature, alpha, mixing, top-k/top-p, sampling, logging.

`make_head` returns a pure function of device tensors (no host sync), compiled with torch.compile on
CUDA so the bisection's reductions fuse; the caller writes its outputs into the step's records.
With `fused`, the default step (kl_symmetry or one model, no top-k / top-p) runs as fused_head.py's Triton
kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mm_orch.engines.optimal_sampling import fused_head
from mm_orch.engines.optimal_sampling.alpha import GPU_BITS, mix_log_q, mixture_stats, solve_alpha
from mm_orch.engines.optimal_sampling.sampling import filter_top_k_top_p, sample

MODES = ("optimal_sampling", "teacher_only", "theta_only")


@dataclass(slots=True, frozen=True)
class StepParams:
    """Everything that shapes the captured step (part of the graph cache key)."""

    max_tokens: int
    temperature: float = 1.0  # 0 = greedy on the mixture of the T=1 distributions
    top_k: int = 0
    top_p: float = 1.0
    alpha_method: str = "kl_symmetry"
    fixed_alpha: float = 0.5
    iterations: int = 20
    mode: str = "optimal_sampling"
    stop_at_eos: bool = False
    track_stats: bool = True

    @property
    def uses_teacher(self) -> bool:
        return self.mode != "theta_only"

    @property
    def uses_theta(self) -> bool:
        return self.mode != "teacher_only"


HeadFn = Callable[..., tuple[Tensor, ...]]


def make_head(p: StepParams, upto: str = "sample", fused: bool = False) -> HeadFn:
    """upto="alpha" stops after mixing (the profiler times the phases as cumulative graphs).
    fused: fused_head's kernels (the caller checks fused_head.eligible(p) and that Triton can run)."""
    temp = p.temperature if p.temperature > 0 else 1.0
    greedy = p.temperature <= 0
    if fused:
        return _fused_head(p, upto, temp, greedy)

    def head(logit_t: Tensor | None, logit_th: Tensor | None, seeds: Tensor, step: Tensor, done: Tensor,
             keys: Tensor, pad_id: int) -> tuple[Tensor, ...]:
        lr = torch.log_softmax(logit_t.float() / temp, dim=-1) if logit_t is not None else None
        lp = torch.log_softmax(logit_th.float() / temp, dim=-1) if logit_th is not None else None
        nan = torch.full_like(seeds, float("nan"), dtype=torch.float32)
        if lr is None or lp is None:  # single-model modes: the same path with a = 0 or 1
            one = lr if lr is not None else lp
            a = torch.full_like(nan, 1.0 if lr is not None else 0.0)
            logq = filter_top_k_top_p(one, p.top_k, p.top_p)
            lr_full, lp_full = (one, None) if lr is not None else (None, one)
        else:
            a = solve_alpha(lp, lr, p.alpha_method, p.iterations, p.fixed_alpha)
            logq = filter_top_k_top_p(mix_log_q(lp, lr, a), p.top_k, p.top_p)
            lr_full, lp_full = lr, lp
        if upto == "alpha":
            return a, logq
        y = sample(logq, seeds, step, keys, greedy)
        y = torch.where(done, pad_id, y)
        col = y[:, None]
        logq_y = logq.gather(-1, col)[:, 0]
        lr_y = lr_full.gather(-1, col)[:, 0] if lr_full is not None else nan
        lp_y = lp_full.gather(-1, col)[:, 0] if lp_full is not None else nan
        if p.track_stats and lr is not None and lp is not None:
            stats = mixture_stats(lp, lr, a)
        else:
            stats = None
        return y, a, logq_y, lp_y, lr_y, stats

    return head


def _fused_head(p: StepParams, upto: str, temp: float, greedy: bool) -> HeadFn:
    def head(logit_t: Tensor | None, logit_th: Tensor | None, seeds: Tensor, step: Tensor, done: Tensor,
             keys: Tensor, pad_id: int) -> tuple[Tensor, ...]:
        if logit_t is None or logit_th is None:  # single-model modes: that model's draw, a = 1 or 0
            teacher = logit_t is not None
            y, logq_y, l_y = fused_head.head_single(logit_t if teacher else logit_th, seeds, step, done, keys,
                                                    pad_id, temp, greedy)
            nan = torch.full_like(logq_y, float("nan"))
            a = torch.full_like(logq_y, 1.0 if teacher else 0.0)
            return y, a, logq_y, nan if teacher else l_y, l_y if teacher else nan, None
        if upto == "alpha":  # the draw kernel finishes alpha: the profiler counts it as sampling
            return (fused_head.alpha_passes(logit_t, logit_th, temp, p.iterations, GPU_BITS),)
        return fused_head.head(logit_t, logit_th, seeds, step, done, keys, pad_id, temp, greedy, p.iterations,
                               GPU_BITS, p.track_stats)

    return head
