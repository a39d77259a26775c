"""A decode loop over a Transformers model with a static KV cache, each one-token step a replayed CUDA graph.

`generate` runs every decode step op by op from Python; on an H200 Qwen2.5-3B then spends ~34 ms per token,
nearly all of it launching kernels. Here the model's own forward (Transformers' kernels and modeling code)
runs on a StaticCache with static input buffers, captured once per (batch, cache length) and replayed.
Capture takes about a second per shape, without torch.compile; it is timed and reported apart. Prefill runs
eagerly. On CPU the same loop runs without graphs, which is how its tokens are checked against `generate`.
Greedy, temperature / top-k / top-p sampling and EOS stopping are supported; anything else (beam search,
a model generation config with repetition penalties, ...) stays on `generate` (see `unsupported`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mm_orch.engines.base import now_ns

if TYPE_CHECKING:  # torch is imported where it is used: importing the engine registry stays cheap
    import torch

MIN_CACHE_LEN = 1024  # one graph per batch size covers every prompt + output up to this many tokens
MAX_SHAPES = 8  # captured (batch, length) shapes kept; the oldest is dropped beyond this
WARMUP_STEPS = 2  # eager steps on a side stream before capture (allocator and library handles settle)

# Logits processors a model's generation config may switch on that this loop does not implement
_PROCESSORS = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_repetition_penalty": 1.0,
               "bad_words_ids": None, "suppress_tokens": None, "begin_suppress_tokens": None,
               "forced_bos_token_id": None, "forced_eos_token_id": None, "sequence_bias": None,
               "exponential_decay_length_penalty": None, "typical_p": 1.0, "epsilon_cutoff": 0.0,
               "eta_cutoff": 0.0, "min_p": None, "diversity_penalty": 0.0}


def unsupported(model: Any) -> str | None:
    """Why this loop cannot stand in for `generate` on this model (None = it can)."""
    gc = getattr(model, "generation_config", None)
    for key, neutral in _PROCESSORS.items():
        value = getattr(gc, key, neutral)
        if value is not None and value != neutral:
            return f"generation_config.{key}={value!r}"
    if getattr(model, "hf_quantizer", None) is not None:
        return "quantized weights"
    if any(t != "full_attention" for t in getattr(model.config, "layer_types", None) or []):
        return "sliding-window layers"
    return None


@dataclass(frozen=True, slots=True)
class Sampling:
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0


@dataclass(slots=True)
class _Shape:
    """Everything one (batch, cache length) graph reads and writes, at fixed addresses."""

    cache: Any
    tok: torch.Tensor  # [B, 1] token fed to the next step
    pos: torch.Tensor  # [B, 1] its position (per row: left padding shifts positions)
    cpos: torch.Tensor  # [1] its cache slot
    mask: torch.Tensor  # [B, 1, 1, L] additive attention mask over cache slots
    logits: torch.Tensor  # [B, V] the step's last-position logits
    graph: Any = None


@dataclass(slots=True)
class DecodeOutput:
    tokens: list[list[int]]  # per row, EOS included, nothing after it
    times_ns: list[int]  # arrival of each step's tokens on the host
    capture_s: float = 0.0  # graph capture paid inside this call (0 when the shape was ready)


@dataclass(slots=True)
class StaticDecoder:
    model: Any
    use_graphs: bool
    shapes: OrderedDict = field(default_factory=OrderedDict)
    pool: Any = None
    capture_s_total: float = 0.0
    captures: int = 0

    # -- shapes ------------------------------------------------------------------------------------
    def _cache_len(self, needed: int) -> int:
        n = MIN_CACHE_LEN
        while n < needed:
            n *= 2
        return n

    def _shape(self, batch: int, length: int) -> tuple[_Shape, float]:
        key = (batch, length)
        if key in self.shapes:
            self.shapes.move_to_end(key)
            return self.shapes[key], 0.0
        import torch
        from transformers import StaticCache

        dev, dtype = self.model.device, self.model.dtype
        vocab = self.model.get_output_embeddings().weight.shape[0]
        s = _Shape(cache=StaticCache(config=self.model.config, max_cache_len=length),
                   tok=torch.zeros(batch, 1, dtype=torch.long, device=dev),
                   pos=torch.zeros(batch, 1, dtype=torch.long, device=dev),
                   cpos=torch.zeros(1, dtype=torch.long, device=dev),
                   mask=torch.full((batch, 1, 1, length), torch.finfo(dtype).min, dtype=dtype, device=dev),
                   logits=torch.zeros(batch, vocab, dtype=torch.float32, device=dev))
        t0 = time.perf_counter()
        self._step(s)  # first update allocates the cache's tensors (lazily, in Transformers)
        if self.use_graphs:
            s.graph = self._capture(s)
        spent = time.perf_counter() - t0
        self.capture_s_total += spent
        self.captures += 1
        self.shapes[key] = s
        while len(self.shapes) > MAX_SHAPES:
            self.shapes.popitem(last=False)
        return s, spent

    def _capture(self, s: _Shape):
        import torch

        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                self._step(s)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            self._step(s)
        return graph

    # -- one decode step (what the graph holds) ----------------------------------------------------
    def _step(self, s: _Shape) -> None:
        s.mask.index_fill_(-1, s.cpos, 0.0)  # the slot this token is written to becomes visible
        out = self.model(input_ids=s.tok, position_ids=s.pos, attention_mask=s.mask, past_key_values=s.cache,
                         use_cache=True)
        s.logits.copy_(out.logits[:, -1])
        s.pos.add_(1)
        s.cpos.add_(1)

    def _replay(self, s: _Shape) -> None:
        if s.graph is not None:
            s.graph.replay()
        else:
            self._step(s)

    # -- prefill -----------------------------------------------------------------------------------
    def _prefill(self, s: _Shape, rows: list[list[int]], pad_id: int) -> None:
        import torch

        batch, n, length = len(rows), max(len(r) for r in rows), s.mask.shape[-1]
        dev, dtype = s.tok.device, s.mask.dtype
        ids = torch.full((batch, n), pad_id, dtype=torch.long)
        real = torch.zeros(batch, n, dtype=torch.bool)
        for i, r in enumerate(rows):  # left padding, as `generate` does for decoder-only models
            ids[i, n - len(r):] = torch.tensor(r)
            real[i, n - len(r):] = True
        ids, real = ids.to(dev), real.to(dev)
        positions = (real.long().cumsum(-1) - 1).clamp(min=0)
        lowest = torch.finfo(dtype).min
        causal = torch.ones(n, n, dtype=torch.bool, device=dev).tril()
        visible = causal[None] & real[:, None, :]  # [B, q, k]
        mask = torch.full((batch, 1, n, length), lowest, dtype=dtype, device=dev)
        mask[:, 0, :, :n] = torch.where(visible, 0.0, lowest).to(dtype)
        s.cache.reset()
        out = self.model(input_ids=ids, position_ids=positions, attention_mask=mask, past_key_values=s.cache,
                         use_cache=True, logits_to_keep=1)
        s.logits.copy_(out.logits[:, -1])
        s.mask.fill_(lowest)
        s.mask[:, 0, 0, :n] = torch.where(real, 0.0, lowest).to(dtype)
        s.pos.copy_(positions[:, -1:] + 1)
        s.cpos.fill_(n)

    # -- the loop ----------------------------------------------------------------------------------
    def generate(self, rows: list[list[int]], max_new_tokens: int, sampling: Sampling, eos_ids: set[int],
                 ignore_eos: bool, pad_id: int, on_step: Callable[[torch.Tensor, int], None] | None = None
                 ) -> DecodeOutput:
        import torch

        needed = max(len(r) for r in rows) + max_new_tokens
        s, capture_s = self._shape(len(rows), self._cache_len(needed))
        self._prefill(s, rows, pad_id)
        gen = torch.Generator(device=s.tok.device).manual_seed(sampling.seed) if sampling.temperature else None
        eos = torch.tensor(sorted(eos_ids), dtype=torch.long, device=s.tok.device) if eos_ids else None
        done = [False] * len(rows)
        out: list[list[int]] = [[] for _ in rows]
        times: list[int] = []
        for step in range(max_new_tokens):
            logits = s.logits
            if ignore_eos and eos is not None:  # as generate's min_new_tokens: EOS can never be chosen
                logits = logits.index_fill(-1, eos, float("-inf"))
            nxt = _choose(logits, sampling, gen)
            host = nxt.cpu()  # waits for the step: the tokens really exist now
            t = now_ns()
            times.append(t)
            if on_step is not None:
                on_step(host, t)
            for i, tok in enumerate(host.tolist()):
                if not done[i]:
                    out[i].append(tok)
                    done[i] = (not ignore_eos) and tok in eos_ids
            if all(done) or step == max_new_tokens - 1:
                break
            if any(done):  # finished rows feed padding, as generate does
                nxt = torch.where(torch.tensor(done, device=nxt.device), pad_id, nxt)
            s.tok.copy_(nxt[:, None])
            self._replay(s)
        return DecodeOutput(tokens=out, times_ns=times, capture_s=capture_s)


def _choose(logits: torch.Tensor, p: Sampling, gen: torch.Generator | None) -> torch.Tensor:
    """Next token per row: argmax, or a draw after temperature, top-k and top-p (generate's order)."""
    import torch

    if not p.temperature:
        return logits.argmax(-1)
    x = logits / p.temperature
    if p.top_k and p.top_k < x.shape[-1]:
        kth = torch.topk(x, p.top_k, dim=-1).values[:, -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    if p.top_p < 1.0:
        sorted_x, order = torch.sort(x, descending=False, dim=-1)
        cum = sorted_x.softmax(-1).cumsum(-1)
        drop = cum <= 1 - p.top_p
        drop[:, -1] = False  # the most likely token always stays
        x = x.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return torch.multinomial(x.softmax(-1), 1, generator=gen)[:, 0]
