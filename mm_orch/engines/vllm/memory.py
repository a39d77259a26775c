"""What vLLM preallocated at load: weights and the paged KV cache (blocks x block size x bytes per token)."""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)
GIB = float(2**30)
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "half": 2, "float": 4, "fp8": 1, "fp8_e4m3": 1,
                "fp8_e5m2": 1}


def kv_bytes_per_token(layers: int | None, kv_heads: int | None, head_dim: int | None, dtype_bytes: int) -> int | None:
    """K and V of every layer for one token, summed over all tensor-parallel ranks."""
    if not (layers and kv_heads and head_dim):
        return None
    return 2 * layers * kv_heads * head_dim * dtype_bytes


def kv_cache_info(llm: Any, layers: int | None, kv_heads: int | None, head_dim: int | None,
                  model_dtype_bytes: int) -> dict[str, Any]:
    """The KV cache vLLM allocated, read from its cache config after the engine profiled memory."""
    try:
        cache = llm.llm_engine.vllm_config.cache_config
        blocks, block_size = cache.num_gpu_blocks, cache.block_size
        cache_dtype = str(cache.cache_dtype)
    except AttributeError as e:
        return {"gb": None, "reason": f"cache config not readable: {e}"}
    if not blocks:
        return {"gb": None, "num_blocks": blocks, "block_size": block_size,
                "reason": "vLLM did not report its number of KV blocks"}
    dtype_bytes = model_dtype_bytes if cache_dtype == "auto" else _DTYPE_BYTES.get(cache_dtype, model_dtype_bytes)
    per_token = kv_bytes_per_token(layers, kv_heads, head_dim, dtype_bytes)
    tokens = blocks * block_size
    return {
        "num_blocks": blocks, "block_size": block_size, "token_capacity": tokens, "cache_dtype": cache_dtype,
        "bytes_per_token": per_token,
        "gb": None if per_token is None else tokens * per_token / GIB,
        "source": "vllm cache_config.num_gpu_blocks x block_size x (2 x layers x kv_heads x head_dim x bytes)",
    }


def _param_bytes(model: Any) -> tuple[int, int]:
    """(bytes, parameters); vLLM's CPU backend repacks linear weights for oneDNN and leaves an empty
    Parameter behind, so those are counted at their declared shape (same dtype)."""
    seen: set[int] = set()
    nbytes = count = 0
    for mod in model.modules():
        for name, p in mod.named_parameters(recurse=False):
            if id(p) in seen:  # tied weights
                continue
            seen.add(id(p))
            numel = p.numel()
            if numel == 0 and name == "weight" and hasattr(mod, "input_size_per_partition"):
                numel = mod.input_size_per_partition * mod.output_size_per_partition
            nbytes += numel * p.element_size()
            count += numel
    return nbytes + sum(b.numel() * b.element_size() for b in model.buffers()), count


def weights_info(llm: Any, multiprocessing: bool = False) -> dict[str, Any]:
    """Bytes of the model's parameters and buffers, summed over workers (LLM.apply_model)."""
    if multiprocessing:
        return {"gb": None, "reason": "engine core runs in a child process: vLLM will not ship a function to it "
                                      "(see the engine core's 'Model loading took' log line)"}
    try:
        per_worker = llm.apply_model(_param_bytes)
    except Exception as e:  # multiprocess executors may refuse to pickle the function
        logger.info("weights size not readable through apply_model: %s", e)
        return {"gb": None, "reason": f"apply_model failed: {type(e).__name__}"}
    total = sum(b for b, _ in per_worker)
    # tensor-parallel workers hold shards: parameters add up across workers (replicated ones are counted twice)
    return {"gb": total / GIB, "num_parameters": sum(n for _, n in per_worker), "workers": len(per_worker),
            "source": "parameter and buffer bytes on every worker (LLM.apply_model); CPU-repacked "
                      "linear weights at their declared shape"}


def engine_core_gpu_gb(notes: list[str]) -> tuple[float | None, float | None]:
    """(this process and its children, whole devices) in GiB from NVML: with multiprocessing the engine core,
    which holds the weights and the KV cache, is a child process."""
    try:
        import psutil
        import pynvml

        pids = {os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))}
        pynvml.nvmlInit()
        mine = device = 0
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            device += pynvml.nvmlDeviceGetMemoryInfo(h).used
            mine += sum(p.usedGpuMemory or 0 for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h) if p.pid in pids)
    except Exception as e:  # no driver or no pynvml
        notes.append(f"NVML unavailable: {type(e).__name__}")
        return None, None
    notes.append("GPU memory from NVML: process = this process and its engine-core children, device = all GPUs; "
                 "the torch allocator of the engine core is not readable from here")
    if not mine:
        notes.append("NVML lists no memory for the engine-core processes (containerised PID namespace?)")
    return (mine / GIB if mine else None), device / GIB


def parallel_layout(tp: int, pp: int, layers: int | None, kv_heads: int | None, kv_gb: float | None,
                    weights_gb: float | None) -> dict[str, Any]:
    """How the model is spread over tp x pp GPUs, and each GPU's share of the weights and KV cache.

    Tensor parallel splits each layer's heads (KV heads are replicated when there are fewer than tp);
    pipeline parallel gives each stage layers / pp whole layers. Shares assume an even split."""
    kv_split = min(tp, kv_heads) if kv_heads else tp
    gpus = tp * pp
    return {"tensor_parallel_size": tp, "pipeline_parallel_size": pp, "gpus": gpus,
            "layers_per_stage": None if not layers else -(-layers // pp),
            "kv_heads_per_gpu": None if not kv_heads else max(kv_heads // tp, 1),
            "weights_gb_per_gpu": None if weights_gb is None else weights_gb / gpus,
            "kv_cache_gb_per_gpu": None if kv_gb is None else kv_gb / (kv_split * pp),
            "source": "even split of the totals (weights: worker parameters, or the config's shapes when the "
                      "engine core is a child process; KV: vLLM's blocks); NVML's per-GPU use is under "
                      "gpu_memory_per_device"}


def per_device_gpu_memory() -> list[dict[str, Any]] | None:
    """NVML's used / total memory of every visible GPU, in GiB (None without a driver)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            m = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i))
            out.append({"index": i, "used_gb": m.used / GIB, "total_gb": m.total / GIB, "source": "nvml"})
        return out
    except Exception as e:  # no driver, no pynvml
        logger.debug("NVML unavailable: %s", e)
        return None
