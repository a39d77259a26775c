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

# What a job's process inherits from the server's environment: names, and prefixes ending in "_" or "*". Anything
# else (the API token, cloud credentials, the operator's own secrets) never reaches the code a job runs: engines,
# tokenizers and whatever they start.
ENV_ALLOWED = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "LANG", "LANGUAGE", "LC_*", "TMPDIR", "TMP", "TEMP",
    "PYTHON*", "VIRTUAL_ENV", "CONDA_PREFIX", "LD_LIBRARY_PATH", "XDG_CACHE_HOME", "MM_ORCH_CACHE",
    "MM_ORCH_GIT_SHA", "HF_*", "HUGGINGFACE_*", "TRANSFORMERS_*", "TOKENIZERS_PARALLELISM", "TORCH*", "CUDA_*",
    "NVIDIA_*", "NCCL_*", "TRITON_*", "VLLM_*", "OMP_*", "MKL_*", "OPENBLAS_*", "KMP_*", "SSL_CERT_FILE",
    "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
    "no_proxy",
)
NEVER_PASSED = ("MM_ORCH_API_TOKEN",)


def _allowed(name: str) -> bool:
    return name not in NEVER_PASSED and any(
        name.startswith(p[:-1]) if p.endswith("*") else name == p for p in ENV_ALLOWED)


def job_environment(row: JobRow, devices: list[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a job's worker: the allow-listed variables of the server's, the job's GPUs, and the
    one secret the job's engine is configured to read (e.g. engine.openai.api_key_env), never the API token."""
    environ = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in environ.items() if _allowed(k)}
    key = _engine_key_env(row)
    if key and key not in NEVER_PASSED and key in environ:
        env[key] = environ[key]
    env[VISIBLE_ENV] = ",".join(devices)
    return env


def _engine_key_env(row: JobRow) -> str | None:
    """The variable holding the running engine's API key, as the job's config names it (None if it has none)."""
    try:
        from mm_orch.config import Config

        engine = Config.model_validate(row.config).engine
        return getattr(engine.section(engine.name), "api_key_env", None) or None
    except Exception:  # a config that does not validate fails in the worker, with its own message
        return None


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
        env = job_environment(row, devices)
        with open(logs, "ab") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
        return LocalRun(proc, logs)
