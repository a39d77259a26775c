"""The machine-speed reference timed beside a run: a few samples before the tests, one after each, two after.

Interleaved so that the reference sees the load the tests saw (gate/machine_reference.py says why), and
stored in report.samples.machine_reference, hence in any baseline made from the report. ~40 ms a sample on a
small x86 core, so ~0.3 s for a run of three tests.
"""

from __future__ import annotations

from mm_orch.gate.machine_reference import ReferenceWorkload
from mm_orch.report.samples import ReferenceSamples, RequestSamples, SamplesSection

BEFORE = 2
AFTER = 2


class ReferenceTimer:
    """Takes reference samples on request; `section(...)` builds the report's samples."""

    def __init__(self) -> None:
        self.workload = ReferenceWorkload()
        self.walls: list[float] = []
        self.cpus: list[float] = []
        self.when: list[str] = []
        self._warm = False

    def take(self, when: str, n: int = 1) -> None:
        if not self._warm:  # the first BLAS call starts threads and can take 10x longer
            self.workload.sample()
            self._warm = True
        for _ in range(n):
            w, c = self.workload.sample()
            self.walls.append(w)
            self.cpus.append(c)
            self.when.append(when)

    def before(self) -> None:
        self.take("before", BEFORE)

    def after_test(self, test: str) -> None:
        self.take(f"after_{test}")

    def after(self) -> None:
        self.take("after", AFTER)

    def reference(self) -> ReferenceSamples | None:
        if not self.walls:
            return None
        from mm_orch.gate.machine_reference import MachineReference

        machine = MachineReference.from_samples(self.workload.id, self.workload.version, [1.0]).machine
        return ReferenceSamples(workload_id=self.workload.id, version=self.workload.version,
                                samples_ms=self.walls, cpu_samples_ms=self.cpus, when=self.when, machine=machine)


def samples_section(latency: RequestSamples | None, timer: ReferenceTimer | None) -> SamplesSection | None:
    reference = timer.reference() if timer is not None else None
    if latency is None and reference is None:
        return None
    return SamplesSection(latency=latency, machine_reference=reference)
