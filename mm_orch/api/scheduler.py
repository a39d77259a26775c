"""Scheduler: one job at a time (the GPU is exclusive), each in its own child process."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from mm_orch.api.store import INTERRUPTED, JobStore, log_path

log = logging.getLogger(__name__)

CANCELLED = "cancelled by request"


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and anything it started (it leads its own session)."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, limit: int = 300) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-limit:] if lines else ""


def _exit_reason(rc: int, log_file: Path) -> str:
    if rc < 0:
        name = signal.Signals(-rc).name if -rc in signal.valid_signals() else str(-rc)
        why = f"worker killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    else:
        why = f"worker exited with code {rc}"
    last = _tail(log_file)
    return f"{why}: {last}" if last else why


class Scheduler:
    def __init__(self, store: JobStore, job_timeout_s: float, poll_s: float = 0.2):
        self.store = store
        self.job_timeout_s = job_timeout_s
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._current: tuple[str, subprocess.Popen] | None = None
        self._thread = threading.Thread(target=self._loop, name="mm_orch-scheduler", daemon=True)

    def start(self) -> None:
        self.store.recover()
        self._thread.start()

    def notify(self) -> None:
        """A job was queued."""
        self._wake.set()

    def stop(self) -> None:
        """Server shutdown: the running job is killed and failed as interrupted; queued jobs wait for a restart."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            current = self._current
        if current:
            _kill_group(current[1])
        self._thread.join(timeout=10)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it had already reached a final state."""
        if not self.store.finish(job_id, "cancelled", error=CANCELLED, from_status=("queued", "running")):
            return False
        with self._lock:
            current = self._current
        if current and current[0] == job_id:
            log.info("cancelling running job %s (pid %d)", job_id, current[1].pid)
            _kill_group(current[1])
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                row = self.store.next_queued()
                if row is None:
                    self._wake.wait(1.0)
                elif self.store.mark_running(row.id):
                    self._run(row.id)
            except Exception:  # keep scheduling: a store hiccup must not stop the service
                log.exception("scheduler error")
                time.sleep(1.0)

    def _run(self, job_id: str) -> None:
        logs = log_path(self.store.data_dir, job_id)
        logs.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "mm_orch.api.worker", str(self.store.data_dir), job_id, str(os.getpid())]
        try:
            with open(logs, "ab") as out:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        except OSError as e:
            self.store.finish(job_id, "failed", error=f"cannot start the worker process: {e}")
            log.error("job %s: cannot start the worker process: %s", job_id, e)
            return
        with self._lock:
            self._current = (job_id, proc)
        self.store.set_pid(job_id, proc.pid)
        log.info("job %s started (pid %d)", job_id, proc.pid)
        reason = self._wait(proc)
        if reason is None and self._stop.is_set():  # stop() killed it
            reason = INTERRUPTED
        with self._lock:
            self._current = None
        rc = proc.returncode
        # no-op when the worker already recorded the outcome or the job was cancelled
        if self.store.finish(job_id, "failed", error=reason or _exit_reason(rc, logs)):
            log.warning("job %s failed: %s", job_id, reason or f"exit code {rc}")
        else:
            log.info("job %s done (exit code %s)", job_id, rc)

    def _wait(self, proc: subprocess.Popen) -> str | None:
        """Wait for the worker; kill it on shutdown or timeout and say why."""
        deadline = time.monotonic() + self.job_timeout_s
        while True:
            try:
                proc.wait(timeout=self.poll_s)
                return None
            except subprocess.TimeoutExpired:
                pass
            if self._stop.is_set():
                reason = INTERRUPTED
            elif time.monotonic() > deadline:
                reason = f"timed out after {self.job_timeout_s:g} s (api.job_timeout_seconds)"
            else:
                continue
            _kill_group(proc)
            proc.wait()
            return reason
