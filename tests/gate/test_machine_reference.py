"""The machine-speed reference: stable id, real timings, normalization, refusal in one line, interleaving."""

import os

import numpy as np
import pytest

from mm_orch.errors import ConfigError
from mm_orch.gate.machine_reference import (
    MachineReference,
    ReferenceWorkload,
    check_comparable,
    interleave,
    measure_reference,
    normalize,
    speed_ratio,
)
from tests.gate.rivals import start_rivals, stop_rivals

SMALL = {"matmul_n": 32, "matmul_reps": 50, "loop_n": 200_000}  # ~12 ms a sample: keeps the tests fast


def ref(median: float, workload_id: str = "w", version: int = 1) -> MachineReference:
    return MachineReference.from_samples(workload_id, version, [median * 0.98, median, median * 1.03])


def test_default_workload_is_timed_and_stored():
    r = measure_reference(repeats=3)
    assert r.workload_id == "mm_orch-ref-v1:matmul48x2500+pyloop300000" and r.version == 1
    assert len(r.samples_ms) == len(r.cpu_samples_ms) == 3
    assert r.median_ms == pytest.approx(float(np.median(r.samples_ms)))
    assert 5 < r.median_ms < 1000  # ~40 ms on a quiet 2-core x86 machine
    # one thread: CPU time never exceeds wall time (a threaded BLAS would show CPU > wall)
    assert all(0 < c <= w * 1.05 + 1 for w, c in zip(r.samples_ms, r.cpu_samples_ms, strict=True)), r
    assert "CPU(s)" in r.machine
    assert MachineReference.model_validate_json(r.model_dump_json()) == r


def test_sizes_are_part_of_the_id_and_validated():
    assert ReferenceWorkload(**SMALL).id != ReferenceWorkload().id
    with pytest.raises(ConfigError):
        ReferenceWorkload(loop_n=0)
    with pytest.raises(ConfigError):
        ReferenceWorkload(**SMALL).measure(repeats=0)


def test_check_comparable_accepts_or_refuses_in_one_line():
    base = ref(40.0)
    assert check_comparable(base, ref(44.0)) is None
    assert speed_ratio(base, ref(44.0)) == pytest.approx(1.1)
    slow = check_comparable(base, ref(80.0), max_ratio=1.5)
    assert slow == (
        "this machine ran the reference workload 2.00x slower than the baseline's (80.0 vs 40.0 ms median; limit 1.5x)"
    )
    assert "2.00x faster" in check_comparable(base, ref(20.0), max_ratio=1.5)
    assert "different workloads" in check_comparable(base, ref(40.0, workload_id="other"))
    assert "different workloads" in check_comparable(base, ref(40.0, version=2))
    assert check_comparable(None, base) == "the baseline has no machine reference, so the machines cannot be compared"
    empty = MachineReference.from_samples("w", 1, [])
    assert empty.median_ms is None and check_comparable(base, empty) == "a machine reference has no samples"
    for msg in (slow, check_comparable(None, base)):
        assert "\n" not in msg
    with pytest.raises(ConfigError):
        check_comparable(base, base, max_ratio=0.5)


def test_normalize_by_speed_ratio():
    assert normalize(12.0, 1.2) == pytest.approx(10.0)  # a time measured on a 1.2x slower machine
    assert normalize(100.0, 1.2, lower_is_better=False) == pytest.approx(120.0)  # a rate


class LoggedWorkload(ReferenceWorkload):
    def __init__(self, log):
        super().__init__(**SMALL)
        self.log = log

    def sample(self):
        self.log.append("ref")
        return super().sample()


def test_interleave_runs_reference_between_steps():
    log = []
    results, reference = interleave(LoggedWorkload(log), lambda i: log.append(f"s{i}") or i * i, 5, every=2)
    assert results == [0, 1, 4, 9, 16]
    # warm-up, then a sample before the first step, after every 2 steps and after the last
    assert log == ["ref", "ref", "s0", "s1", "ref", "s2", "s3", "ref", "s4", "ref"]
    assert len(reference.samples_ms) == 4 and reference.workload_id == ReferenceWorkload(**SMALL).id
    _, none = interleave(LoggedWorkload([]), lambda i: i, 0, warmup=0)
    assert len(none.samples_ms) == 1
    with pytest.raises(ConfigError):
        interleave(LoggedWorkload([]), lambda i: i, 3, every=0)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_reference_sees_a_busier_machine_and_refuses_it():
    """Four spinning rivals on our core: the reference waits for the core (wall >> CPU), and against
    the same workload's cost on a free core (its CPU time, which waiting does not add to) the run is refused.

    The free-core figure comes from the CPU clock rather than from a "quiet" measurement beforehand because
    nothing guarantees quiet on a shared machine: other jobs may hold this core at any moment.
    """
    work = ReferenceWorkload(**SMALL)
    cpu0 = min(os.sched_getaffinity(0))
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu0})
    rivals = []
    try:
        work.sample()
        rivals = start_rivals(cpu0, 4)
        busy = work.measure(repeats=3, warmup=0)
    finally:
        stop_rivals(rivals)
        os.sched_setaffinity(0, saved)
    # the median sample waited (one sample may slip through a scheduler slice before the rivals get going)
    assert busy.contention > 1.8, busy
    free = MachineReference.from_samples(busy.workload_id, busy.version, busy.cpu_samples_ms, busy.cpu_samples_ms)
    assert free.contention == pytest.approx(1.0)
    assert speed_ratio(free, busy) == pytest.approx(busy.contention)
    reason = check_comparable(free, busy, max_ratio=1.3)
    assert reason is not None and "slower than the baseline's" in reason
