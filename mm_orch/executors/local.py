"""The local executor of the job service: each job in its own child process, pinned to its GPUs.

The child (python -m mm_orch.api.worker) reads the job from the store, runs it and records the outcome
itself; a crash or an out-of-memory kill ends that process only, and outcome() then says why.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from mm_orch.executors.devices import VISIBLE_ENV
from mm_orch.jobs.store import JobRow, JobStore, log_path

log = logging.getLogger(__name__)


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


def exit_reason(rc: int, log_file: Path) -> str:
    if rc < 0:
        name = signal.Signals(-rc).name if -rc in signal.valid_signals() else str(-rc)
        why = f"worker killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    else:
        why = f"worker exited with code {rc}"
    last = _tail(log_file)
    return f"{why}: {last}" if last else why


class LocalRun:
    """One job's child process."""

    def __init__(self, proc: subprocess.Popen, log_file: Path):
        self.proc, self.log_file = proc, log_file
        self.pid: int | None = proc.pid

    def wait(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        _kill_group(self.proc)  # the thread waiting on the job reaps it

    def outcome(self) -> str:
        """Why the job failed, if the worker did not record its outcome (a no-op for the store then)."""
        return exit_reason(self.proc.returncode, self.log_file)


class LocalExecutor:
    name = "local"

    def __init__(self, store: JobStore):
        self.store = store

    def gpu_ids(self) -> list[str]:
        """The pool jobs are pinned from: the GPUs this server sees."""
        from mm_orch.executors.devices import visible_gpus

        return visible_gpus()

    def capacity(self) -> int:
        return len(self.gpu_ids())

    def default_slots(self) -> int:
        return max(1, len(self.gpu_ids()))

    def close(self) -> None:
        pass

    def start(self, row: JobRow, devices: list[str]) -> LocalRun:
        """Start the worker of a running job, with only its GPUs visible. Raises OSError."""
        logs = log_path(self.store.data_dir, row.id)
        logs.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "mm_orch.api.worker", str(self.store.data_dir), row.id, str(os.getpid())]
        env = {**os.environ, VISIBLE_ENV: ",".join(devices)}
        with open(logs, "ab") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
        return LocalRun(proc, logs)
