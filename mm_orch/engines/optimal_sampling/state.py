"""Per-run device state: static KV caches, masks, positions and the output records of one batch shape."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mm_orch.engines.optimal_sampling.alpha import STAT_NAMES
from mm_orch.engines.optimal_sampling.qwen2 import Qwen2Dims


@dataclass(slots=True)
class ModelState:
    """One model's decode state; every tensor is updated in place so CUDA-graph replays advance it."""

    kv: list[Tensor]  # per layer [2, B, KVH, capacity, D]
    bias: Tensor  # [B, capacity] model dtype: 0 where a slot is visible, -inf elsewhere
    pos: Tensor  # [B] position id of the token fed next (each row its own, left padding)
    slot: Tensor  # [1] cache slot of the token fed next (shared: prompts are left-padded to one length)
    prompt_len: int
    capacity: int


def alloc_model_state(d: Qwen2Dims, batch: int, prompt_len: int, capacity: int, device, dtype) -> ModelState:
    kv = [torch.zeros(2, batch, d.kv_heads, capacity, d.head_dim, device=device, dtype=dtype)
          for _ in range(d.layers)]
    return ModelState(kv, torch.full((batch, capacity), float("-inf"), device=device, dtype=dtype),
                      torch.zeros(batch, dtype=torch.long, device=device),
                      torch.full((1,), prompt_len, dtype=torch.long, device=device), prompt_len, capacity)


def left_pad(seqs: list[list[int]], length: int, pad_id: int, device) -> tuple[Tensor, Tensor, Tensor]:
    """(ids [B,S], key mask [B,S] bool, position ids [B,S]) with every row ending at column S-1."""
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), length, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, length - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[i, length - len(s):] = True
    pos = (mask.long().cumsum(-1) - 1).clamp_min(0)
    return ids.to(device), mask.to(device), pos.to(device)


def reset_for_prompt(st: ModelState, mask: Tensor) -> None:
    """After prefill: prompt slots visible where real, decode slots hidden, counters at the prompt end."""
    s = mask.shape[1]
    st.bias.fill_(float("-inf"))
    st.bias[:, :s].masked_fill_(mask, 0.0)
    st.pos.copy_(mask.long().sum(-1))
    st.slot.fill_(s)


@dataclass(slots=True)
class Records:
    """What each step logs, on the device; [steps, B] unless noted."""

    tokens: Tensor
    alpha: Tensor
    logq: Tensor
    logp_theta: Tensor
    logp_teacher: Tensor
    stats: Tensor | None  # [steps, B, len(STAT_NAMES)]

    @classmethod
    def alloc(cls, steps: int, batch: int, device, track_stats: bool) -> Records:
        def f() -> Tensor:
            return torch.full((steps, batch), float("nan"), device=device)

        stats = torch.full((steps, batch, len(STAT_NAMES)), float("nan"), device=device) if track_stats else None
        return cls(torch.zeros(steps, batch, dtype=torch.long, device=device), f(), f(), f(), f(), stats)


@dataclass(slots=True)
class RunState:
    """All device state of one (batch shape, sampling settings) key, reused across generate calls."""

    teacher: ModelState | None
    theta: ModelState | None
    tok: Tensor  # [B] last sampled token (the next decode input)
    done: Tensor  # [B] bool: row emitted EOS
    step: Tensor  # [1] index of the token being generated
    seeds: Tensor  # [B]
    rec: Records
    graphs: dict[int, object]  # bucket -> torch.cuda.CUDAGraph
    split: object | None = None  # split.SplitBuffers when theta runs on its own device
