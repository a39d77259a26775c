"""MemorySnapshot: one reading of every memory source, filled by mm_orch.monitor.memory and the engines."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class MemorySnapshot:
    """Memory now, each figure in GiB (2**30 bytes) with its source; None when it cannot be read."""

    cpu_rss_gb: float | None = None  # psutil, this process
    gpu_allocated_gb: float | None = None  # torch allocator
    gpu_reserved_gb: float | None = None  # torch allocator
    gpu_peak_allocated_gb: float | None = None  # torch allocator, since the last reset_peak()
    gpu_peak_reserved_gb: float | None = None
    gpu_process_gb: float | None = None  # NVML, this process
    gpu_device_used_gb: float | None = None  # NVML, whole device
    notes: list[str] = field(default_factory=list)
