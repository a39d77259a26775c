"""Early stop of an open-loop run that is clearly over capacity: its queue grows without bound.

A QueueWatch goes with one run (load/async_client.dispatch_async, and the serialized runner): it hears each request
end and is asked before each send. At half the schedule it looks once at the requests that have ended (E2E from
their due time against their due time: slo_search.queue_growing); if the wait grows without bound the rest of the
schedule is not sent. Over capacity nothing the rest would measure changes the verdict (the SLO fails), and the
queue only grows longer: the search's probes and the saturation curve's rates stop there and say so.
"""

from __future__ import annotations

import threading

from mm_orch.load.slo_search import queue_growing


class QueueWatch:
    def __init__(self, span_ns: int, at: float = 0.5, enabled: bool = True) -> None:
        """span_ns: the schedule's length (first to last due); the look comes at `at` of it."""
        self.span_ns, self.at, self.enabled = span_ns, at, enabled
        self._ended: list[tuple[int, int]] = []  # (due, end) of each request that ended
        self._lock = threading.Lock()  # the threads runner reports ends from its loop, the serialized one inline
        self._first: int | None = None
        self.looked = False
        self.growing = False
        self.stopped_at_ns: int | None = None  # due time (after the first) of the first request not sent

    def ended(self, due_ns: int, end_ns: int) -> None:
        with self._lock:
            self._ended.append((due_ns, end_ns))

    def stop(self, due_ns: int) -> bool:
        if self._first is None:
            self._first = due_ns
        if self.looked or due_ns - self._first < self.at * self.span_ns:
            return False
        self.looked = True
        self.growing = self.grows()
        if self.growing and self.enabled:
            self.stopped_at_ns = due_ns - self._first
            return True
        return False

    def grows(self) -> bool:
        """The requests ended so far, in arrival order: does their wait grow without bound?"""
        with self._lock:
            ended = sorted(self._ended)
        if self._first is None or not ended:
            return False
        return queue_growing([(d - self._first) / 1e9 for d, _ in ended], [(e - d) / 1e9 for d, e in ended])

    @property
    def reason(self) -> str | None:
        if self.stopped_at_ns is None:
            return None
        return (f"stopped at {self.stopped_at_ns / 1e9:.1f} s of {self.span_ns / 1e9:.1f} s: the queue grew without "
                "bound (E2E from arrival rising with arrival time): over capacity")
