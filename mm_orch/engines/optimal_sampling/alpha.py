"""Alpha: the teacher weight of the geometric mixture q_a ∝ pi_theta^(1-a) * pi_t^a, and its statistics.

Inputs are log-probabilities after temperature, lp = log pi_theta and lr = log pi_t, shape [B, V].
Every solver is a fixed number of vectorised bisection steps on [0, 1] with no data-dependent exit,
so it runs inside a CUDA graph without a host sync. Entries where either model gives -inf are masked
out of every sum (never 0 * -inf).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mm_orch.errors import ConfigError

ALPHA_METHODS = ("fixed", "kl_symmetry", "ess_balance", "entropy")
STAT_NAMES = ("kl_star", "kl_q_theta", "kl_q_teacher", "kl_theta_teacher", "kl_teacher_theta",
              "entropy_theta", "entropy_teacher", "ess_theta", "ess_teacher")
NEG_INF = float("-inf")


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
    """f(a) = E_q[g]: one fused pass (num and den share it); its root equalises KL(q||p) and KL(q||r)."""
    mp, mr, half_d = shift
    c = (1.0 - a) * mp + a * mr - half_d
    e = torch.exp(lp_m + a[:, None] * g - c[:, None])
    return (e * g).sum(-1) / e.sum(-1)


def _ess_gap(lp_m: Tensor, g: Tensor, a: Tensor, shift: object = None) -> Tensor:
    """log sum p^2/q - log sum r^2/q (the normaliser A cancels); increasing in a."""
    a = a[:, None]
    return _lse(lp_m - a * g) - _lse(lp_m + (2.0 - a) * g)


def _bisect(gap, lp_m: Tensor, g: Tensor, iterations: int, shift: object = None) -> Tensor:
    lo = torch.zeros(lp_m.shape[0], device=lp_m.device, dtype=torch.float32)
    hi = torch.ones_like(lo)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        up = gap(lp_m, g, mid, shift) > 0
        hi = torch.where(up, mid, hi)
        lo = torch.where(up, lo, mid)
    a = 0.5 * (lo + hi)
    # p == r on the support: every a is a root; report the symmetric one
    same = g.abs().amax(dim=-1) == 0
    return torch.where(same, 0.5, a)


def entropy(lp_m: Tensor, mask: Tensor) -> Tensor:
    return -torch.where(mask, torch.exp(lp_m) * lp_m, 0.0).sum(-1)


def solve_alpha(log_theta: Tensor, log_teacher: Tensor, method: str = "kl_symmetry", iterations: int = 20,
                fixed_alpha: float = 0.5) -> Tensor:
    """Teacher weight a in [0, 1] per row, float32 [B]. No host sync, safe with -inf entries."""
    lp, lr = log_theta.float(), log_teacher.float()
    b = lp.shape[0]
    if method == "fixed":
        return torch.full((b,), float(fixed_alpha), device=lp.device, dtype=torch.float32)
    mask, lp_m, g = _prepare(lp, lr)
    if method == "kl_symmetry":
        return _bisect(_kl_gap, lp_m, g, iterations, _kl_shift(lp_m, g, mask))
    if method == "ess_balance":
        return _bisect(_ess_gap, lp_m, g, iterations)
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
