"""Sample every GPU through NVML on the run's clock: utilization, memory, power, SM clock, temperature, energy.

Why: tokens per joule and the power at each load level explain what a latency curve cannot (a GPU already at its
power limit, clocks dropping). Energy comes from NVML's total-energy counter where the GPU has one (exact,
integrated by the driver) and otherwise from the trapezoid integral of the power samples; the result says which.
Timestamps use time.perf_counter_ns, the clock of the request timestamps. Without NVML or a GPU the section says
available=False with the reason; nothing raises. The sampler measures its own CPU time, so its cost is stated.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mm_orch.errors import ConfigError
from mm_orch.report.telemetry import GpuSample, GpuTelemetrySection, GpuTimeline, PhaseEnergy

MIN_HZ, MAX_HZ = 1.0, 100.0
GIB = 2**30
FIELDS = ("util_pct", "mem_used_gib", "power_w", "sm_clock_mhz", "temp_c")
# NVML field id of the instantaneous board power (Ampere and later); nvmlDeviceGetPowerUsage is a ~1 s average
# there, which lags a load step by about a second.
NVML_FI_DEV_POWER_INSTANT = 186
# Measured on an H100 (driver 580): every NVML reading here costs ~2-9 us of CPU, except the total-energy
# counter, ~4 ms per read, and the counter only moves every 100 ms. So the counter is read at phase ends, at
# start and stop, and at energy_hz in between, never on every round. A phase's energy is exact to the counter's
# 100 ms step: adjacent phases can trade up to 0.1 s of power (measured: ~40 J between a 5 s load phase at
# 690 W and the idle phase after it; the instantaneous-power integral agreed with the counter within 1 %
# over load and idle phases).
DEFAULT_ENERGY_HZ = 1.0


@dataclass
class PhaseMark:
    """A named span of the run; set output_tokens (inside the with-block or after) to get J/token."""

    name: str
    start_ns: int
    end_ns: int | None = None
    output_tokens: int | None = None


@dataclass
class _Gpu:
    index: int
    handle: Any
    name: str
    energy_base_mj: float | None  # None: no total-energy counter on this GPU
    instant_power: bool = False  # the instantaneous power field answers (else nvmlDeviceGetPowerUsage)
    broken: set[str] = field(default_factory=set)  # fields NVML refused once; not asked again
    rows: list[tuple[float | None, ...]] = field(default_factory=list)  # FIELDS + (energy_j,) per round


def _trapezoid(ts_s: np.ndarray, ys: np.ndarray) -> float:
    return float(np.sum((ys[1:] + ys[:-1]) * 0.5 * np.diff(ts_s))) if len(ts_s) > 1 else 0.0


def interval_integral(ts_ns: Sequence[int], ys: Sequence[float], a_ns: int, b_ns: int) -> float:
    """Trapezoid integral of samples (ts, ys) over [a, b], the ends linearly interpolated (J for W samples)."""
    t = np.asarray(ts_ns, dtype=np.int64)
    y = np.asarray(ys, dtype=np.float64)
    inside = (t > a_ns) & (t < b_ns)
    xs = np.concatenate(([a_ns], t[inside], [b_ns]))
    vals = np.interp(xs.astype(np.float64), t.astype(np.float64), y)
    return _trapezoid((xs - a_ns) / 1e9, vals)


def counter_between(ts_ns: Sequence[int], ys: Sequence[float], a_ns: int, b_ns: int) -> float:
    """Increase of a cumulative counter between a and b, each end linearly interpolated between samples."""
    t = np.asarray(ts_ns, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    lo, hi = np.interp([float(a_ns), float(b_ns)], t, y)
    return float(hi - lo)


class GpuTelemetrySampler:
    """NVML sampler thread at `hz` (1-100, default 20) over `devices` (NVML indices; default all).

    nvml: the pynvml module by default; tests pass an object with the same function names. start(), stop(),
    phase(name) (a context manager that samples at both ends), mark_phase() for spans known afterwards,
    summarize() -> GpuTelemetrySection.
    """

    def __init__(
        self,
        hz: float = 20.0,
        devices: Sequence[int] | None = None,
        *,
        nvml: Any = None,
        clock: Callable[[], int] = time.perf_counter_ns,
        max_timeline_points: int = 2000,
        energy_hz: float = DEFAULT_ENERGY_HZ,
    ) -> None:
        if not MIN_HZ <= hz <= MAX_HZ:
            raise ConfigError(f"GPU sampling rate must be {MIN_HZ:g}-{MAX_HZ:g} Hz, got {hz}")
        if not 0 < energy_hz <= hz:
            raise ConfigError(f"energy counter rate must be > 0 and <= hz ({hz:g}), got {energy_hz}")
        self.hz = float(hz)
        self.energy_period_ns = int(1e9 / energy_hz)
        self._last_energy_ns: int | None = None
        self.devices = list(devices) if devices is not None else None
        self.max_timeline_points = max(2, max_timeline_points)
        self._nvml = nvml
        self._clock = clock
        self.available = False
        self.reason: str | None = "not started"
        self.warnings: list[str] = []
        self.gpus: list[_Gpu] = []
        self.times: list[int] = []
        self.phases: list[PhaseMark] = []
        self.cpu_ns = 0
        self.round_wall_ns = 0
        self.started_ns: int | None = None
        self.stopped_ns: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._inited = False

    # -- NVML --------------------------------------------------------------------------------------------

    def _open(self) -> str | None:
        """Initialise NVML and the GPUs; the reason it could not, or None."""
        nv = self._nvml
        if nv is None:
            try:
                import pynvml as nv
            except ImportError as e:
                return f"pynvml (nvidia-ml-py) is not importable: {e}"
            self._nvml = nv
        try:
            nv.nvmlInit()
        except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...: no GPU here
            return f"NVML did not initialise: {e}"
        self._inited = True
        try:
            count = int(nv.nvmlDeviceGetCount())
        except Exception as e:
            return f"NVML could not count GPUs: {e}"
        indices = self.devices if self.devices is not None else list(range(count))
        if not indices:
            return "NVML sees no GPU"
        bad = [i for i in indices if not 0 <= i < count]
        if bad:
            return f"GPU index {bad} not among the {count} NVML devices"
        for i in indices:
            self.gpus.append(self._open_gpu(nv, i))
        return None

    def _open_gpu(self, nv: Any, index: int) -> _Gpu:
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        try:
            name = nv.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
        except Exception:
            name = f"GPU {index}"
        try:
            base: float | None = float(nv.nvmlDeviceGetTotalEnergyConsumption(handle))
        except Exception as e:  # pre-Volta GPUs and some virtualised ones have no counter
            base = None
            self.warnings.append(f"GPU {index}: no NVML total-energy counter ({e}); energy is the power integral")
        gpu = _Gpu(index, handle, name, base)
        gpu.instant_power = self._instant_power_mw(gpu) is not None
        return gpu

    def _instant_power_mw(self, gpu: _Gpu) -> float | None:
        """The instantaneous power field, mW, or None where NVML (or this pynvml) does not give it."""
        try:
            (v,) = self._nvml.nvmlDeviceGetFieldValues(gpu.handle, [NVML_FI_DEV_POWER_INSTANT])
        except Exception:
            return None
        if v.nvmlReturn != 0:
            return None
        kind = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal"}.get(v.valueType, "uiVal")
        return float(getattr(v.value, kind))

    def _power_w(self, gpu: _Gpu) -> float:
        mw = self._instant_power_mw(gpu) if gpu.instant_power else None
        return (mw if mw is not None else self._nvml.nvmlDeviceGetPowerUsage(gpu.handle)) / 1000.0

    def _read(self, gpu: _Gpu, read_energy: bool) -> tuple[float | None, ...]:
        nv = self._nvml
        getters: dict[str, Callable[[], float]] = {
            "util_pct": lambda: nv.nvmlDeviceGetUtilizationRates(gpu.handle).gpu,
            "mem_used_gib": lambda: nv.nvmlDeviceGetMemoryInfo(gpu.handle).used / GIB,
            "power_w": lambda: self._power_w(gpu),
            "sm_clock_mhz": lambda: nv.nvmlDeviceGetClockInfo(gpu.handle, nv.NVML_CLOCK_SM),
            "temp_c": lambda: nv.nvmlDeviceGetTemperature(gpu.handle, nv.NVML_TEMPERATURE_GPU),
        }
        row: list[float | None] = []
        for name in FIELDS:
            row.append(self._get(gpu, name, getters[name]))
        energy = None
        if gpu.energy_base_mj is not None and read_energy:
            mj = self._get(gpu, "energy_j", lambda: nv.nvmlDeviceGetTotalEnergyConsumption(gpu.handle))
            energy = None if mj is None else (mj - gpu.energy_base_mj) / 1000.0
        row.append(energy)
        return tuple(row)

    def _get(self, gpu: _Gpu, name: str, fn: Callable[[], float]) -> float | None:
        if name in gpu.broken:
            return None
        try:
            return float(fn())
        except Exception as e:  # one field NVML will not give (NotSupported, NoPermission): drop it, say so
            gpu.broken.add(name)
            self.warnings.append(f"GPU {gpu.index}: {name} unavailable from NVML ({e})")
            return None

    # -- sampling ----------------------------------------------------------------------------------------

    def start(self, background: bool = True) -> GpuTelemetrySampler:
        """Open NVML and start the thread (background=False: samples only on sample_now() and phase ends)."""
        self.reason = self._open()
        self.available = self.reason is None
        self.started_ns = self._clock()
        if self.available:
            self.sample_now()
            if background:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="gpu-telemetry", daemon=True)
                self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread, take a last sample, shut NVML down."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.available:
            self.sample_now()
        self.stopped_ns = self._clock()
        if self._inited:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._inited = False

    def __enter__(self) -> GpuTelemetrySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        cpu0 = time.thread_time_ns()
        period_ns = int(1e9 / self.hz)
        next_ns = self._clock()
        while True:
            now = self._clock()
            next_ns += period_ns
            if next_ns <= now:  # a slow round: skip the ticks it overran, keep the grid
                next_ns += ((now - next_ns) // period_ns + 1) * period_ns
            if self._stop.wait((next_ns - now) / 1e9):
                break
            due = self._last_energy_ns is None or now - self._last_energy_ns >= self.energy_period_ns - period_ns // 2
            self._round(count_cpu=False, read_energy=due)
        self.cpu_ns += time.thread_time_ns() - cpu0  # the whole thread: rounds, wake-ups, bookkeeping

    def sample_now(self) -> int | None:
        """One sampling round now, energy counter included (thread-safe); its timestamp, or None without NVML."""
        return self._round(count_cpu=True, read_energy=True) if self.available else None

    def _round(self, count_cpu: bool, read_energy: bool) -> int:
        with self._lock:
            cpu0 = time.thread_time_ns()
            t_a = self._clock()
            rows = [self._read(g, read_energy) for g in self.gpus]
            t_b = self._clock()
            t = (t_a + t_b) // 2
            if read_energy:
                self._last_energy_ns = t
            for g, row in zip(self.gpus, rows, strict=True):
                g.rows.append(row)
            self.times.append(t)
            self.round_wall_ns += t_b - t_a
            if count_cpu:
                self.cpu_ns += time.thread_time_ns() - cpu0
            return t

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[PhaseMark]:
        """Mark a phase; a sample is taken at each end so its energy has exact boundaries."""
        mark = PhaseMark(name, self._boundary())
        try:
            yield mark
        finally:
            mark.end_ns = self._boundary()
            self.phases.append(mark)

    def _boundary(self) -> int:
        t = self.sample_now()
        return t if t is not None else self._clock()

    def mark_phase(self, name: str, start_ns: int, end_ns: int, output_tokens: int | None = None) -> PhaseMark:
        """A phase known afterwards (ends interpolated between samples)."""
        if end_ns < start_ns:
            raise ConfigError(f"phase {name!r} ends before it starts")
        mark = PhaseMark(name, start_ns, end_ns, output_tokens)
        self.phases.append(mark)
        return mark

    # -- results -----------------------------------------------------------------------------------------

    def _column(self, gpu: _Gpu, col: int) -> tuple[list[int], list[float]]:
        pts = [(t, row[col]) for t, row in zip(self.times, gpu.rows, strict=True) if row[col] is not None]
        return [t for t, _ in pts], [v for _, v in pts]

    def _energy(self, gpu: _Gpu, a_ns: int, b_ns: int) -> float | None:
        if gpu.energy_base_mj is not None and "energy_j" not in gpu.broken:
            ts, es = self._column(gpu, len(FIELDS))
            return counter_between(ts, es, a_ns, b_ns) if len(ts) >= 2 else None
        ts, ps = self._column(gpu, FIELDS.index("power_w"))
        return interval_integral(ts, ps, a_ns, b_ns) if len(ts) >= 2 else None

    @staticmethod
    def _source(gpu: _Gpu) -> str:
        counter = gpu.energy_base_mj is not None and "energy_j" not in gpu.broken
        return "nvml_energy_counter" if counter else "power_integral"

    def _phase(self, mark: PhaseMark, t0_ns: int) -> PhaseEnergy:
        end = mark.end_ns if mark.end_ns is not None else self._clock()
        per_gpu = [self._energy(g, mark.start_ns, end) for g in self.gpus]
        sources = {self._source(g) for g in self.gpus}
        duration = (end - mark.start_ns) / 1e9
        out = PhaseEnergy(
            name=mark.name,
            start_s=(mark.start_ns - t0_ns) / 1e9,
            end_s=(end - t0_ns) / 1e9,
            duration_s=duration,
            per_gpu_energy_j=per_gpu,
            energy_source=sources.pop() if len(sources) == 1 else "mixed",
            output_tokens=mark.output_tokens,
        )
        utils = [
            row[0]
            for g in self.gpus
            for t, row in zip(self.times, g.rows, strict=True)
            if mark.start_ns <= t <= end and row[0] is not None
        ]
        out.mean_util_pct = sum(utils) / len(utils) if utils else None
        if not self.times or mark.start_ns < self.times[0] or end > self.times[-1]:
            out.reason = "the phase reaches beyond the samples; its ends are clamped to them"
        if any(e is None for e in per_gpu):
            out.reason = "fewer than two samples with energy or power on some GPU"
            return out
        out.energy_j = float(sum(per_gpu))  # type: ignore[arg-type]
        out.mean_power_w = out.energy_j / duration if duration > 0 else None
        if mark.output_tokens:
            out.j_per_output_token = out.energy_j / mark.output_tokens
        elif out.reason is None:
            out.reason = "no output token count given for this phase"
        return out

    def _timeline(self, gpu: _Gpu, t0_ns: int, stride: int) -> GpuTimeline:
        idx = list(range(0, len(self.times), stride))
        if self.times and idx[-1] != len(self.times) - 1:
            idx.append(len(self.times) - 1)
        samples = [
            GpuSample(
                t_s=(self.times[i] - t0_ns) / 1e9,
                **dict(zip(FIELDS, gpu.rows[i][:-1], strict=True)),
                energy_j=gpu.rows[i][-1],
            )
            for i in idx
        ]
        out = GpuTimeline(
            index=gpu.index,
            name=gpu.name,
            energy_source=self._source(gpu),
            power_source="instant" if gpu.instant_power else "average",
            samples=samples,
        )
        if len(self.times) >= 2:
            out.energy_j = self._energy(gpu, self.times[0], self.times[-1])
            span = (self.times[-1] - self.times[0]) / 1e9
            out.mean_power_w = out.energy_j / span if out.energy_j is not None and span > 0 else None
        powers = self._column(gpu, FIELDS.index("power_w"))[1]
        utils = self._column(gpu, FIELDS.index("util_pct"))[1]
        mems = self._column(gpu, FIELDS.index("mem_used_gib"))[1]
        out.max_power_w = max(powers) if powers else None
        out.mean_util_pct = sum(utils) / len(utils) if utils else None
        out.max_mem_used_gib = max(mems) if mems else None
        return out

    def summarize(self, t0_ns: int | None = None) -> GpuTelemetrySection:
        """The section; t_s values are seconds from t0_ns (default: the first sample)."""
        with self._lock:
            if t0_ns is None:
                t0_ns = self.times[0] if self.times else self.started_ns or 0
            sec = GpuTelemetrySection(
                available=self.available and bool(self.times),
                reason=self.reason,
                hz=self.hz,
                energy_hz=1e9 / self.energy_period_ns,
                t0_s=t0_ns / 1e9,
                samples=len(self.times),
                warnings=list(self.warnings),
            )
            if not sec.available:
                sec.reason = sec.reason or "no sample was taken"
                return sec
            stride = max(1, math.ceil(len(self.times) / self.max_timeline_points))
            sec.timeline_stride = stride
            span_s = (self.times[-1] - self.times[0]) / 1e9
            sec.duration_s = span_s
            sec.achieved_hz = (len(self.times) - 1) / span_s if span_s > 0 else None
            sec.gpus = [self._timeline(g, t0_ns, stride) for g in self.gpus]
            sec.phases = [self._phase(m, t0_ns) for m in self.phases]
            wall_s = ((self.stopped_ns or self._clock()) - (self.started_ns or self.times[0])) / 1e9
            sec.sampler_cpu_s = self.cpu_ns / 1e9
            sec.sampler_cpu_s_per_s = sec.sampler_cpu_s / wall_s if wall_s > 0 else None
            sec.sample_ms_mean = self.round_wall_ns / len(self.times) / 1e6
            return sec
