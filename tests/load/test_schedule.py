"""The open-loop schedule: reproducible from its seed, with the asked mean rate and burstiness."""

import math

import numpy as np
import pytest
from pydantic import ValidationError

from mm_orch.load.schedule import arrival_offsets_ns, schedule_rate
from mm_orch.settings.schedule import ScheduleSpec


def _gaps_s(spec):
    return np.diff(arrival_offsets_ns(spec)) / 1e9


def test_same_seed_same_schedule_other_seed_other_schedule():
    a = arrival_offsets_ns(ScheduleSpec(request_rate=30, num_requests=500, seed=7))
    assert a == arrival_offsets_ns(ScheduleSpec(request_rate=30, num_requests=500, seed=7))
    assert a != arrival_offsets_ns(ScheduleSpec(request_rate=30, num_requests=500, seed=8))
    assert a[0] == 0 and all(x <= y for x, y in zip(a, a[1:], strict=False)) and len(a) == 500


@pytest.mark.parametrize("burstiness", [0.5, 1.0, 4.0])
def test_mean_rate_and_burstiness(burstiness):
    spec = ScheduleSpec(request_rate=50, burstiness=burstiness, num_requests=20000, seed=1)
    gaps = _gaps_s(spec)
    assert schedule_rate(arrival_offsets_ns(spec)) == pytest.approx(50, rel=0.03)
    # gamma(shape=B): coefficient of variation 1/sqrt(B); 1 = Poisson (exponential gaps)
    assert gaps.std() / gaps.mean() == pytest.approx(1 / math.sqrt(burstiness), rel=0.05)


def test_constant_rate_and_duration_limit():
    gaps = _gaps_s(ScheduleSpec(request_rate=40, arrivals="constant", num_requests=41))
    assert np.allclose(gaps, 0.025, atol=1e-8)
    offs = arrival_offsets_ns(ScheduleSpec(request_rate=100, num_requests=None, duration_seconds=20, seed=3))
    assert max(offs) < 20e9 and len(offs) == pytest.approx(2000, rel=0.06)
    both = arrival_offsets_ns(ScheduleSpec(request_rate=100, num_requests=50, duration_seconds=20))
    assert len(both) == 50  # whichever limit ends first


def test_infinite_rate_and_bad_specs():
    assert arrival_offsets_ns(ScheduleSpec(request_rate=math.inf, num_requests=5)) == [0] * 5
    for bad in ({"request_rate": 0}, {"num_requests": None}, {"request_rate": math.inf, "num_requests": None,
                                                                "duration_seconds": 3}, {"burstiness": -1}):
        with pytest.raises(ValidationError):
            ScheduleSpec(**bad)
