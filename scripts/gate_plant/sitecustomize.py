"""A planted per-token slowdown for scripts/gate_power.py only: never on a path users run.

Put this folder on PYTHONPATH and set MM_ORCH_PLANT_PCT=<X>: every decode step of the hf engine (its
streamer's put(), called once per step with the step's tokens; the first call follows the prefill) is then
followed by a busy-wait that burns X % of the thread CPU time the step itself took, as if the decode step had
become X % more expensive. Proportional on purpose: a regression in the decode loop costs more where the step
costs more (a busy machine inflates CPU time too), so +25 % is +25 % of the step on a quiet machine and on a
busy one; a fixed busy-wait would be diluted under load. The wait spins on the thread's CPU clock, so it is
computation, not sleep. Without MM_ORCH_PLANT_PCT (or 0) nothing is patched.

MM_ORCH_PLANT_CLOCK=wall measures the step and the wait in wall time instead (a GPU engine: the step's time
is the device's, not this thread's CPU), still as a busy loop, so the next step starts that much later.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import time

TARGET = "mm_orch.engines.hf.engine"
PLANT = float(os.environ.get("MM_ORCH_PLANT_PCT", "0") or 0) / 100.0
CLOCK = time.perf_counter_ns if os.environ.get("MM_ORCH_PLANT_CLOCK") == "wall" else time.thread_time_ns


def _patch(module) -> None:
    cls = module._TimingStreamer
    init, put = cls.__init__, cls.put

    def patched_init(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        self._plant_t = CLOCK()

    def patched_put(self, value) -> None:
        put(self, value)
        now = CLOCK()
        until = now + int((now - getattr(self, "_plant_t", now)) * PLANT)
        x = 0
        while CLOCK() < until:  # the clock is a system call: read it every ~20 us, not in a tight loop
            for i in range(300):
                x = (x * 31 + i) % 1000003
        self._plant_t = CLOCK()

    cls.__init__, cls.put = patched_init, patched_put


class _Finder(importlib.abc.MetaPathFinder):
    """Patches the hf engine's module right after it is first imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                run = spec.loader.exec_module

                def exec_module(module, run=run):
                    run(module)
                    _patch(module)

                spec.loader.exec_module = exec_module
                return spec
        return None


if PLANT > 0:
    sys.meta_path.insert(0, _Finder())
