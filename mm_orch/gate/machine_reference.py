"""A machine-speed reference: a short fixed workload timed beside a run, stored with it and with the baseline.

Why: a baseline recorded on a quiet machine and a run on a busier or different one differ for reasons that
have nothing to do with the change under test. Timing the same fixed workload on both sides gives a speed
ratio (ratio of medians) to normalize by, or a one-line reason to refuse the comparison when the machines
differ too much for a ratio to be trusted. Interleaving reference samples between the run's steps
(`interleave`) makes the reference see the same load the run saw, not the load of some other minute.

The workload has two parts of roughly 20 ms each on a small x86 core, both on one thread: a chain of small
numpy matmuls (48 x 48, below the size at which OpenBLAS starts threads) and a pure-python integer loop
(interpreter-bound). One thread on purpose: measured on this 2-core machine at load ~3, a 256 x 256 matmul
with multi-threaded BLAS took 1.3 s against ~15 ms quiet (threads stalling at barriers while a peer is
descheduled), a swing that measures oversubscription, not machine speed. The id names the version and sizes,
so references of different workloads are never compared.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from mm_orch.errors import ConfigError

WORKLOAD_VERSION = 1
DEFAULT_MAX_RATIO = 1.5

T = TypeVar("T")


class MachineReference(BaseModel):
    """Timed samples of one reference workload on one machine (wall and process-CPU ms per sample)."""

    model_config = ConfigDict(extra="forbid")

    workload_id: str
    version: int
    samples_ms: list[float]
    cpu_samples_ms: list[float] = []
    median_ms: float | None
    machine: str = ""

    @classmethod
    def from_samples(
        cls, workload_id: str, version: int, samples_ms: list[float], cpu_samples_ms: list[float] | None = None
    ) -> MachineReference:
        median = float(np.median(samples_ms)) if samples_ms else None
        return cls(
            workload_id=workload_id,
            version=version,
            samples_ms=list(samples_ms),
            cpu_samples_ms=list(cpu_samples_ms or []),
            median_ms=median,
            machine=_machine(),
        )

    @property
    def contention(self) -> float | None:
        """Median wall / median CPU time of the samples: ~1.0 when the workload had a core to itself, 2.0 when it
        waited for one half the time. The workload is single-threaded, so this reads how busy the machine was."""
        if self.median_ms is None or not self.cpu_samples_ms:
            return None
        cpu = float(np.median(self.cpu_samples_ms))
        return None if cpu <= 0 else self.median_ms / cpu


def _machine() -> str:
    return f"{platform.machine()} {platform.system()} {os.cpu_count()} CPU(s), python {platform.python_version()}"


class ReferenceWorkload:
    """The fixed reference workload; the sizes are part of its id. Defaults take ~20 ms per part, one thread."""

    def __init__(self, matmul_n: int = 48, matmul_reps: int = 2500, loop_n: int = 300_000) -> None:
        if matmul_n < 1 or matmul_reps < 1 or loop_n < 1:
            raise ConfigError("reference workload sizes must be positive")
        self.matmul_n = matmul_n
        self.matmul_reps = matmul_reps
        self.loop_n = loop_n
        self.version = WORKLOAD_VERSION
        self.id = f"mm_orch-ref-v{WORKLOAD_VERSION}:matmul{matmul_n}x{matmul_reps}+pyloop{loop_n}"
        rng = np.random.default_rng(12345)
        self._a = rng.standard_normal((matmul_n, matmul_n))
        self._b = rng.standard_normal((matmul_n, matmul_n))

    def _work(self) -> float:
        acc = self._a
        b = self._b / self.matmul_n**0.5
        for _ in range(self.matmul_reps):
            acc = np.tanh(acc @ b)  # tanh keeps values bounded (no overflow, no denormals): every rep costs the same
        s = 0
        for i in range(self.loop_n):
            s = (s * 31 + i) % 1_000_003
        return float(acc[0, 0]) + s  # used, so nothing is optimised away

    def sample(self) -> tuple[float, float]:
        """One timed run: (wall ms, process-CPU ms)."""
        w0, c0 = time.perf_counter_ns(), time.process_time_ns()
        self._work()
        return (time.perf_counter_ns() - w0) / 1e6, (time.process_time_ns() - c0) / 1e6

    def measure(self, repeats: int = 5, warmup: int = 1) -> MachineReference:
        """`warmup` untimed runs (BLAS thread start-up, page faults), then `repeats` timed ones."""
        if repeats < 1:
            raise ConfigError(f"reference repeats must be at least 1, not {repeats}")
        for _ in range(warmup):
            self._work()
        walls, cpus = zip(*(self.sample() for _ in range(repeats)), strict=True)
        return MachineReference.from_samples(self.id, self.version, list(walls), list(cpus))


def measure_reference(repeats: int = 5, warmup: int = 1, workload: ReferenceWorkload | None = None) -> MachineReference:
    """Time the (default) reference workload `repeats` times."""
    return (workload or ReferenceWorkload()).measure(repeats=repeats, warmup=warmup)


def speed_ratio(base_ref: MachineReference, cur_ref: MachineReference) -> float:
    """Current median / baseline median: above 1 the current machine (or moment) is slower."""
    if base_ref.median_ms is None or cur_ref.median_ms is None or base_ref.median_ms <= 0:
        raise ConfigError("a machine reference without samples has no speed ratio")
    return cur_ref.median_ms / base_ref.median_ms


def check_comparable(
    base_ref: MachineReference | None, cur_ref: MachineReference | None, max_ratio: float = DEFAULT_MAX_RATIO
) -> str | None:
    """None when the two references allow a comparison, else the one-line reason to refuse it.

    Refused: a missing reference, a different workload (id or version), no samples, or a speed ratio beyond
    `max_ratio` either way (a machine 1.5x slower or faster changes more than a ratio can correct: cache
    sizes, thread counts, contention patterns).
    """
    if max_ratio < 1:
        raise ConfigError(f"max_ratio must be at least 1, not {max_ratio}")
    if base_ref is None or cur_ref is None:
        side = "baseline" if base_ref is None else "current run"
        return f"the {side} has no machine reference, so the machines cannot be compared"
    if (base_ref.workload_id, base_ref.version) != (cur_ref.workload_id, cur_ref.version):
        return (
            f"machine references measured different workloads ({base_ref.workload_id} v{base_ref.version} "
            f"vs {cur_ref.workload_id} v{cur_ref.version})"
        )
    if base_ref.median_ms is None or cur_ref.median_ms is None or base_ref.median_ms <= 0:
        return "a machine reference has no samples"
    ratio = speed_ratio(base_ref, cur_ref)
    if ratio > max_ratio or ratio < 1 / max_ratio:
        how = "slower" if ratio > 1 else "faster"
        return (
            f"this machine ran the reference workload {max(ratio, 1 / ratio):.2f}x {how} than the baseline's "
            f"({cur_ref.median_ms:.1f} vs {base_ref.median_ms:.1f} ms median; limit {max_ratio:g}x)"
        )
    return None


def normalize(value: float, ratio: float, lower_is_better: bool = True) -> float:
    """A current figure expressed at the baseline machine's speed.

    Times (lower is better) are divided by the speed ratio, rates (higher is better) multiplied by it.
    """
    return value / ratio if lower_is_better else value * ratio


def interleave(
    reference: ReferenceWorkload, step: Callable[[int], T], n_steps: int, every: int = 1, warmup: int = 1
) -> tuple[list[T], MachineReference]:
    """Run `step(i)` for i in range(n_steps) with a reference sample before the first step, after every
    `every` steps and after the last, so the reference sees the load the steps saw. `warmup` untimed
    reference runs come first (the first BLAS call starts threads and can take 10x longer).

    Returns the steps' results in order and the reference built from the interleaved samples.
    """
    if n_steps < 0 or every < 1:
        raise ConfigError(f"interleave needs n_steps >= 0 and every >= 1, not {n_steps} and {every}")
    walls: list[float] = []
    cpus: list[float] = []

    def ref() -> None:
        w, c = reference.sample()
        walls.append(w)
        cpus.append(c)

    results: list[T] = []
    for _ in range(warmup):
        reference.sample()
    ref()
    for i in range(n_steps):
        results.append(step(i))
        if (i + 1) % every == 0 or i == n_steps - 1:
            ref()
    return results, MachineReference.from_samples(reference.id, reference.version, walls, cpus)
