"""Alpha: the teacher weight of the geometric mixture q_a ∝ pi_theta^(1-a) * pi_t^a, and its statistics.

Inputs are log-probabilities after temperature, lp = log pi_theta and lr = log pi_t, shape [B, V].
Every solver is a fixed number of vectorised bisection steps on [0, 1] with no data-dependent exit,
so it runs inside a CUDA graph without a host sync. Entries where either model gives -inf are masked
out of every sum (never 0 * -inf).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mm_orch.engines.optimal_sampling import alpha_kernel
from mm_orch.errors import ConfigError

ALPHA_METHODS = ("fixed", "kl_symmetry", "ess_balance", "entropy")
STAT_NAMES = ("kl_star", "kl_q_theta", "kl_q_teacher", "kl_theta_teacher", "kl_teacher_theta",
              "entropy_theta", "entropy_teacher", "ess_theta", "ess_teacher")
NEG_INF = float("-inf")
GPU_BITS = 2  # bisection steps per pass over the vocabulary on CUDA (see solve_alpha)


def check_alpha_args(method: str, fixed_alpha: float, iterations: int) -> None:
    """Raise ConfigError naming the bad value (called once per request, never on the hot path)."""
    if method not in ALPHA_METHODS:
        raise ConfigError(f"unknown alpha method '{method}' (choose from {', '.join(ALPHA_METHODS)})")
    if not 0.0 <= float(fixed_alpha) <= 1.0:
        raise ConfigError(f"fixed alpha must lie in [0, 1], got {fixed_alpha}")
    if int(iterations) < 1:
        raise ConfigError(f"alpha solver iterations must be >= 1, got {iterations}")


def _prepare(lp: Tensor, lr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(mask, lp with -inf off the mask, g = lr - lp with 0 off the mask)."""
    mask = torch.isfinite(lp) & torch.isfinite(lr)
    lp_m = torch.where(mask, lp, NEG_INF)
    g = torch.where(mask, lr - lp, 0.0)
    return mask, lp_m, g


def _lse(x: Tensor) -> Tensor:
    return torch.logsumexp(x, dim=-1)


def _kl_shift(lp_m: Tensor, g: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row constants for a one-pass E_q[g]: maxima of lp and lr and a safe offset.

    s_a - c(a) <= 0 with c(a) = (1-a) max lp + a max lr, and max_y (s_a - c(a)) >= -D with
    D = min_y max(max lp - lp, max lr - lr). Shifting by c(a) - min(D/2, 60) keeps every exponent
    below 60 (no overflow) and the largest above -D/2 (no underflow unless the models are disjoint
    beyond e^-120); so no max-reduction is needed inside the loop.
    """
    lr_m = torch.where(mask, lp_m + g, NEG_INF)
    mp, mr = lp_m.amax(-1), lr_m.amax(-1)
    gap = torch.maximum(mp[:, None] - lp_m, mr[:, None] - lr_m)
    d = torch.where(mask, gap, float("inf")).amin(-1)
    return mp, mr, torch.clamp(0.5 * d, max=60.0)


def _kl_gap(lp_m: Tensor, g: Tensor, a: Tensor, shift: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """f(a) = E_q[g] at a [B, K] points per row: one fused pass (num and den share it); its root
    equalises KL(q||p) and KL(q||r)."""
    mp, mr, half_d = shift
    c = (1.0 - a) * mp[:, None] + a * mr[:, None] - half_d[:, None]
    e = torch.exp(lp_m[:, None] + a[..., None] * g[:, None] - c[..., None])
    return (e * g[:, None]).sum(-1) / e.sum(-1)


def _ess_gap(lp_m: Tensor, g: Tensor, a: Tensor, shift: object = None) -> Tensor:
    """log sum p^2/q - log sum r^2/q at a [B, K] (the normaliser A cancels); increasing in a."""
    a = a[..., None]
    return _lse(lp_m[:, None] - a * g[:, None]) - _lse(lp_m[:, None] + (2.0 - a) * g[:, None])


def _bisect(gap, lp_m: Tensor, g: Tensor, iterations: int, shift: object = None, bits: int = 1) -> Tensor:
    """`iterations` bisection steps, taken `bits` at a time: each pass tests the 2**bits - 1 dyadic points
    inside the bracket that those bisection steps could test and keeps the sub-bracket the root is in, so
    the answer is the bisection's (f is non-decreasing) from iterations / bits passes over the vocabulary.
    """
    if gap is _kl_gap and lp_m.is_cuda and alpha_kernel.triton is not None:  # one read per pass
        a = alpha_kernel.bisect_kl(lp_m, g, shift, iterations, bits)
    else:
        a = _bisect_torch(gap, lp_m, g, iterations, shift, bits)
    # p == r on the support: every a is a root; report the symmetric one
    same = g.abs().amax(dim=-1) == 0
    return torch.where(same, 0.5, a)


def _bisect_torch(gap, lp_m: Tensor, g: Tensor, iterations: int, shift: object, bits: int) -> Tensor:
    lo = torch.zeros(lp_m.shape[0], device=lp_m.device, dtype=torch.float32)
    width, done = 1.0, 0  # dyadic widths: lo stays exact in float32 for up to 24 iterations
    while done < iterations:
        k = min(bits, iterations - done)
        width /= 2**k
        pts = lo[:, None] + width * torch.arange(1, 2**k, device=lp_m.device, dtype=torch.float32)
        below = (gap(lp_m, g, pts, shift) <= 0).sum(-1)  # points left of the root
        lo = lo + width * below
        done += k
    return lo + 0.5 * width


def entropy(lp_m: Tensor, mask: Tensor) -> Tensor:
    return -torch.where(mask, torch.exp(lp_m) * lp_m, 0.0).sum(-1)


def solve_alpha(log_theta: Tensor, log_teacher: Tensor, method: str = "kl_symmetry", iterations: int = 20,
                fixed_alpha: float = 0.5, bits: int | None = None) -> Tensor:
    """Teacher weight a in [0, 1] per row, float32 [B]. No host sync, safe with -inf entries.

    bits > 1 takes that many bisection steps per pass (same answer, fewer passes, more exps per pass):
    worth it on a GPU, where a pass costs its memory reads, not its arithmetic. None: GPU_BITS on CUDA, else 1.
    """
    lp, lr = log_theta.float(), log_teacher.float()
    if bits is None:
        bits = GPU_BITS if lp.is_cuda else 1
    b = lp.shape[0]
    if method == "fixed":
        return torch.full((b,), float(fixed_alpha), device=lp.device, dtype=torch.float32)
    mask, lp_m, g = _prepare(lp, lr)
    if method == "kl_symmetry":
        return _bisect(_kl_gap, lp_m, g, iterations, _kl_shift(lp_m, g, mask), bits)
    if method == "ess_balance":
        return _bisect(_ess_gap, lp_m, g, iterations, bits=bits)
    if method == "entropy":
        hp = entropy(lp_m, mask)
        hr = entropy(torch.where(mask, lr, NEG_INF), mask)
        tot = hp + hr
        return torch.where(tot > 0, hp / tot.clamp_min(1e-30), 0.5)
    raise ConfigError(f"unknown alpha method '{method}' (choose from {', '.join(ALPHA_METHODS)})")


def mix_log_q(log_theta: Tensor, log_teacher: Tensor, alpha: Tensor) -> Tensor:
    """log q_a, normalised, float32 [B, V]; -inf where either model gives -inf.

    Written as (1-a)*lp + a*lr so that a = 1 (a = 0) gives exactly the teacher's (theta's) log-probs.
    """
    lp, lr = log_theta.float(), log_teacher.float()
    mask = torch.isfinite(lp) & torch.isfinite(lr)
    a = alpha.float()[:, None]
    s = torch.where(mask, (1.0 - a) * torch.where(mask, lp, 0.0) + a * torch.where(mask, lr, 0.0), NEG_INF)
    return s - _lse(s)[:, None]


def mixture_stats(log_theta: Tensor, log_teacher: Tensor, alpha: Tensor) -> Tensor:
    """Per-row statistics [B, len(STAT_NAMES)] at the given alpha, all in nats (ESS as fractions)."""
    lp, lr = log_theta.float(), log_teacher.float()
    mask, lp_m, g = _prepare(lp, lr)
    lr_m = torch.where(mask, lr, NEG_INF)
    a = alpha.float()
    s = lp_m + a[:, None] * g
    big_a = _lse(s)  # log of sum p^(1-a) r^a
    q = torch.exp(s - big_a[:, None])
    eq_g = (q * g).sum(-1)
    p, r = torch.exp(lp_m), torch.exp(lr_m)
    logq = torch.where(mask, s - big_a[:, None], NEG_INF)
    ess_p = torch.exp(-_lse(torch.where(mask, 2 * lp_m - logq, NEG_INF)))
    ess_r = torch.exp(-_lse(torch.where(mask, 2 * lr_m - logq, NEG_INF)))
    return torch.stack([
        -big_a,                      # KL* = Chernoff information at the root
        a * eq_g - big_a,            # KL(q || pi_theta)
        (a - 1.0) * eq_g - big_a,    # KL(q || pi_t)
        -(p * g).sum(-1),            # KL(pi_theta || pi_t)
        (r * g).sum(-1),             # KL(pi_t || pi_theta)
        entropy(lp_m, mask), entropy(lr_m, mask), ess_p, ess_r,
    ], dim=-1)
