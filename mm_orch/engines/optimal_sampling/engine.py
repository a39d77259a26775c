"""DualEngine: the optimal-sampling decoder behind the harness's Engine contract (`--engine dual`).

The teacher is the benchmarked model (--model); the theta model, alpha method and prompts come from the
config's optimal_sampling section. generate() runs one batch and timestamps tokens at the decoder's sync
points (records are marked batched); stream() syncs every step to timestamp each token.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from mm_orch.engines.base import (
    CommonSettings,
    Engine,
    GenerationRequest,
    MemorySnapshot,
    ModelInfo,
    RequestRecord,
    TokenCallback,
    batch_settings,
    fail_records,
    now_ns,
    require_loaded,
)
from mm_orch.engines.optimal_sampling.decoder import DecodeResult
from mm_orch.engines.optimal_sampling.facade import OptimalSamplingV1, decode_text, row_seeds
from mm_orch.engines.optimal_sampling.head import StepParams
from mm_orch.engines.optimal_sampling.prompts import encode_prompts
from mm_orch.engines.optimal_sampling.settings import OptimalSamplingSettings
from mm_orch.engines.optimal_sampling.summary import AlphaLog, alpha_summary
from mm_orch.errors import ConfigError, EngineError
from mm_orch.models.manager import ordinary_token_ids
from mm_orch.monitor import memory

log = logging.getLogger(__name__)
GIB = float(2**30)


class DualEngine(Engine):
    name = "dual"

    def __init__(self, model_name: str, common: CommonSettings | None = None,
                 settings: OptimalSamplingSettings | None = None, user_models: dict | None = None) -> None:
        common, o = common or CommonSettings(), settings or OptimalSamplingSettings()
        self.model_name, self.theta_model, self.mode = model_name, o.theta_model, o.mode
        self.options: dict[str, Any] = dict(
            alpha_method=o.alpha_method, teacher_system_prompt=o.teacher_system_prompt,
            theta_system_prompt=o.theta_system_prompt, enable_chat_template=o.enable_chat_template,
            track_alpha_stats=o.track_alpha_stats, fixed_alpha=o.fixed_alpha, alpha_iterations=o.iterations,
            device=common.device, dtype=common.dtype, load_format=common.load_format, seed=common.seed,
            sync_every=o.sync_every, cuda_graphs=o.cuda_graphs, compile=o.compile, user_models=user_models or {},
            overlap=o.overlap, theta_device=o.theta_device)
        self.seed = common.seed
        self.sampler: OptimalSamplingV1 | None = None
        self.info: ModelInfo | None = None
        self.alpha_log = AlphaLog()
        self._lock = threading.Lock()  # one decoder, one set of static caches: one generate at a time

    # -- lifecycle -----------------------------------------------------------------------------
    def prepare(self) -> None:
        from transformers import AutoTokenizer  # noqa: F401  - the tokenizers are Transformers'

        from mm_orch.models.local import ensure_local_model

        for name in (self.model_name, self.theta_model):
            ensure_local_model(name, self.options["load_format"], self.options["user_models"])

    def load(self) -> ModelInfo:
        try:
            self.sampler = OptimalSamplingV1(self.model_name, self.theta_model, **self.options)
        except ConfigError:
            raise
        except Exception as e:
            raise EngineError(self.name, f"loading '{self.model_name}' + '{self.theta_model}': {e}") from e
        s = self.sampler
        t, th = s.teacher, s.theta
        d, dt = t.weights.dims, th.weights.dims
        nbytes = t.weights.embed.element_size()
        self.info = ModelInfo(
            name=self.model_name, path=str(t.path), num_layers=d.layers, num_kv_heads=d.kv_heads,
            head_dim=d.head_dim, dtype=str(t.weights.embed.dtype).removeprefix("torch."), dtype_bytes=nbytes,
            device=s.decoder.device, load_format=self.options["load_format"],
            num_parameters=t.gpu_bytes // nbytes, vocab_size=s.decoder.vocab,
            load_seconds=t.load_seconds + th.load_seconds,
            max_context=min(_max_positions(t.path), _max_positions(th.path)),
            kv_bytes_per_token=d.kv_bytes_per_token(nbytes) + dt.kv_bytes_per_token(nbytes),
            extra={"theta_model": th.name, "alpha_method": s.alpha_method, "mode": self.mode,
                   "memory_per_model_gb": {"teacher_weights": t.gpu_bytes / GIB, "theta_weights": th.gpu_bytes / GIB},
                   "kv_bytes_per_token": {"teacher": d.kv_bytes_per_token(nbytes),
                                          "theta": dt.kv_bytes_per_token(nbytes)},
                   "theta_layout": {"num_layers": dt.layers, "num_kv_heads": dt.kv_heads, "head_dim": dt.head_dim},
                   "cuda_graphs": s.decoder.use_graphs, "compiled_head": s.decoder.compile_head,
                   "placement": {"teacher": s.decoder.device, "theta": s.decoder.theta_device},
                   "overlap_models": s.decoder.overlap_models and not s.decoder.split,
                   "attention": s.decoder.attention, "head": s.decoder.head, "last_generate": None})
        return self.info

    def close(self) -> None:
        self.sampler = None
        memory.free_memory()

    def _need(self) -> OptimalSamplingV1:
        return require_loaded(self, self.sampler)

    # -- tokens --------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self._need().tokenizer.encode(text, add_special_tokens=False)

    def vocab_token_ids(self) -> list[int]:
        s = self._need()
        return ordinary_token_ids(s.tokenizer, s.decoder.vocab)

    # -- generation ----------------------------------------------------------------------------
    def _inputs(self, requests: list[GenerationRequest]) -> tuple[list[list[int]], list[list[int]]]:
        s = self._need()
        o = self.options
        t_ids, th_ids = [], []
        for r in requests:
            if r.prompt_token_ids is not None:  # exact-length synthetic prompts: both models see them as is
                if not r.prompt_token_ids:
                    raise ConfigError("empty prompt: every request needs at least one token")
                t_ids.append(list(r.prompt_token_ids))
                th_ids.append(list(r.prompt_token_ids))
            else:
                chat = o["enable_chat_template"]
                t_ids += encode_prompts(s.teacher.tokenizer, [r.prompt], o["teacher_system_prompt"], chat)
                th_ids += encode_prompts(s.theta.tokenizer, [r.prompt], o["theta_system_prompt"], chat)
        return t_ids, th_ids

    def _params(self, requests: list[GenerationRequest]) -> StepParams:
        r = batch_settings(requests)
        return self._need().params(r.max_new_tokens, r.temperature, r.top_p, r.top_k, self.mode,
                                   stop_at_eos=not r.ignore_eos)

    def _seeds(self, requests: list[GenerationRequest]) -> list[int]:
        base = row_seeds(self.seed, len(requests))
        return [r.seed if r.seed is not None else b for r, b in zip(requests, base, strict=True)]

    def _run(self, requests: list[GenerationRequest], on_step=None) -> list[RequestRecord]:
        s = self._need()
        start = now_ns()
        records = [RequestRecord(start_ns=start, batched=len(requests) > 1) for _ in requests]
        t_ids, th_ids = self._inputs(requests)
        p = self._params(requests)
        try:
            with self._lock:
                res = s.decoder.generate(t_ids, th_ids, self._seeds(requests), p, s.sync_every, on_step)
        except ConfigError:
            raise
        except Exception as e:
            return fail_records(records, e)
        self._fill(records, res, t_ids, on_step is not None)
        self.alpha_log.add(res.alpha, res.stats, res.lengths)
        self.info.extra["last_generate"] = {
            "alpha": alpha_summary(res.alpha, res.stats, res.lengths), "capture_s": res.capture_s,
            "prefill_s": (res.first_token_ns - res.start_ns) / 1e9, "batch_size": len(requests)}
        return records

    def _fill(self, records: list[RequestRecord], res: DecodeResult, t_ids: list[list[int]], per_step: bool) -> None:
        tok = self._need().tokenizer
        for i, rec in enumerate(records):
            n = res.lengths[i]
            ids = res.tokens[:n, i].tolist()
            rec.input_tokens, rec.output_tokens, rec.output_token_ids = len(t_ids[i]), n, ids
            rec.text = decode_text(tok, ids)
            rec.end_ns = res.end_ns
            if not per_step:  # token j arrives at the first sync point covering it
                times, k = [], 0
                for j in range(n):
                    while res.sync_points[k][0] < j + 1:
                        k += 1
                    times.append(res.sync_points[k][1])
                rec.token_times_ns = times

    def generate(self, requests: list[GenerationRequest]) -> list[RequestRecord]:
        if not requests:
            return []
        return self._run(requests)

    def stream(self, request: GenerationRequest, on_token: TokenCallback | None = None) -> RequestRecord:
        times: list[int] = []

        def on_step(tok, t: int) -> None:
            times.append(t)
            if on_token is not None:
                on_token(int(tok[0]), t)

        rec = self._run([request], on_step)[0]
        if rec.success:
            rec.token_times_ns = times[: rec.output_tokens]
        return rec

    def stats(self) -> dict[str, Any]:
        """Alpha and the divergences over every token this engine generated (warm-ups included)."""
        return {"alpha": self.alpha_log.summary()}

    # -- memory --------------------------------------------------------------------------------
    def _device_type(self) -> str:
        return self.sampler.decoder.device.split(":")[0] if self.sampler else "cpu"

    def memory_snapshot(self) -> MemorySnapshot:
        return memory.snapshot(self._device_type())

    def reset_peak_memory(self) -> None:
        memory.reset_peak(self._device_type())


def _max_positions(path) -> int | None:
    from mm_orch.models.local import read_architecture

    return read_architecture(path).get("max_position_embeddings")
