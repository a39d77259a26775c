"""Background sampler of this process's CPU RSS, for peaks between two readings (GPU peaks come from the allocator)."""

from __future__ import annotations

import threading

from mm_orch.monitor.memory import cpu_rss_gb


class PeakRssSampler:
    """Context manager: samples this process's RSS every interval_s; .peak_gb after exit."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.peak_gb = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_gb = max(self.peak_gb, cpu_rss_gb())
            self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRssSampler:
        self.peak_gb = cpu_rss_gb()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.peak_gb = max(self.peak_gb, cpu_rss_gb())
