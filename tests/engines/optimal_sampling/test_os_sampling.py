"""The device sampler: a chi-square test against the analytic q, top-k/top-p, determinism."""

from __future__ import annotations

import numpy as np
import torch

from mm_orch.engines.optimal_sampling.alpha import mix_log_q, solve_alpha
from mm_orch.engines.optimal_sampling.sampling import filter_top_k_top_p, sample, token_keys

CHI2_999 = {7: 24.32, 3: 16.27}  # chi-square critical values at p = 0.001 for these degrees of freedom


def _chi2(counts: np.ndarray, probs: np.ndarray) -> float:
    exp = probs * counts.sum()
    return float(((counts - exp) ** 2 / exp).sum())


def test_sampler_matches_the_mixture_chi_square():
    g = torch.Generator().manual_seed(3)
    lp = torch.log_softmax(torch.randn(1, 8, generator=g) * 1.5, -1)
    lr = torch.log_softmax(torch.randn(1, 8, generator=g) * 1.5, -1)
    a = solve_alpha(lp, lr, "kl_symmetry")
    logq = mix_log_q(lp, lr, a)
    n = 40000
    keys = token_keys(8, "cpu")
    # across rows (one seed each) and across steps (one seed, many steps)
    by_row = sample(logq.expand(n, 8), torch.arange(n), torch.zeros(1, dtype=torch.long), keys, False)
    by_step = torch.cat([sample(logq, torch.tensor([11]), torch.tensor([t]), keys, False) for t in range(4000)])
    q = logq.exp()[0].double().numpy()
    for draws in (by_row, by_step):
        counts = np.bincount(draws.numpy(), minlength=8)
        assert _chi2(counts, q) < CHI2_999[7], counts
    # and the test has power: the same draws against theta alone fail it
    counts = np.bincount(by_row.numpy(), minlength=8)
    assert _chi2(counts, lp.exp()[0].double().numpy()) > 100


def test_top_k_top_p_keep_the_right_support_and_renormalise():
    logq = torch.log(torch.tensor([[0.4, 0.3, 0.2, 0.1]]))
    k2 = filter_top_k_top_p(logq, 2, 1.0)
    assert torch.allclose(k2.exp(), torch.tensor([[4 / 7, 3 / 7, 0, 0]]), atol=1e-6)
    p = filter_top_k_top_p(logq, 0, 0.65)  # 0.4 + 0.3 reaches 0.65
    assert torch.allclose(p.exp(), torch.tensor([[4 / 7, 3 / 7, 0, 0]]), atol=1e-6)
    n = 20000
    draws = sample(p.expand(n, 4), torch.arange(n), torch.zeros(1, dtype=torch.long), token_keys(4, "cpu"), False)
    counts = np.bincount(draws.numpy(), minlength=4)
    assert counts[2:].sum() == 0
    assert _chi2(counts[:2], np.array([4 / 7, 3 / 7])) < CHI2_999[3]


def test_same_seed_same_draws_and_greedy_is_argmax():
    logq = torch.log_softmax(torch.randn(5, 30), -1)
    keys = token_keys(30, "cpu")
    seeds, step = torch.tensor([1, 2, 3, 4, 5]), torch.tensor([9])
    assert torch.equal(sample(logq, seeds, step, keys, False), sample(logq, seeds, step, keys, False))
    # a row's draw does not depend on its batch mates
    assert torch.equal(sample(logq[2:3], seeds[2:3], step, keys, False), sample(logq, seeds, step, keys, False)[2:3])
    assert torch.equal(sample(logq, seeds, step, keys, True), logq.argmax(-1))
