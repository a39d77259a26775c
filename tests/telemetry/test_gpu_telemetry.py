"""GpuTelemetrySampler against the fake NVML's known power trace (fake_nvml.py), and NVML for real where a GPU is.

The fake trace: GPU 0 draws 100 W for 1 s, ramps to 300 W over 1 s, then 300 W, and has the total-energy counter;
GPU 1 draws half and has none (power integral). Samples on a 50 ms grid hit the trace's corners, so both energy
paths give exact numbers: 100, 200, 300 J per second on GPU 0 and half that on GPU 1.
"""

from __future__ import annotations

import time

import pytest

from mm_orch.errors import ConfigError
from mm_orch.report.telemetry import GpuTelemetrySection
from mm_orch.telemetry.gpu_telemetry import GpuTelemetrySampler
from tests.telemetry.fake_nvml import FakeNvml

S = 1_000_000_000
TICK = 50_000_000  # 20 Hz


class FakeClock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


def sampler_on_fake(**kw):
    clock = FakeClock()
    nv = FakeNvml(lambda: clock.ns / 1e9)
    return GpuTelemetrySampler(hz=20, nvml=nv, clock=clock, **kw), clock, nv


def run_grid(s, clock, ticks: int) -> None:
    for k in range(1, ticks + 1):
        clock.ns = k * TICK
        s.sample_now()


def test_energy_per_gpu_and_per_phase_exact():
    s, clock, nv = sampler_on_fake()
    s.start(background=False)  # first sample at t = 0
    run_grid(s, clock, 61)  # to 3.05 s
    s.mark_phase("idle", 0, 1 * S)
    s.mark_phase("ramp", 1 * S, 2 * S, output_tokens=600)
    s.mark_phase("load", 2 * S, 3 * S, output_tokens=900)
    s.stop()  # a last sample at 3.05 s again (zero width), NVML shut down
    sec = s.summarize()
    assert isinstance(sec, GpuTelemetrySection) and sec.available and nv.shutdowns == 1
    assert (sec.samples, sec.duration_s, sec.timeline_stride) == (63, 3.05, 1)
    g0, g1 = sec.gpus
    assert (g0.name, g0.energy_source, g1.energy_source) == ("Fake GPU 0", "nvml_energy_counter", "power_integral")
    assert (g0.power_source, g1.power_source) == ("instant", "average")
    assert g0.energy_j == pytest.approx(615.0, abs=1e-9)  # 100 + 200 + 300 + 0.05 s * 300 W
    assert g1.energy_j == pytest.approx(307.5, abs=1e-9)
    assert g0.mean_power_w == pytest.approx(615.0 / 3.05, abs=1e-9)
    assert (g0.max_power_w, g1.max_power_w, g0.max_mem_used_gib, g1.max_mem_used_gib) == (300.0, 150.0, 6.0, 7.0)
    at_1s = g0.samples[20]
    assert (at_1s.t_s, at_1s.power_w, at_1s.energy_j, at_1s.sm_clock_mhz, at_1s.temp_c) == (
        1.0,
        100.0,
        100.0,
        1980,
        None,
    )
    assert g1.samples[20].energy_j is None
    idle, ramp, load = sec.phases
    assert idle.per_gpu_energy_j == pytest.approx([100.0, 50.0], abs=1e-9) and idle.energy_source == "mixed"
    assert idle.mean_power_w == pytest.approx(150.0, abs=1e-9)
    assert idle.j_per_output_token is None and idle.reason == "no output token count given for this phase"
    assert ramp.energy_j == pytest.approx(300.0, abs=1e-9) and ramp.j_per_output_token == pytest.approx(0.5, abs=1e-12)
    assert load.energy_j == pytest.approx(450.0, abs=1e-9) and load.j_per_output_token == pytest.approx(0.5, abs=1e-12)
    assert (load.duration_s, load.mean_util_pct, idle.mean_util_pct) == (1.0, 90.0, 0.0)
    assert any("GPU 1: no NVML total-energy counter" in w for w in sec.warnings)
    assert sum("temp_c unavailable" in w for w in sec.warnings) == 2  # asked once per GPU, then dropped
    assert sec.sampler_cpu_s >= 0 and sec.sample_ms_mean == 0.0  # the fake clock stands still inside a round
    assert GpuTelemetrySection.model_validate_json(sec.model_dump_json()) == sec


def test_phase_context_samples_its_ends_and_gives_j_per_token():
    s, clock, _ = sampler_on_fake()
    s.start(background=False)
    with s.phase("measure") as ph:
        run_grid(s, clock, 20)  # to 1.0 s
        ph.output_tokens = 400
    s.stop()
    (p,) = s.summarize().phases
    assert (p.start_s, p.end_s) == (0.0, 1.0)
    assert p.energy_j == pytest.approx(150.0, abs=1e-9) and p.j_per_output_token == pytest.approx(0.375, abs=1e-12)


def test_phase_ends_between_samples_are_interpolated():
    s, clock, _ = sampler_on_fake()
    s.start(background=False)
    run_grid(s, clock, 40)
    s.mark_phase("off-grid", 525_000_000, 1_525_000_000, output_tokens=100)
    s.mark_phase("late", 1 * S, 5 * S)
    s.stop()
    off, late = s.summarize().phases
    # GPU 1: power is linear between samples, so the trapezoid is exact: half of 127.5625 J.
    # GPU 0: the counter is read linearly between the 1.50 s (175 J) and 1.55 s (185.25 J) samples: 127.625 J.
    assert off.per_gpu_energy_j == pytest.approx([127.625, 63.78125], abs=1e-9)
    assert off.j_per_output_token == pytest.approx(1.9140625, abs=1e-12)
    assert late.reason == "the phase reaches beyond the samples; its ends are clamped to them"


def test_absent_nvml_is_available_false_with_reason():
    clock = FakeClock()
    s = GpuTelemetrySampler(nvml=FakeNvml(lambda: 0.0, fail_init="NVML Shared Library Not Found"), clock=clock)
    s.start()
    with s.phase("measure") as ph:
        ph.output_tokens = 10
    s.stop()
    sec = s.summarize()
    assert (sec.available, sec.reason) == (False, "NVML did not initialise: NVML Shared Library Not Found")
    assert sec.gpus == [] and sec.phases == [] and sec.samples == 0


def test_no_nvml_on_this_machine_says_why():
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("NVML works here")
    except ImportError:
        pass
    except Exception:
        pass
    s = GpuTelemetrySampler().start()
    s.stop()
    sec = s.summarize()
    assert sec.available is False and sec.reason.startswith(("NVML did not initialise", "pynvml"))


def test_bad_rate_and_device_index():
    with pytest.raises(ConfigError):
        GpuTelemetrySampler(hz=0.5)
    with pytest.raises(ConfigError):
        GpuTelemetrySampler(hz=101)
    with pytest.raises(ConfigError):
        GpuTelemetrySampler(hz=20, energy_hz=40)  # the counter is read on sampling rounds, never more often
    s, _, _ = sampler_on_fake(devices=[0, 3])
    s.start(background=False)
    assert s.summarize().reason == "GPU index [3] not among the 2 NVML devices"


def test_thread_samples_at_rate_and_measures_its_cpu():
    t_start = time.perf_counter_ns()
    nv = FakeNvml(lambda: (time.perf_counter_ns() - t_start) / 1e9)
    s = GpuTelemetrySampler(hz=100, nvml=nv).start()
    time.sleep(0.3)
    s.stop()
    sec = s.summarize()
    assert 10 <= sec.samples <= 33 and sec.achieved_hz > 30
    assert 0 < sec.sampler_cpu_s_per_s < 0.5 and sec.sample_ms_mean > 0
    assert sec.gpus[0].energy_j > 0 and sec.gpus[1].energy_j > 0
    # the costly counter (ms per read on an H100) is read at open, start and stop, and at energy_hz (1 Hz) between
    assert nv.energy_reads[0] == 3 and sum(x.energy_j is not None for x in sec.gpus[0].samples) == 2


@pytest.mark.gpu
def test_real_nvml_where_a_gpu_is():
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except Exception as e:
        pytest.skip(f"no NVML: {e}")
    s = GpuTelemetrySampler(hz=20).start()
    time.sleep(0.5)
    with s.phase("p") as ph:
        time.sleep(0.3)
        ph.output_tokens = 100
    s.stop()
    sec = s.summarize()
    assert sec.available and sec.samples >= 10
    g = sec.gpus[0]
    assert g.max_power_w > 0 and g.energy_j > 0 and sec.phases[0].j_per_output_token > 0
