"""A stand-in for pynvml with a known power trace, for testing the GPU sampler where no GPU exists.

Same function names as pynvml; readings are functions of a clock the test controls. The power trace is piecewise
linear, so its exact energy is known in closed form: the fake's total-energy counter integrates it (in mJ, as
NVML does, rounded to an integer as NVML's unsigned counter is), and the trapezoid rule over samples that include
the trace's corners gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

NVML_CLOCK_SM = 1
NVML_TEMPERATURE_GPU = 0

# (t_s, W): 100 W idle for 1 s, a ramp to 300 W over 1 s, then 300 W. Energy: 100 J, 200 J, 300 J per second.
TRACE = ((0.0, 100.0), (1.0, 100.0), (2.0, 300.0), (3.0, 300.0))


class NVMLError(Exception):
    pass


class NVMLErrorNotSupported(NVMLError):
    pass


def power_at(t: float, scale: float = 1.0) -> float:
    """The trace's power at t seconds (flat beyond its ends)."""
    if t <= TRACE[0][0]:
        return TRACE[0][1] * scale
    for (t0, p0), (t1, p1) in zip(TRACE, TRACE[1:], strict=False):
        if t <= t1:
            return (p0 + (p1 - p0) * (t - t0) / (t1 - t0)) * scale
    return TRACE[-1][1] * scale


def energy_at(t: float, scale: float = 1.0) -> float:
    """Exact integral of the trace from 0 to t, J."""
    total, prev_t, prev_p = 0.0, 0.0, power_at(0.0, scale)
    for tk, _ in TRACE[1:]:
        if t <= prev_t:
            break
        end = min(t, tk)
        p_end = power_at(end, scale)
        total += (prev_p + p_end) / 2 * (end - prev_t)
        prev_t, prev_p = end, p_end
    if t > prev_t:
        total += prev_p * (t - prev_t)
    return total


class FakeNvml:
    """GPU 0 has the total-energy counter and the instantaneous power field; GPU 1 draws half the power and
    has neither (NotSupported): its energy is the integral of nvmlDeviceGetPowerUsage."""

    COUNTER_BASE_MJ = 7_000_000  # the counter counts from driver load, not from zero

    def __init__(self, clock_s: Callable[[], float], fail_init: str | None = None) -> None:
        self.clock_s = clock_s
        self.fail_init = fail_init
        self.inits = 0
        self.shutdowns = 0
        self.calls = 0
        self.energy_reads = [0, 0]
        self.NVML_CLOCK_SM = NVML_CLOCK_SM
        self.NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU

    def nvmlInit(self) -> None:  # noqa: N802 (pynvml's names)
        if self.fail_init:
            raise NVMLError(self.fail_init)
        self.inits += 1

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:  # noqa: N802
        return i

    def nvmlDeviceGetName(self, h: int) -> str:  # noqa: N802
        return f"Fake GPU {h}"

    def _scale(self, h: int) -> float:
        return 1.0 if h == 0 else 0.5

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:  # noqa: N802
        self.calls += 1
        return round(power_at(self.clock_s(), self._scale(h)) * 1000)  # mW

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:  # noqa: N802
        self.energy_reads[h] += 1
        if h != 0:
            raise NVMLErrorNotSupported("Not Supported")
        return self.COUNTER_BASE_MJ + round(energy_at(self.clock_s()) * 1000)  # mJ

    def nvmlDeviceGetFieldValues(self, h: int, ids: list[int]) -> list[SimpleNamespace]:  # noqa: N802
        """GPU 0 answers the instantaneous power field (186), GPU 1 is too old for it."""
        if h != 0 or ids != [186]:
            raise NVMLErrorNotSupported("Not Supported")
        mw = round(power_at(self.clock_s()) * 1000)
        return [SimpleNamespace(fieldId=186, nvmlReturn=0, valueType=1, value=SimpleNamespace(uiVal=mw))]

    def nvmlDeviceGetUtilizationRates(self, h: int) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(gpu=0 if self.clock_s() <= 1.0 else 90, memory=10)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(used=(6 + h) * 2**30, total=80 * 2**30, free=(74 - h) * 2**30)

    def nvmlDeviceGetClockInfo(self, h: int, kind: int) -> int:  # noqa: N802
        assert kind == NVML_CLOCK_SM
        return 1980

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:  # noqa: N802
        raise NVMLErrorNotSupported("Not Supported")  # a field NVML refuses: a warning, not a failure
