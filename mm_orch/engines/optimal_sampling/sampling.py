"""Sampling on the device: top-k / top-p on log q, then a Gumbel race keyed by (row seed, step, token).

The noise is a counter-based hash, not a stateful generator: a row's draw depends only on its own seed
and step, so results do not depend on batch mates, replay inside CUDA graphs needs no RNG state, and
teacher-only / theta-only runs see exactly the same noise as the mixture with alpha = 1 / 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

_M32 = 0xFFFFFFFF


def _mix32(x: Tensor) -> Tensor:
    """A 32-bit avalanche hash on int64 values in [0, 2^32); products wrap, the mask keeps the low bits."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def token_keys(vocab: int, device) -> Tensor:
    """Per-token hash constants [V], computed once per decoder."""
    return _mix32((torch.arange(vocab, device=device, dtype=torch.int64) * 0x9E3779B1 + 0x632BE5AB) & _M32)


def row_keys(seeds: Tensor, step: Tensor) -> Tensor:
    """[B] keys from per-row seeds [B] and the step counter (a [1] or [B] tensor)."""
    return _mix32((_mix32(seeds & _M32) ^ ((step * 0x85EBCA6B + 0x165667B1) & _M32)) & _M32)


def gumbel_noise(seeds: Tensor, step: Tensor, keys: Tensor) -> Tensor:
    """Standard Gumbel noise [B, V] (float32)."""
    x = _mix32(row_keys(seeds, step)[:, None] ^ keys[None, :])
    u = ((x >> 8).to(torch.float32) + 0.5) * (1.0 / 16777216.0)  # 24 bits, strictly inside (0, 1)
    return -torch.log(-torch.log(u))


def filter_top_k_top_p(logq: Tensor, top_k: int, top_p: float) -> Tensor:
    """Keep the k most likely tokens and the smallest nucleus of mass top_p; renormalise (float32 [B, V])."""
    if top_k > 0 and top_k < logq.shape[-1]:
        kth = torch.topk(logq, top_k, dim=-1).values[:, -1:]
        logq = logq.masked_fill(logq < kth, float("-inf"))
    if top_p < 1.0:
        srt, idx = torch.sort(logq, dim=-1, descending=True)
        probs = torch.softmax(srt, dim=-1)
        drop = (probs.cumsum(-1) - probs) > top_p  # mass before this token already reaches top_p
        srt = srt.masked_fill(drop, float("-inf"))
        logq = torch.full_like(logq, float("-inf")).scatter(-1, idx, srt)
    if top_k > 0 or top_p < 1.0:
        logq = logq - torch.logsumexp(logq, dim=-1, keepdim=True)
    return logq


def sample(logq: Tensor, seeds: Tensor, step: Tensor, keys: Tensor, greedy: bool) -> Tensor:
    """Token ids [B] (int64): argmax of log q plus Gumbel noise (exact sampling from q), or plain argmax."""
    if greedy:
        return torch.argmax(logq, dim=-1)
    return torch.argmax(logq + gumbel_noise(seeds, step, keys), dim=-1)
