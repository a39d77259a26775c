"""Ray: benchmark jobs as Ray tasks on an existing cluster (--ray-address / RAY_ADDRESS) or a local one.

Each job is one task that declares its GPUs (num_gpus; Ray sets CUDA_VISIBLE_DEVICES for it) and runs in
a fresh worker process (max_calls=1: no engine or GPU memory carried from one job to the next). The task
gets this machine's mm_orch package (runtime_env py_modules), so every node runs the driver's code; the
nodes need mm_orch's dependencies (torch, transformers, ...) installed. The task returns the report, and
the caller writes it: report files and the job store stay on the machine that submitted the jobs.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from mm_orch.errors import ConfigError
from mm_orch.jobs.spec import JobOutcome, JobSpec, run_job_spec

log = logging.getLogger(__name__)

ADDRESS_ENV = "RAY_ADDRESS"
# "local" (start one here), "auto" (the cluster this machine belongs to), host:port or ray://host:port
_ADDRESS = re.compile(r"^(local|auto|(ray://)?[A-Za-z0-9.\-]+:\d{1,5}|(ray://)?\[[0-9A-Fa-f:]+\]:\d{1,5})$")


def _run_task(spec_json: str) -> str:
    """The body of a Ray task (JSON in and out: no class identity to share between driver and worker)."""
    return run_job_spec(JobSpec.model_validate_json(spec_json)).model_dump_json()


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'mm_orch[ray]'") from None
    return ray


def resolve_address(address: str | None) -> str:
    """--ray-address, else RAY_ADDRESS, else a local cluster started for this run."""
    value = address or os.environ.get(ADDRESS_ENV) or "local"
    source = "--ray-address" if address else (ADDRESS_ENV if os.environ.get(ADDRESS_ENV) else "default")
    if not _ADDRESS.match(value):
        raise ConfigError(f"{source} '{value}': not a Ray address (host:port, ray://host:port, auto or local)")
    return value


class RayCluster:
    """A connection to a Ray cluster for this process; close() disconnects (and stops a local cluster)."""

    def __init__(self, address: str | None = None, num_cpus: float = 1.0):
        self.address = resolve_address(address)
        self.ray = import_ray()
        self.num_cpus = num_cpus
        package = str(Path(__file__).resolve().parents[1])
        try:
            self.ray.init(address=self.address, runtime_env={"py_modules": [package]}, log_to_driver=False,
                          logging_level=logging.WARNING, include_dashboard=False if self.address == "local" else None)
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"Ray at '{self.address}': cannot connect: {first}") from None
        self._task = self.ray.remote(max_calls=1)(_run_task)
        log.info("connected to Ray at %s: %s", self.address, self.resources())

    def close(self) -> None:
        self.ray.shutdown()

    def _nodes(self) -> list[dict[str, Any]]:
        return [n for n in self.ray.nodes() if n.get("Alive")]

    def resources(self) -> dict[str, float]:
        return {k: v for k, v in self.ray.cluster_resources().items() if k in ("CPU", "GPU")}

    def gpu_capacity(self) -> int:
        """The most GPUs one task can get: a task runs on one node."""
        return int(max((n.get("Resources", {}).get("GPU", 0) for n in self._nodes()), default=0))

    def default_slots(self) -> int:
        """Jobs in flight when api.slots is not set: one per GPU, else one per node."""
        return int(self.resources().get("GPU", 0)) or max(1, len(self._nodes()))

    def submit(self, spec: JobSpec) -> Any:
        """Start the job as a task; returns its ObjectRef (a JobOutcome as JSON)."""
        opts = {"num_gpus": spec.gpus, "num_cpus": self.num_cpus, "name": f"mm_orch {spec.label}"}
        return self._task.options(**opts).remote(spec.model_dump_json())

    def wait(self, refs: list[Any], timeout: float | None) -> list[Any]:
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
        return ready

    def cancel(self, ref: Any) -> None:
        self.ray.cancel(ref, force=True)  # kills the worker process, and with it the engine

    def outcome(self, ref: Any) -> JobOutcome:
        """The task's result; a crashed or cancelled task is an outcome with its reason (exit code 3)."""
        try:
            return JobOutcome.model_validate_json(self.ray.get(ref))
        except self.ray.exceptions.TaskCancelledError:
            return JobOutcome(error="cancelled", exit_code=3)
        except self.ray.exceptions.RayError as e:
            first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            return JobOutcome(error=f"Ray task failed: {type(e).__name__}: {first[:300]}", exit_code=3)
