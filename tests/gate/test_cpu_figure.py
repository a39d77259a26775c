"""The CPU figure's slope on the step reference: fitted from planted data, 1 where it cannot be."""

import numpy as np
import pytest

from mm_orch.gate.cpu_figure import figure, step_slope


def requests(seed, n, slope, level=1.0, step_sd=0.15, noise=0.03):
    """CPU ms per token that moves with the step reference as step ** slope (the host's speed), times level."""
    rng = np.random.default_rng(seed)
    step = 9.0 * np.exp(rng.normal(0.0, step_sd, n))
    cpu = level * 0.2 * step**slope * np.exp(rng.normal(0.0, noise, n))
    return list(cpu), list(step)


@pytest.mark.parametrize("planted", [0.8, 1.0, 1.2])
def test_slope_is_recovered_and_the_side_offset_does_not_bias_it(planted):
    base = requests(1, 80, planted)
    cur = requests(2, 48, planted, level=1.3, step_sd=0.3)  # a 30 % regression on a slower, noisier host
    assert step_slope([base, cur]) == pytest.approx(planted, abs=0.05)


def test_the_fitted_figure_removes_the_hosts_slowdown_that_the_plain_ratio_keeps():
    base = requests(1, 80, 1.2)
    cpu, step = requests(2, 48, 1.2)
    slow = ([c * 1.4**1.2 for c in cpu], [s * 1.4 for s in step])  # the same build, the host 40 % slower
    slope = step_slope([base, slow])

    def effect(k):
        return np.median(figure(*slow, k)) / np.median(figure(*base, k))

    assert effect(1.0) > 1.05  # the plain ratio reads an unchanged build as ~7 % worse
    assert effect(slope) == pytest.approx(1.0, abs=0.02)


def test_no_slope_without_enough_requests_or_spread():
    assert step_slope([requests(1, 5, 1.2), requests(2, 5, 1.2)]) is None
    assert step_slope([requests(1, 40, 1.2, step_sd=0.001), requests(2, 40, 1.2, step_sd=0.001)]) is None
    assert step_slope([([None, 1.0], [2.0, None])]) is None


def test_figure_skips_missing_values():
    assert figure([2.0, None, 3.0], [4.0, 5.0, 0.0], 1.0) == [0.5, None, None]
