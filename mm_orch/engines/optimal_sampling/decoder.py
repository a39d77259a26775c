"""DualDecoder: teacher and theta decode one shared sequence per row, a whole batch at a time.

Prefill runs eagerly per model; each decode step (both forwards + alpha + sampling + logging) is one
function of static device state. On CUDA it is captured as a CUDA graph per attention-length bucket,
so a step is one graph replay and the host syncs only every `sync_every` steps.

`overlap_models` (on by default) captures the two forwards as parallel branches on two streams: at
decode batch sizes neither model's small per-layer kernels fill the GPU, so the theta forward fills the
teacher's gaps instead of queueing (H200, 3B + 1.5B, batch 32 / 512: 4,706 tok/s against 3,895 serial).

`theta_device` puts theta on a device of its own (e.g. cuda:1); split.py chains the per-device graphs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from mm_orch.engines.optimal_sampling import decode_attention, fused_head, qwen2, triton_support
from mm_orch.engines.optimal_sampling.head import StepParams, make_head
from mm_orch.engines.optimal_sampling.sampling import token_keys
from mm_orch.engines.optimal_sampling.split import alloc_split, capture_on, on_device, synchronize
from mm_orch.engines.optimal_sampling.state import (
    ModelState,
    Records,
    RunState,
    alloc_model_state,
    left_pad,
    reset_for_prompt,
)
from mm_orch.errors import ConfigError

log = logging.getLogger(__name__)
BUCKET = 256  # decode attention reads the cache up to prompt + a multiple of this many slots
ATTENTION = ("auto", "matmul", "sdpa", "triton")
HEADS = ("auto", "torch", "triton")  # the step's head: PyTorch (compiled on CUDA) or fused_head's kernels
PROMPT_ROUND = 16  # prompts are left-padded to a multiple of this, so graphs are reused across batches


@dataclass(slots=True)
class DecodeResult:
    """Host copies of the records, [steps, B], cut to `steps` generated positions."""

    tokens: np.ndarray
    alpha: np.ndarray
    logq: np.ndarray
    logp_theta: np.ndarray
    logp_teacher: np.ndarray
    stats: np.ndarray | None
    lengths: list[int]  # tokens per row (up to and including EOS when stopping at EOS)
    start_ns: int
    first_token_ns: int
    end_ns: int
    sync_points: list[tuple[int, int]] = field(default_factory=list)  # (tokens done, perf_counter_ns)
    capture_s: float = 0.0  # graph capture / compile time spent inside this call (0 when reused)


class DualDecoder:
    def __init__(self, teacher: qwen2.Qwen2Weights, theta: qwen2.Qwen2Weights | None, vocab: int, pad_id: int,
                 eos_ids: list[int], device: str, use_graphs: bool = True, compile_head: bool = True,
                 compile_layers: bool = True, overlap_models: bool = True, theta_device: str | None = None,
                 attention: str = "auto", head: str = "auto") -> None:
        self.teacher, self.theta = teacher, theta
        self.vocab, self.pad_id, self.eos_ids = vocab, pad_id, eos_ids
        self.device = device
        # None: theta shares the teacher's device; else its own (split.py), even the same one (tests)
        self.split = theta_device is not None and theta is not None
        self.theta_device = theta_device if self.split else device
        self.dtype = teacher.embed.dtype
        self.use_graphs = use_graphs and device.startswith("cuda")
        self.compile_head = compile_head and device.startswith("cuda")
        if self.compile_head or compile_layers:
            # one code object serves every batch size, mode and model shape: allow that many variants
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        self.attention = resolve_attention(attention, device)
        self.head = resolve_head(head, device)
        attend = qwen2.attention_sdpa if self.attention == "sdpa" else qwen2.attention
        cached = decode_attention.attend_cache if self.attention == "triton" else None
        self.kernels = (qwen2.DecodeKernels.compiled(attend, cached) if compile_layers and self.use_graphs
                        else qwen2.DecodeKernels(attend=attend, attend_cache=cached))
        self.keys = token_keys(vocab, device)
        self.eos = torch.tensor(eos_ids or [-1], device=device)
        self._run: RunState | None = None
        self._run_key: tuple | None = None
        self._heads: dict[StepParams, Callable] = {}
        self._pool = None
        self._theta_pool = None
        # the two forwards as parallel branches of the captured graph (see the module docstring)
        self.overlap_models = overlap_models
        self._side = torch.cuda.Stream(device=device) if self.use_graphs else None

    # -- setup ---------------------------------------------------------------------------------
    def _head(self, p: StepParams, upto: str = "sample") -> Callable:
        key = (replace(p, max_tokens=0, stop_at_eos=False), upto)  # the head ignores these: compile once
        if key not in self._heads:
            fused = self.head == "triton" and fused_head.eligible(p)
            fn = make_head(p, upto, fused)
            self._heads[key] = torch.compile(fn, dynamic=False) if self.compile_head and not fused else fn
        return self._heads[key]

    def _alloc(self, batch: int, s_t: int, s_th: int, p: StepParams) -> RunState:
        cap = math.ceil(p.max_tokens / BUCKET) * BUCKET

        def mk(w: qwen2.Qwen2Weights, s: int, dev: str) -> ModelState:
            return alloc_model_state(w.dims, batch, s, s + cap, dev, self.dtype)

        t = mk(self.teacher, s_t, self.device) if p.uses_teacher else None
        th = mk(self.theta, s_th, self.theta_device) if p.uses_theta and self.theta is not None else None
        z = torch.zeros(1, dtype=torch.long, device=self.device)
        split = alloc_split(batch, self.vocab, self.device, self.theta_device, self.dtype) \
            if self.split and th is not None else None
        return RunState(t, th, torch.zeros(batch, dtype=torch.long, device=self.device),
                        torch.zeros(batch, dtype=torch.bool, device=self.device), z,
                        torch.zeros(batch, dtype=torch.long, device=self.device),
                        Records.alloc(p.max_tokens, batch, self.device, p.track_stats), {}, split)

    def run_for(self, batch: int, s_t: int, s_th: int, p: StepParams) -> RunState:
        key = (batch, s_t, s_th, p)
        if self._run_key != key:
            self._run, self._run_key = None, None  # free the old caches and graphs first
            self._pool = self._theta_pool = None
            if self.use_graphs:
                torch.cuda.empty_cache()
            self._run, self._run_key = self._alloc(batch, s_t, s_th, p), key
        return self._run

    # -- one step ------------------------------------------------------------------------------
    def _forward(self, w: qwen2.Qwen2Weights, st: ModelState, tok: Tensor, length: int) -> Tensor:
        st.bias.index_fill_(1, st.slot, 0.0)
        h = qwen2.decode(w, tok, st.pos, st.slot, st.bias, st.kv, length, self.kernels)
        st.pos.add_(1)
        st.slot.add_(1)
        return qwen2.logits(w, h, self.vocab)

    def _finish(self, run: RunState, p: StepParams, logit_t: Tensor | None, logit_th: Tensor | None) -> None:
        y, a, logq_y, lp_y, lr_y, stats = self._head(p)(logit_t, logit_th, run.seeds, run.step, run.done,
                                                        self.keys, self.pad_id)
        r = run.rec
        for buf, val in ((r.tokens, y), (r.alpha, a), (r.logq, logq_y), (r.logp_theta, lp_y),
                         (r.logp_teacher, lr_y)):
            buf.index_copy_(0, run.step, val[None].to(buf.dtype))
        if stats is not None and r.stats is not None:
            r.stats.index_copy_(0, run.step, stats[None])
        if p.stop_at_eos:
            run.done |= torch.isin(y, self.eos)
        run.tok.copy_(y)
        run.step.add_(1)

    # -- one step, theta on its own device (split.py) --------------------------------------------
    def _theta_forward(self, run: RunState, bucket: int) -> None:
        sp = run.split
        with on_device(self.theta_device):
            sp.logit_theta_local.copy_(self._forward(self.theta, run.theta, sp.tok_theta,
                                                     run.theta.prompt_len + bucket * BUCKET))

    def _teacher_forward(self, run: RunState, bucket: int) -> None:
        if run.teacher is not None:
            run.split.logit_teacher.copy_(self._forward(self.teacher, run.teacher, run.tok,
                                                        run.teacher.prompt_len + bucket * BUCKET))

    def _split_head(self, run: RunState, p: StepParams) -> None:
        sp = run.split
        self._finish(run, p, sp.logit_teacher if run.teacher is not None else None, sp.logit_theta)

    def _split_step(self, run: RunState, p: StepParams, bucket: int) -> None:
        """Launch theta (its device) and the teacher back to back, join on the main device, send tokens back."""
        sp = run.split
        if self.use_graphs:
            with on_device(self.theta_device):
                sp.theta_graphs[bucket].replay()
            if run.teacher is not None:
                sp.teacher_graphs[bucket].replay()
        else:
            self._theta_forward(run, bucket)
            self._teacher_forward(run, bucket)
        sp.logit_theta.copy_(sp.logit_theta_local, non_blocking=True)
        if self.use_graphs:
            sp.head_graph.replay()
        else:
            self._split_head(run, p)
        sp.tok_theta.copy_(run.tok, non_blocking=True)

    def _capture_split(self, run: RunState, p: StepParams, bucket: int) -> None:
        sp = run.split

        def reset() -> None:
            self.reset_counters(run)

        sp.theta_graphs[bucket], self._theta_pool = capture_on(
            self.theta_device, self._theta_pool, lambda: self._theta_forward(run, bucket), reset)
        if run.teacher is not None:
            sp.teacher_graphs[bucket], self._pool = capture_on(
                self.device, self._pool, lambda: self._teacher_forward(run, bucket), reset)
        if sp.head_graph is None:
            sp.head_graph, self._pool = capture_on(self.device, self._pool, lambda: self._split_head(run, p), reset)

    def _step(self, run: RunState, p: StepParams, bucket: int, upto: int = 4) -> None:
        """upto < 4 runs a prefix of the step (1 teacher, 2 + theta, 3 + alpha) for the profiler."""
        if run.split is not None:
            return self._split_step(run, p, bucket)
        lt = lth = None
        theta = run.theta is not None and upto >= 2
        if (theta and run.teacher is not None and self.overlap_models and self._side is not None
                and torch.cuda.is_current_stream_capturing()):
            main = torch.cuda.current_stream()
            self._side.wait_stream(main)
            with torch.cuda.stream(self._side):  # a fork inside the capture: a parallel graph branch
                lth = self._forward(self.theta, run.theta, run.tok, run.theta.prompt_len + bucket * BUCKET)
            lt = self._forward(self.teacher, run.teacher, run.tok, run.teacher.prompt_len + bucket * BUCKET)
            main.wait_stream(self._side)  # the join: the head needs both logits
        else:
            if run.teacher is not None:
                lt = self._forward(self.teacher, run.teacher, run.tok, run.teacher.prompt_len + bucket * BUCKET)
            if theta:
                lth = self._forward(self.theta, run.theta, run.tok, run.theta.prompt_len + bucket * BUCKET)
        if upto == 3:
            self._head(p, "alpha")(lt, lth, run.seeds, run.step, run.done, self.keys, self.pad_id)
        elif upto >= 4:
            self._finish(run, p, lt, lth)

    # -- graphs --------------------------------------------------------------------------------
    def reset_counters(self, run: RunState) -> None:
        for st in (run.teacher, run.theta):
            if st is not None:
                st.slot.fill_(st.prompt_len)
        run.step.zero_()

    def capture(self, run: RunState, p: StepParams, bucket: int, upto: int = 4):
        """Warm up on a side stream (state is garbage until the next prefill), then record one step."""
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                self.reset_counters(run)
                self._step(run, p, bucket, upto)
        torch.cuda.current_stream().wait_stream(s)
        self.reset_counters(run)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, pool=self._pool):
            self._step(run, p, bucket, upto)
        self._pool = g.pool()
        return g

    def prepare(self, run: RunState, p: StepParams) -> float:
        """Capture every bucket's graph before the prompt is loaded; returns seconds spent."""
        if not self.use_graphs:
            return 0.0
        t0 = time.perf_counter()
        for bucket in range(1, math.ceil(max(p.max_tokens - 1, 1) / BUCKET) + 1):
            if bucket not in run.graphs:
                if run.split is not None:
                    self._capture_split(run, p, bucket)
                    run.graphs[bucket] = None  # marks the bucket captured
                else:
                    run.graphs[bucket] = self.capture(run, p, bucket)
        self.synchronize()
        return time.perf_counter() - t0

    def synchronize(self) -> None:
        synchronize(self.device, self.theta_device)

    # -- prefill + loop ------------------------------------------------------------------------
    def _prefill(self, w: qwen2.Qwen2Weights, st: ModelState, seqs: list[list[int]]) -> Tensor:
        ids, mask, pos = left_pad(seqs, st.prompt_len, self.pad_id, w.embed.device)
        h = qwen2.prefill(w, ids, pos, mask, st.kv)
        reset_for_prompt(st, mask)
        return qwen2.logits(w, h[:, -1], self.vocab)

    @torch.inference_mode()
    def generate(self, teacher_ids: list[list[int]], theta_ids: list[list[int]], seeds: list[int], p: StepParams,
                 sync_every: int = 32, on_step: Callable[[Tensor, int], None] | None = None) -> DecodeResult:
        """Decode p.max_tokens positions for every row (rows that hit EOS are masked)."""
        if p.uses_theta and self.theta is None:
            raise ConfigError(f"mode '{p.mode}' needs a theta model")
        b = len(teacher_ids)
        run = self.run_for(b, _rounded_len(teacher_ids), _rounded_len(theta_ids), p)
        capture_s = self.prepare(run, p)
        sync = self.synchronize
        sync()
        start = time.perf_counter_ns()
        run.seeds.copy_(torch.tensor(seeds, dtype=torch.long))
        run.done.zero_()
        run.step.zero_()
        lt = self._prefill(self.teacher, run.teacher, teacher_ids) if run.teacher is not None else None
        lth = self._prefill(self.theta, run.theta, theta_ids) if run.theta is not None else None
        if run.split is not None:
            run.split.logit_theta.copy_(lth)
            self._finish(run, p, lt, run.split.logit_theta)
            run.split.tok_theta.copy_(run.tok)
        else:
            self._finish(run, p, lt, lth)
        sync()
        first = time.perf_counter_ns()
        points = [(1, first)]
        if on_step is not None:
            on_step(run.tok, first)
        steps = p.max_tokens
        for i in range(1, p.max_tokens):
            bucket = math.ceil(i / BUCKET)
            if run.split is not None:
                self._split_step(run, p, bucket)
            elif self.use_graphs:
                run.graphs[bucket].replay()
            else:
                self._step(run, p, bucket)
            if on_step is not None:
                sync()
                on_step(run.tok, time.perf_counter_ns())
            if (i + 1) % sync_every == 0:
                finished = bool(run.done.all()) if p.stop_at_eos else False  # .all() syncs
                sync()
                points.append((i + 1, time.perf_counter_ns()))
                if finished:
                    steps = i + 1
                    break
        sync()
        end = time.perf_counter_ns()
        if not points or points[-1][0] != steps:
            points.append((steps, end))
        return self._collect(run, p, steps, start, first, end, points, capture_s)

    def _collect(self, run: RunState, p: StepParams, steps: int, start: int, first: int, end: int,
                 points: list[tuple[int, int]], capture_s: float) -> DecodeResult:
        r = run.rec

        def host(t: Tensor) -> np.ndarray:
            return t[:steps].cpu().numpy()

        tokens = host(r.tokens)
        lengths = []
        for row in range(tokens.shape[1]):
            n = steps
            if p.stop_at_eos:
                hits = np.nonzero(np.isin(tokens[:, row], self.eos_ids))[0]
                n = int(hits[0]) + 1 if len(hits) else steps
            lengths.append(n)
        return DecodeResult(tokens, host(r.alpha), host(r.logq), host(r.logp_theta), host(r.logp_teacher),
                            host(r.stats) if r.stats is not None else None, lengths, start, first, end, points,
                            capture_s)


def resolve_attention(name: str, device: str) -> str:
    """auto: the Triton decode kernel on CUDA (where Triton is installed), else matmul + softmax + matmul."""
    return _resolve_kernel("decode attention", name, ATTENTION, device, "matmul", "'matmul' or 'sdpa'")


def resolve_head(name: str, device: str) -> str:
    """auto: fused_head's Triton kernels on CUDA (where Triton is installed), else PyTorch. Either way the
    kernels serve only the steps fused_head.eligible accepts; other settings run the PyTorch head."""
    return _resolve_kernel("step head", name, HEADS, device, "torch", "'torch'")


def _resolve_kernel(what: str, name: str, choices: tuple[str, ...], device: str, fallback: str, others: str) -> str:
    if name not in choices:
        raise ConfigError(f"unknown {what} '{name}' (choose from {', '.join(choices)})")
    if name == "auto":
        return "triton" if device.startswith("cuda") and triton_support.available() else fallback
    if name == "triton" and not triton_support.usable(device):
        raise ConfigError(f"{what} 'triton' needs a CUDA device and the triton package (use {others})")
    return name


def _rounded_len(seqs: list[list[int]]) -> int:
    return math.ceil(max(len(s) for s in seqs) / PROMPT_ROUND) * PROMPT_ROUND
