"""MemoryBenchmark: memory to load a model, and the growth and peak during one inference.

On CUDA the figures come from the torch allocator (allocated, peak since reset); on CPU from psutil RSS,
with a background sampler for the peak. Every result names its source; GiB = 2**30 bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from mm_orch.benchmark.prompts import Prompt, make_request
from mm_orch.engines.base import Engine, ModelInfo, RequestRecord
from mm_orch.monitor.sampler import PeakRssSampler
from mm_orch.monitor.snapshot import MemorySnapshot

GIB = float(2**30)


class LoadMemoryResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    memory_gb: float | None  # growth caused by loading; None when before/after sources differ
    before_gb: float
    after_gb: float
    source: str
    load_seconds: float | None = None
    weights_gb: float | None = None  # parameter bytes, from the model itself
    libraries_gb: float | None = None  # growth from importing the engine's libraries, before 'before_gb'
    note: str | None = None


class InferenceMemoryResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    memory_delta_gb: float  # peak during inference - before
    peak_memory_gb: float | None  # None when measure_peak is off
    before_gb: float
    after_gb: float
    source: str
    input_tokens: int
    output_tokens: int
    kv_cache_gb: float | None = None
    notes: list[str] = []


def _reading(s: MemorySnapshot, device: str) -> tuple[float, str]:
    if device == "cuda" and s.gpu_allocated_gb is not None:
        return s.gpu_allocated_gb, "torch.cuda.memory_allocated"
    return float(s.cpu_rss_gb or 0.0), "psutil.Process().memory_info().rss"


class MemoryBenchmark:
    def __init__(self, measure_peak: bool = True, gc_before_measure: bool = True) -> None:
        self.measure_peak, self.gc_before_measure = measure_peak, gc_before_measure

    def _gc(self) -> None:
        if self.gc_before_measure:
            from mm_orch.monitor.memory import free_memory

            free_memory()

    def measure_load(self, load: Callable[[], ModelInfo], snapshot: Callable[[], MemorySnapshot],
                     device: str, prepare: Callable[[], object] | None = None) -> tuple[ModelInfo, LoadMemoryResult]:
        """Memory growth across a load() call; shared by the engine path and the ModelManager path.

        prepare() (imports, model folder) runs first and is reported apart as libraries_gb: importing
        Transformers alone grows RSS by ~150 MiB, which would otherwise swamp a small model's weights.
        """
        import gc

        import torch  # noqa: F401  - imported before the 'before' reading so library code is not counted

        from mm_orch.monitor import memory

        # Nothing is loaded yet, so read the process directly: an unloaded engine may not know its device.
        start = None
        if prepare is not None:
            self._gc()
            start = _reading(memory.snapshot(device), device)[0]
            prepare()
        self._gc()
        # Torch and Transformers, just imported, live as long as the process: every later collection (one
        # before each memory reading) skips them instead of walking a few million objects again.
        gc.freeze()
        before, source = _reading(memory.snapshot(device), device)
        libraries = None if start is None else before - start
        info = load()
        self._gc()
        after, after_source = _reading(snapshot(), device)
        weights = None
        if info.weights_bytes:
            weights = info.weights_bytes / GIB
        elif info.num_parameters:
            weights = info.num_parameters * info.dtype_bytes / GIB
        note = None
        if after_source != source:  # e.g. vLLM's engine core holds the GPU memory in a child process
            note = f"after loading, this process offers no {source} reading; see model_info for the engine's own"
        return info, LoadMemoryResult(memory_gb=None if note else after - before, before_gb=before,
                                      after_gb=after, source=source, load_seconds=info.load_seconds,
                                      weights_gb=weights, libraries_gb=libraries, note=note)

    def measure_engine_load(self, engine: Engine, device: str) -> tuple[ModelInfo, LoadMemoryResult]:
        return self.measure_load(engine.load, engine.memory_snapshot, device, engine.prepare)

    def measure_model_load(self, model_manager, model_config) -> LoadMemoryResult:
        """The MuAI guide's API: load model_config through a ModelManager and report the growth."""
        from mm_orch.models.manager import parameter_bytes, resolve_device
        from mm_orch.monitor import memory

        device = resolve_device(model_config.device)

        def load() -> ModelInfo:
            lm = model_manager.load(model_config)
            params = lm.model.num_parameters()  # counts 4-bit weights unpacked, unlike numel()
            nbytes = parameter_bytes(lm.model)
            return ModelInfo(model_config.model_name, str(lm.path), None, None, None, lm.dtype,
                             lm.model.dtype.itemsize, device, lm.load_format, params,
                             load_seconds=lm.load_seconds, weights_bytes=nbytes)

        return self.measure_load(load, lambda: memory.snapshot(device), device,
                                 lambda: model_manager.prepare(model_config))[1]

    def measure_inference(self, engine: Engine, prompt: Prompt, output_length: int = 100,
                          model_info: ModelInfo | None = None) -> InferenceMemoryResult:
        device = model_info.device if model_info else "cpu"
        self._gc()
        engine.reset_peak_memory()
        before, source = _reading(engine.memory_snapshot(), device)
        req = make_request(prompt, output_length)
        if device == "cuda":
            rec = engine.stream(req)
            snap = engine.memory_snapshot()
            peak = snap.gpu_peak_allocated_gb if snap.gpu_peak_allocated_gb is not None else before
            notes = list(snap.notes)
        else:
            with PeakRssSampler() as sampler:
                rec = engine.stream(req)
            snap = engine.memory_snapshot()
            peak, notes = sampler.peak_gb, [f"RSS sampled every 5 ms ({sampler.samples} samples)"]
        after, _ = _reading(snap, device)
        return InferenceMemoryResult(
            memory_delta_gb=max(peak, after) - before, peak_memory_gb=peak if self.measure_peak else None,
            before_gb=before, after_gb=after, source=source, input_tokens=rec.input_tokens,
            output_tokens=rec.output_tokens, kv_cache_gb=kv_cache_gb(model_info, rec), notes=notes)


def kv_cache_gb(info: ModelInfo | None, rec: RequestRecord) -> float | None:
    from mm_orch.report.metrics import kv_cache_bytes

    if info is None or not rec.success:
        return None
    tokens = rec.input_tokens + rec.output_tokens
    if info.kv_bytes_per_token:  # e.g. the dual engine: the teacher's and theta's caches together
        return info.kv_bytes_per_token * tokens / GIB
    if None in (info.num_layers, info.num_kv_heads, info.head_dim):
        return None
    return kv_cache_bytes(info.num_layers, info.num_kv_heads, info.head_dim, info.dtype_bytes, tokens) / GIB
