"""The alpha solvers against a float64 root finder, the mixture's algebra and -inf handling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mm_orch.engines.optimal_sampling.alpha import STAT_NAMES, mix_log_q, mixture_stats, solve_alpha
from mm_orch.errors import ConfigError


def _logp(rng: np.random.Generator, b: int, v: int, scale: float) -> np.ndarray:
    x = rng.normal(size=(b, v)) * scale
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)


def _root64(fn, lo: float = 0.0, hi: float = 1.0) -> float:
    """Plain float64 bisection to machine precision (fn increasing)."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if fn(mid) > 0:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def _lse(x: np.ndarray) -> float:
    m = x.max()
    return float(m + np.log(np.exp(x - m).sum()))


def _kl_gap64(lp: np.ndarray, lr: np.ndarray, a: float) -> float:
    g = lr - lp
    s = lp + a * g
    q = np.exp(s - _lse(s))
    return float((q * g).sum())


def _ess_gap64(lp: np.ndarray, lr: np.ndarray, a: float) -> float:
    g = lr - lp
    return _lse(lp - a * g) - _lse(lp + (2 - a) * g)


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(7)
    # mixed sharpness: flat rows, peaked rows, and rows where the models disagree strongly
    scales = np.array([0.3, 1.0, 3.0, 6.0] * 4)[:, None]
    lp = _logp(rng, 16, 50, 1.0) * scales
    lr = _logp(rng, 16, 50, 1.0) * scales[::-1]

    def norm(x: np.ndarray) -> np.ndarray:
        return x - np.array([[_lse(r)] for r in x])

    return norm(lp), norm(lr)


@pytest.mark.parametrize(("method", "gap"), [("kl_symmetry", _kl_gap64), ("ess_balance", _ess_gap64)])
def test_solver_matches_float64_root(pair, method, gap):
    lp, lr = pair
    a = solve_alpha(torch.tensor(lp, dtype=torch.float32), torch.tensor(lr, dtype=torch.float32), method, 20)
    ref = np.array([_root64(lambda x, i=i: gap(lp[i], lr[i], x)) for i in range(len(lp))])
    assert np.abs(a.numpy() - ref).max() < 1e-4
    assert 0.0 < a.min() and a.max() < 1.0


def test_kl_symmetry_equalises_both_kls_at_minus_log_normaliser(pair):
    lp, lr = (torch.tensor(x, dtype=torch.float32) for x in pair)
    a = solve_alpha(lp, lr, "kl_symmetry", 20)
    st = mixture_stats(lp, lr, a)
    col = {n: st[:, i] for i, n in enumerate(STAT_NAMES)}
    assert torch.allclose(col["kl_q_theta"], col["kl_q_teacher"], atol=2e-4)
    assert torch.allclose(col["kl_q_theta"], col["kl_star"], atol=2e-4)
    assert (col["kl_star"] > 0).all()
    # direct float64 check of KL(q||p) on one row
    lp64, lr64 = pair[0][3], pair[1][3]
    s = lp64 + float(a[3]) * (lr64 - lp64)
    logq = s - _lse(s)
    kl_qp = float((np.exp(logq) * (logq - lp64)).sum())
    assert abs(kl_qp - float(col["kl_q_theta"][3])) < 1e-4


def test_entropy_and_fixed_methods(pair):
    lp, lr = (torch.tensor(x, dtype=torch.float32) for x in pair)
    hp = -(lp.exp() * lp).sum(-1)
    hr = -(lr.exp() * lr).sum(-1)
    assert torch.allclose(solve_alpha(lp, lr, "entropy"), hp / (hp + hr), atol=1e-6)
    assert torch.equal(solve_alpha(lp, lr, "fixed", fixed_alpha=0.25), torch.full((16,), 0.25))


def test_minus_inf_entries_are_masked_not_nan():
    lp = torch.log_softmax(torch.tensor([[0.0, 1.0, 2.0, 3.0, 0.5]]), -1)
    lr = torch.log_softmax(torch.tensor([[2.0, 0.0, 1.0, -1.0, 0.0]]), -1)
    lp[0, 4] = float("-inf")  # padded id in theta
    lr[0, 3] = float("-inf")  # token the teacher forbids
    for method in ("kl_symmetry", "ess_balance", "entropy"):
        a = solve_alpha(lp, lr, method)
        assert torch.isfinite(a).all() and 0 <= a.item() <= 1
        logq = mix_log_q(lp, lr, a)
        assert logq[0, 3] == float("-inf") and logq[0, 4] == float("-inf")
        assert math.isclose(float(logq.exp().sum()), 1.0, rel_tol=1e-6)
        assert torch.isfinite(mixture_stats(lp, lr, a)).all()


def test_alpha_one_and_zero_reproduce_each_model_exactly(pair):
    lp, lr = (torch.tensor(x, dtype=torch.float32) for x in pair)
    one, zero = torch.ones(16), torch.zeros(16)
    assert torch.allclose(mix_log_q(lp, lr, one), lr, atol=1e-6)
    assert torch.allclose(mix_log_q(lp, lr, zero), lp, atol=1e-6)


def test_identical_distributions_give_one_half():
    lp = torch.log_softmax(torch.randn(3, 10), -1)
    for method in ("kl_symmetry", "ess_balance", "entropy"):
        assert torch.equal(solve_alpha(lp, lp.clone(), method), torch.full((3,), 0.5))


def test_unknown_method_is_a_config_error():
    lp = torch.log_softmax(torch.randn(1, 4), -1)
    with pytest.raises(ConfigError, match="unknown alpha method 'newton'"):
        solve_alpha(lp, lp, "newton")


def test_kl_symmetry_on_nearly_disjoint_models_stays_finite_and_exact():
    # each model puts e^-100 on the other's favourite tokens: a one-pass solver must not underflow
    lp = np.full((2, 6), -100.0)
    lr = np.full((2, 6), -100.0)
    lp[:, 0], lp[0, 2] = 0.0, -3.0
    lr[:, 1], lr[1, 3] = 0.0, -2.0
    lp -= np.array([[_lse(r)] for r in lp])
    lr -= np.array([[_lse(r)] for r in lr])
    a = solve_alpha(torch.tensor(lp, dtype=torch.float32), torch.tensor(lr, dtype=torch.float32))
    ref = np.array([_root64(lambda x, i=i: _kl_gap64(lp[i], lr[i], x)) for i in range(2)])
    assert torch.isfinite(a).all()
    assert np.abs(a.numpy() - ref).max() < 1e-4


@pytest.mark.parametrize("method", ["kl_symmetry", "ess_balance"])
def test_several_bisection_steps_per_pass_give_the_bisection_answer(pair, method):
    """bits=4 (the CUDA default: 16-way sections) tests the same dyadic points as plain bisection."""
    lp, lr = (torch.tensor(x, dtype=torch.float32) for x in pair)
    for iterations in (20, 14, 3):
        plain = solve_alpha(lp, lr, method, iterations, bits=1)
        for bits in (2, 3, 4):
            assert torch.equal(solve_alpha(lp, lr, method, iterations, bits=bits), plain), (iterations, bits)
