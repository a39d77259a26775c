"""The GPUs this process may hand out, and how many GPUs a job needs."""

from __future__ import annotations

import logging
import os

from mm_orch.config import Config
from mm_orch.engines.registry import capabilities
from mm_orch.errors import ConfigError

log = logging.getLogger(__name__)

VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"


def visible_gpus() -> list[str]:
    """CUDA ids as a child's CUDA_VISIBLE_DEVICES takes them: that variable's entries, else NVML's indices."""
    env = os.environ.get(VISIBLE_ENV)
    if env is not None:
        ids = [d.strip() for d in env.split(",") if d.strip()]
        return [] if ids[:1] == ["-1"] else ids  # CUDA stops at the first invalid id; -1 hides all
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
        finally:
            pynvml.nvmlShutdown()
    except Exception as e:  # no driver, no library: a CPU-only machine
        log.debug("no NVML (%s): no GPUs", e)
        return []


def default_gpus(cfg: Config, have_gpus: bool) -> int:
    """A job's GPUs when it does not say: what its engine needs (none on CPU or for a remote model, vLLM's
    parallel layout, otherwise one); none on a machine without GPUs."""
    if not have_gpus:
        return 0
    name = cfg.engine.name
    return capabilities(name).gpus(cfg.engine.section(name), cfg.engine.device)


def job_gpus(requested: int | None, cfg: Config, capacity: int, where: str, field: str = "gpus") -> int:
    """The GPUs a job gets, checked against the most that one job can get (capacity)."""
    gpus = default_gpus(cfg, capacity > 0) if requested is None else requested
    if gpus > capacity:
        have = f"has {capacity} GPU(s) for one job" if capacity else "has no GPUs"
        raise ConfigError(f"{field}: {gpus} GPU(s) asked, but {where} {have}")
    if gpus == 0 and cfg.engine.device == "cuda" and not capabilities(cfg.engine.name).remote:
        raise ConfigError(f"{field}: 0 GPUs for a job with engine.device cuda")
    return gpus
