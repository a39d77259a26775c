"""Processes that compete for one core, for the tests of figures that contention inflates (or does not)."""

from __future__ import annotations

import os
import signal
import time


def start_rivals(cpu: int, count: int) -> list[int]:
    """`count` forked processes spinning on `cpu` (for at most 10 s); returns their pids once all run there.

    Forked rather than spawned: a fresh interpreter takes ~0.1-0.5 s to start on this loaded machine."""
    ready, signal_ready = os.pipe()
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the child spins and never returns into pytest
            try:
                os.sched_setaffinity(0, {cpu})
                os.write(signal_ready, b"g")
                end = time.monotonic() + 10
                while time.monotonic() < end:
                    pass
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(signal_ready)
    got = b""
    while len(got) < count:
        chunk = os.read(ready, count)
        if not chunk:
            break
        got += chunk
    os.close(ready)
    if len(got) < count:
        stop_rivals(pids)
        raise RuntimeError("a rival process did not start")
    return pids


def stop_rivals(pids: list[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
