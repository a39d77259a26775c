"""Memory readings, each from a named source, in GiB (2**30 bytes). Unreadable -> None with a note."""

from __future__ import annotations

import os
import sys

from mm_orch.monitor.snapshot import MemorySnapshot

GIB = float(2**30)


def cpu_rss_gb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / GIB


def _nvml(snap: MemorySnapshot, device_index: int) -> None:
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        snap.gpu_device_used_gb = pynvml.nvmlDeviceGetMemoryInfo(h).used / GIB
        procs = pynvml.nvmlDeviceGetComputeRunningProcesses(h)
        mine = [p.usedGpuMemory for p in procs if p.pid == os.getpid() and p.usedGpuMemory is not None]
        if mine:
            snap.gpu_process_gb = sum(mine) / GIB
        else:
            snap.notes.append("NVML lists no memory for this process (containerised PID namespace?)")
    except Exception as e:  # no driver, no pynvml, restricted container
        snap.notes.append(f"NVML unavailable: {type(e).__name__}")


def snapshot(device: str = "cpu", device_index: int = 0) -> MemorySnapshot:
    """Read every source available for this device. torch is imported only if already loaded."""
    snap = MemorySnapshot(cpu_rss_gb=cpu_rss_gb())
    if device != "cuda":
        return snap
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        snap.gpu_allocated_gb = torch.cuda.memory_allocated(device_index) / GIB
        snap.gpu_reserved_gb = torch.cuda.memory_reserved(device_index) / GIB
        snap.gpu_peak_allocated_gb = torch.cuda.max_memory_allocated(device_index) / GIB
        snap.gpu_peak_reserved_gb = torch.cuda.max_memory_reserved(device_index) / GIB
    _nvml(snap, device_index)
    return snap


def _trim_heap() -> None:
    """Hand freed C heap back to the OS (glibc only), so RSS readings do not depend on what was freed before."""
    import ctypes
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(libc_name) if libc_name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:  # not glibc (macOS, musl): RSS keeps freed pages, readings are a little noisier
        pass


def free_memory() -> None:
    """Collect garbage, trim the C heap and return cached CUDA blocks, so the next reading starts clean."""
    import gc

    gc.collect()
    _trim_heap()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def reset_peak(device: str = "cpu", device_index: int = 0) -> None:
    torch = sys.modules.get("torch")
    if device == "cuda" and torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize(device_index)
        torch.cuda.reset_peak_memory_stats(device_index)
