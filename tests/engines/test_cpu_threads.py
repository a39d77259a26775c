"""cpu_threads: auto keeps all cores only when a timed step is clearly faster with them, and one thread on
a busy machine; the step here sleeps for a time set by torch's thread count, so the answer is known."""

from __future__ import annotations

import os
import time

import pytest
import torch

from mm_orch.engines import cpu_threads

EVERY = os.cpu_count() or 1


@pytest.fixture
def every():
    """torch's thread count set to every core (some builds bound elsewhere in the process keep fewer)."""
    before = torch.get_num_threads()
    torch.set_num_threads(EVERY)
    n = torch.get_num_threads()
    if n < 2:
        torch.set_num_threads(before)
        pytest.skip("torch keeps one thread in this process")
    yield n
    torch.set_num_threads(before)


def _step(ms_one: float, ms_all: float, calls: list[int]):
    def step() -> None:
        n = torch.get_num_threads()
        calls.append(n)
        time.sleep((ms_one if n == 1 else ms_all) / 1e3)

    return step


@pytest.mark.parametrize(("ms_one", "ms_all", "all_cores"), [(12.0, 4.0, True), (5.0, 4.8, False),
                                                          (4.0, 12.0, False)])
def test_auto_keeps_all_cores_only_when_clearly_faster(every, monkeypatch, ms_one, ms_all, all_cores):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    calls: list[int] = []
    threads, probes = cpu_threads.choose_cpu_threads("auto", _step(ms_one, ms_all, calls))
    assert threads == (every if all_cores else 1) == torch.get_num_threads()
    assert set(probes) == {1, every} and probes[1] >= ms_one / 1e3 and probes[every] >= ms_all / 1e3
    assert set(calls) == {1, every}


def test_auto_on_a_busy_machine_is_one_thread_without_a_probe(every, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (every + 2.0, 1.0, 1.0))
    calls: list[int] = []
    assert cpu_threads.choose_cpu_threads("auto", _step(12.0, 1.0, calls)) == (1, {})
    assert calls == [] and torch.get_num_threads() == 1


def test_a_number_is_used_as_given(every):
    calls: list[int] = []
    assert cpu_threads.choose_cpu_threads(1, _step(1.0, 1.0, calls)) == (1, {})
    assert calls == [] and torch.get_num_threads() == 1
