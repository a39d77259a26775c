"""Figures that contention from other processes cannot inflate: this process's CPU time beside wall time.

Why: on a shared machine, wall time per token grows whenever another process holds a core, so a wall-time
gate either fails on noise or is set too loose to see a real regression. The CPU time this process (or one of
its threads) spent is not charged while it waits for a core, so CPU ms per token of an in-process CPU engine
moves far less under load. It is not immune: cache and memory-bandwidth sharing, SMT siblings and frequency
scaling still move it somewhat, and a spinning wait inside the engine counts as CPU time. So both figures are
recorded, and the gate uses the CPU figure only when the machine was busy (`machine_busy`, `gated_figure`).

Clocks: wall = time.perf_counter_ns (the project's one monotonic clock); process CPU = time.process_time_ns
(user + system of all threads of this process, so engine thread pools are included, and so are any sampler
threads of ours); thread CPU = time.thread_time_ns of the thread that entered the clock (for an engine that
decodes on one thread, the purest figure).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import psutil
from pydantic import BaseModel, ConfigDict

# Thresholds of `machine_busy`: load from OTHER processes (1-minute load average minus this process's own
# runnable threads) of 0.25 per logical CPU means one CPU in four is wanted by someone else, enough to put a
# wall-time figure of an all-cores engine visibly off; 5 % steal means the hypervisor is taking cores away.
BUSY_LOAD_PER_CPU = 0.25
BUSY_STEAL_PCT = 5.0


class ClockReading(BaseModel):
    """Elapsed wall, process-CPU and thread-CPU time of one measured span, in nanoseconds."""

    model_config = ConfigDict(extra="forbid")

    wall_ns: int
    process_cpu_ns: int
    thread_cpu_ns: int

    @property
    def wall_ms(self) -> float:
        return self.wall_ns / 1e6

    @property
    def cpu_ms(self) -> float:
        return self.process_cpu_ns / 1e6

    @property
    def thread_cpu_ms(self) -> float:
        return self.thread_cpu_ns / 1e6

    @property
    def cpu_share(self) -> float | None:
        """Process CPU time / wall time: ~1 per busy thread; below the engine's thread count means waiting."""
        return None if self.wall_ns <= 0 else self.process_cpu_ns / self.wall_ns

    def per(self, count: int) -> dict[str, float | None]:
        """Milliseconds per unit (token, request) of each clock; None for a zero count, never 0."""
        if count <= 0:
            return {"wall_ms": None, "cpu_ms": None, "thread_cpu_ms": None}
        return {
            "wall_ms": self.wall_ms / count,
            "cpu_ms": self.cpu_ms / count,
            "thread_cpu_ms": self.thread_cpu_ms / count,
        }


class CpuClock:
    """Context manager reading wall, process-CPU and thread-CPU clocks together.

    >>> with CpuClock() as clock:
    ...     run_requests()
    >>> clock.reading.per(tokens)["cpu_ms"]   # CPU ms per token

    `elapsed()` gives a reading while the span is still open (for per-request laps). The thread clock is that
    of the thread that entered the span; read `elapsed()` from that same thread.
    """

    def __init__(self) -> None:
        self._start: tuple[int, int, int] | None = None
        self.reading: ClockReading | None = None

    @staticmethod
    def _now() -> tuple[int, int, int]:
        return time.perf_counter_ns(), time.process_time_ns(), time.thread_time_ns()

    def start(self) -> CpuClock:
        self._start = self._now()
        self.reading = None
        return self

    def elapsed(self) -> ClockReading:
        if self._start is None:
            raise RuntimeError("CpuClock was not started")
        w, p, t = self._now()
        w0, p0, t0 = self._start
        return ClockReading(wall_ns=w - w0, process_cpu_ns=p - p0, thread_cpu_ns=t - t0)

    def stop(self) -> ClockReading:
        self.reading = self.elapsed()
        return self.reading

    def __enter__(self) -> CpuClock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class BusyVerdict(BaseModel):
    """Whether the machine was busy with other work, from what, and the one line that says so."""

    model_config = ConfigDict(extra="forbid")

    busy: bool
    load1: float | None
    own_load: float
    cpu_count: int
    other_load_per_cpu: float | None
    steal_pct: float | None
    reason: str


def read_steal_pct(interval: float = 0.1) -> float | None:
    """CPU steal in % over `interval` seconds (Linux guests); None where the platform does not report it."""
    pct = psutil.cpu_times_percent(interval=interval)
    steal = getattr(pct, "steal", None)
    return None if steal is None else float(steal)


def machine_busy(
    load1: float | Sequence[float] | None = None,
    cpu_count: int | None = None,
    steal_pct: float | None = None,
    own_load: float = 0.0,
    load_per_cpu_threshold: float = BUSY_LOAD_PER_CPU,
    steal_threshold_pct: float = BUSY_STEAL_PCT,
) -> BusyVerdict:
    """Was the machine busy with OTHER processes? Decides whether a gate should trust wall time.

    `load1`: 1-minute load average(s) sampled during the run (the highest counts, since the average lags);
    None reads ``psutil.getloadavg()`` now. `own_load`: runnable threads this process itself contributed,
    e.g. a `ClockReading.cpu_share` of the measured phase, subtracted so that an engine using every core does
    not call its own machine busy. Busy when the others' load per logical CPU reaches
    `load_per_cpu_threshold` (default 0.25) or steal reaches `steal_threshold_pct` (default 5 %).
    """
    cpus = int(cpu_count or psutil.cpu_count(logical=True) or os.cpu_count() or 1)
    if load1 is None:
        try:
            load = float(psutil.getloadavg()[0])
        except (OSError, AttributeError):
            load = None
    elif isinstance(load1, (int, float)):
        load = float(load1)
    else:
        values = [float(v) for v in load1]
        load = max(values) if values else None
    own = max(0.0, float(own_load))
    parts: list[str] = []
    busy = False
    other_per_cpu = None
    if load is not None:
        other_per_cpu = max(0.0, load - own) / cpus
        over = other_per_cpu >= load_per_cpu_threshold
        busy |= over
        parts.append(
            f"load {load:.2f} - own {own:.2f} over {cpus} CPU(s) = {other_per_cpu:.2f} per CPU "
            f"({'>=' if over else '<'} {load_per_cpu_threshold:g})"
        )
    if steal_pct is not None:
        over = steal_pct >= steal_threshold_pct
        busy |= over
        parts.append(f"steal {steal_pct:.1f} % ({'>=' if over else '<'} {steal_threshold_pct:g} %)")
    if not parts:
        parts.append("no load average or steal reading on this platform")
    reason = ("machine busy: " if busy else "machine quiet: ") + "; ".join(parts)
    return BusyVerdict(
        busy=busy,
        load1=load,
        own_load=own,
        cpu_count=cpus,
        other_load_per_cpu=other_per_cpu,
        steal_pct=steal_pct,
        reason=reason,
    )


def gated_figure(busy: BusyVerdict, has_cpu_figure: bool) -> tuple[str, str]:
    """Which figure to gate on ("wall" or "cpu") and the note for `GateResult.gated_figures`.

    Wall time is what users feel, so it is gated whenever it can be trusted; CPU time replaces it only on a
    busy machine and only where the engine has one (in-process CPU engines).
    """
    if busy.busy and has_cpu_figure:
        return "cpu", f"cpu time gated: {busy.reason}"
    if busy.busy:
        return "wall", f"wall time gated although {busy.reason} (no CPU-time figure for this engine)"
    return "wall", f"wall time gated: {busy.reason}"
