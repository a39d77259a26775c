"""Scheduler: queued jobs start, oldest first, as worker slots and their GPUs free up.

Slots (api.slots) bound the jobs running at once: by default one per visible GPU, one on a CPU-only
machine. With the local executor each job runs in its own child process that sees only its GPUs
(CUDA_VISIBLE_DEVICES); a job holds as many GPUs as it asked for. With the Ray executor Ray places the
GPUs and the slots bound the tasks in flight. A job that waits for GPUs holds back the jobs behind it,
so a large job is never starved by small ones.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from mm_orch.config import Config
from mm_orch.executors.devices import job_gpus
from mm_orch.executors.local import LocalExecutor
from mm_orch.jobs.store import INTERRUPTED, JobRow, JobStore

log = logging.getLogger(__name__)

CANCELLED = "cancelled by request"


class Run(Protocol):
    pid: int | None

    def wait(self, timeout: float) -> bool: ...
    def kill(self) -> None: ...
    def outcome(self) -> str | None: ...


class Scheduler:
    def __init__(self, store: JobStore, job_timeout_s: float, slots: int | None = None, executor: Any = None,
                 poll_s: float = 0.2):
        self.store = store
        self.job_timeout_s = job_timeout_s
        self.poll_s = poll_s
        self.executor = executor or LocalExecutor(store)
        pool = self.executor.gpu_ids()
        self._free: list[str] | None = list(pool) if pool is not None else None  # GPUs no job holds
        self._order = {d: i for i, d in enumerate(pool or [])}
        self.capacity = len(pool) if pool is not None else self.executor.capacity()
        self.slots = slots or self.executor.default_slots()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._runs: dict[str, Run | None] = {}  # running jobs (None while their worker starts)
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._loop, name="mm_orch-scheduler", daemon=True)

    def start(self) -> None:
        self.store.recover()
        log.info("%d worker slot(s), %s executor, GPUs: %s", self.slots, self.executor.name,
                 ",".join(self._free) if self._free else ("none" if self._free is not None else "placed by Ray"))
        self._thread.start()

    def job_gpus(self, requested: int | None, cfg: Config) -> int:
        """The GPUs a submitted job will hold; ConfigError when this server cannot give them."""
        return job_gpus(requested, cfg, self.capacity, f"this server ({self.executor.name} executor)")

    def notify(self) -> None:
        """A job was queued."""
        self._wake.set()

    def stop(self) -> None:
        """Server shutdown: running jobs are killed and failed as interrupted; queued jobs wait for a restart."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        for t in list(self._threads):
            t.join(timeout=30)
        self.executor.close()

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it had already reached a final state."""
        if not self.store.finish(job_id, "cancelled", error=CANCELLED, from_status=("queued", "running")):
            return False
        with self._lock:
            run = self._runs.get(job_id)
        if run is not None:
            log.info("cancelling running job %s", job_id)
            run.kill()
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if not self._start_next():
                    self._wake.wait(1.0)
            except Exception:  # keep scheduling: a store hiccup must not stop the service
                log.exception("scheduler error")
                time.sleep(1.0)

    def _take(self, n: int) -> list[str] | None:
        """n free GPUs (none to take with Ray), or None while they are busy."""
        with self._lock:
            if self._free is None or n == 0:
                return []
            if len(self._free) < n:
                return None
            taken, self._free[:] = self._free[:n], self._free[n:]
            return taken

    def _give(self, devices: list[str]) -> None:
        with self._lock:
            if self._free is not None:
                self._free[:] = sorted([*self._free, *devices], key=self._order.__getitem__)

    def _start_next(self) -> bool:
        """Start the oldest queued job if a slot and its GPUs are free; True if one started."""
        with self._lock:
            if len(self._runs) >= self.slots:
                return False
        row = self.store.next_queued()
        if row is None:
            return False
        devices = self._take(row.gpus or 0)
        if devices is None:
            return False
        if not self.store.mark_running(row.id, devices):  # cancelled in the meantime
            self._give(devices)
            return True
        with self._lock:
            self._runs[row.id] = None
        t = threading.Thread(target=self._run, args=(row, devices), name=f"mm_orch-job-{row.id[:8]}", daemon=True)
        self._threads = [th for th in self._threads if th.is_alive()] + [t]
        t.start()
        return True

    def _run(self, row: JobRow, devices: list[str]) -> None:
        try:
            self._supervise(row, devices)
        finally:
            with self._lock:
                self._runs.pop(row.id, None)
            self._give(devices)
            self._wake.set()

    def _supervise(self, row: JobRow, devices: list[str]) -> None:
        try:
            run = self.executor.start(row, devices)
        except Exception as e:  # a missing interpreter, a lost Ray connection, ...
            self.store.finish(row.id, "failed", error=f"cannot start the job ({self.executor.name} executor): {e}")
            log.error("job %s: cannot start: %s", row.id, e)
            return
        with self._lock:
            self._runs[row.id] = run
        if run.pid is not None:
            self.store.set_pid(row.id, run.pid)
        log.info("job %s started (%s%s)", row.id, f"pid {run.pid}" if run.pid else self.executor.name,
                 f", GPUs {','.join(devices)}" if devices else "")
        current = self.store.get(row.id)
        if current is None or current.status != "running":  # cancelled while it started
            run.kill()
        reason = self._wait(run)
        if reason is None and self._stop.is_set():  # stop() came as it ended
            reason = INTERRUPTED
        if reason is None:
            reason = run.outcome()  # the Ray executor writes the report here
        # no-op when the job already has its outcome (the worker recorded it, or it was cancelled)
        if reason and self.store.finish(row.id, "failed", error=reason):
            log.warning("job %s failed: %s", row.id, reason)
        else:
            log.info("job %s done", row.id)

    def _wait(self, run: Run) -> str | None:
        """Wait for the job; kill it on shutdown or timeout and say why."""
        deadline = time.monotonic() + self.job_timeout_s
        while not run.wait(self.poll_s):
            if self._stop.is_set():
                reason = INTERRUPTED
            elif time.monotonic() > deadline:
                reason = f"timed out after {self.job_timeout_s:g} s (api.job_timeout_seconds)"
            else:
                continue
            run.kill()
            run.wait(30)
            return reason
        return None
