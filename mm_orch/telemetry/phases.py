"""The run's phases and what the engine served in each, without the tests knowing.

- PhaseTracker stands in for the runner's Progress: every progress.phase(name) the tests already call (latency,
  each throughput level, each open-loop run: a load test, a saturation rate, a max-rate probe) closes the phase
  before and opens the next, after a boundary callback (a server scrape, a GPU sample).
- Tally wraps the engine's stream() and generate() on the instance: every request the engine serves, warm-ups
  included (they draw power and move the server's counters too), is kept as a few integers.
- LoadTap stands in for the run's RequestLog (load/requests_file.py): each open-loop run hands it its records and
  its schedule's start, so the measured window and the client's token sums of every rate are known.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mm_orch.benchmark.progress import Forwarding


def phase_key(name: str) -> str:
    """'throughput: 4 concurrent' -> 'throughput_4_concurrent'; 'load: 200 requests' -> 'load' (a metric-key
    fragment; the request count the progress line adds is dropped)."""
    base = re.sub(r": \d+ requests$", "", name)
    return re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_") or "phase"


@dataclass(slots=True)
class Served:
    """One request as the timeline needs it (perf_counter_ns; first_ns 0 when no token came)."""

    start_ns: int
    first_ns: int
    end_ns: int
    input_tokens: int
    output_tokens: int
    due_ns: int | None = None  # open-loop requests: when the schedule wanted it sent

    @classmethod
    def of(cls, rec: Any, due_ns: int | None = None) -> Served:
        times = rec.token_times_ns
        return cls(rec.start_ns, times[0] if times else 0, rec.end_ns or (times[-1] if times else rec.start_ns),
                   rec.input_tokens, rec.output_tokens, due_ns)


class Tally:
    """Every request the engine serves (its stream() and generate() wrapped on the instance; remove() undoes it)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.served: list[Served] = []
        self._lock = threading.Lock()
        stream, generate = engine.stream, engine.generate

        def counted_stream(request: Any, on_token: Any = None) -> Any:
            rec = stream(request, on_token)
            self._add((rec,))
            return rec

        def counted_generate(requests: Any) -> Any:
            recs = generate(requests)
            self._add(recs)
            return recs

        engine.stream, engine.generate = counted_stream, counted_generate

    def _add(self, recs: Iterable[Any]) -> None:
        rows = [Served.of(r) for r in recs]
        with self._lock:
            self.served += rows

    def remove(self) -> None:
        for name in ("stream", "generate"):
            self.engine.__dict__.pop(name, None)

    def between(self, a_ns: int, b_ns: int) -> list[Served]:
        """The requests that ended in [a, b)."""
        with self._lock:
            return [s for s in self.served if a_ns <= s.end_ns < b_ns]


@dataclass
class Phase:
    name: str
    key: str
    start_ns: int
    end_ns: int | None = None
    scrape_start_ns: int | None = None  # the server scrape taken at its start / end (None: none, or it failed)
    scrape_end_ns: int | None = None
    window_start_ns: int | None = None  # open-loop: the schedule's start .. the last request's end
    window_end_ns: int | None = None
    window_scrape_start_ns: int | None = None  # the scrape asked for as the schedule started
    window_scrape_end_ns: int | None = None
    records: list[Served] = field(default_factory=list)  # open-loop: every request the schedule sent


class PhaseTracker(Forwarding):
    """The runner's Progress, forwarded; each phase(name) closes the previous phase and opens the next.

    boundary() is called at every boundary and returns (the boundary's time, the server scrape's time or None)."""

    def __init__(self, inner: Any, boundary: Callable[[], tuple[int, int | None]]) -> None:
        super().__init__(inner)
        self.boundary = boundary
        self.phases: list[Phase] = []
        self._keys: set[str] = set()

    @property
    def current(self) -> Phase | None:
        return self.phases[-1] if self.phases and self.phases[-1].end_ns is None else None

    def phase(self, name: str, total: int | None) -> None:
        t, scraped = self.boundary()
        self._close(t, scraped)
        key = base = phase_key(name)
        n = 2
        while key in self._keys:
            key, n = f"{base}_{n}", n + 1
        self._keys.add(key)
        self.phases.append(Phase(name, key, t, scrape_start_ns=scraped))
        self.inner.phase(name, total)

    def close(self) -> None:
        if self.current is not None:
            t, scraped = self.boundary()
            self._close(t, scraped)

    def _close(self, t: int, scraped: int | None) -> None:
        cur = self.current
        if cur is not None:
            cur.end_ns, cur.scrape_end_ns = t, scraped

    def find(self, run_name: str) -> Phase | None:
        """The latest phase an open-loop run named run_name opened ('saturation 4 req/s' opens
        'saturation 4 req/s: 40 requests')."""
        for ph in reversed(self.phases):
            if ph.name == run_name or ph.name.startswith(run_name + ": "):
                return ph
        return None

    def __getattr__(self, name: str) -> Any:  # anything else a progress object offers
        return getattr(self.inner, name)


class LoadTap:
    """The run's RequestLog (or None) forwarded; hears each open-loop run's records and its schedule's start."""

    def __init__(self, inner: Any, on_start: Callable[[int], None],
                 on_run: Callable[[str, list[Served], int], None]) -> None:
        self.inner, self.on_start, self.on_run = inner, on_start, on_run

    def add(self, phase: str, recs: Iterable[Any], t0_ns: int, counted: set[int] | None = None) -> None:
        recs = list(recs)
        if self.inner is not None:
            self.inner.add(phase, recs, t0_ns, counted)
        self.on_run(phase, [Served.of(r.record, r.due_ns) for r in recs], t0_ns)

    def schedule_started(self, t0_ns: int) -> None:
        self.on_start(t0_ns)

    def __len__(self) -> int:
        return len(self.inner) if self.inner is not None else 0

    def __bool__(self) -> bool:
        return True
