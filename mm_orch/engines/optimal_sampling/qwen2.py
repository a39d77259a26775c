"""A compact Qwen2 forward in plain PyTorch: fused weights, static KV cache, prefill and one-token decode.

Same safetensors names as Transformers' Qwen2ForCausalLM (tests check logits against it). q/k/v and
gate/up projections are concatenated so each layer runs four GEMMs; q is pre-scaled by 1/sqrt(d).
Decode attention groups query heads per KV head with batched matmuls, reading each KV slot once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mm_orch.errors import ConfigError


@dataclass(slots=True, frozen=True)
class Qwen2Dims:
    hidden: int
    inter: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    rope_theta: float
    eps: float
    tie: bool

    @classmethod
    def from_config(cls, c: Mapping[str, Any]) -> Qwen2Dims:
        if c.get("model_type") != "qwen2":
            raise ConfigError(f"the dual engine runs Qwen2-architecture models; got model_type "
                              f"'{c.get('model_type')}'")
        heads = c["num_attention_heads"]
        return cls(c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], heads,
                   c.get("num_key_value_heads") or heads, c.get("head_dim") or c["hidden_size"] // heads,
                   c["vocab_size"], float(c.get("rope_theta", 10000.0)), float(c.get("rms_norm_eps", 1e-6)),
                   bool(c.get("tie_word_embeddings", False)))

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


@dataclass(slots=True)
class Layer:
    ln1: Tensor
    wqkv: Tensor  # [(H + 2 KVH) * D, hidden], q rows pre-scaled
    bqkv: Tensor
    wo: Tensor
    ln2: Tensor
    wgu: Tensor  # [2 * inter, hidden]: gate then up
    wd: Tensor


@dataclass(slots=True)
class Qwen2Weights:
    dims: Qwen2Dims
    embed: Tensor
    layers: list[Layer]
    norm: Tensor
    lm_head: Tensor
    rope_cos: Tensor  # [max_pos, D/2] float32
    rope_sin: Tensor

    def num_bytes(self) -> int:
        ts = [self.embed, self.norm, *(t for ly in self.layers for t in (ly.ln1, ly.wqkv, ly.bqkv, ly.wo,
                                                                        ly.ln2, ly.wgu, ly.wd))]
        if self.lm_head.data_ptr() != self.embed.data_ptr():
            ts.append(self.lm_head)
        return sum(t.numel() * t.element_size() for t in ts)


def rope_tables(d: Qwen2Dims, max_pos: int, device) -> tuple[Tensor, Tensor]:
    inv = 1.0 / (d.rope_theta ** (torch.arange(0, d.head_dim, 2, dtype=torch.float64) / d.head_dim))
    freqs = torch.outer(torch.arange(max_pos, dtype=torch.float64), inv)
    return freqs.cos().float().to(device), freqs.sin().float().to(device)


def from_state_dict(sd: Mapping[str, Tensor], d: Qwen2Dims, device, dtype, max_pos: int = 32768) -> Qwen2Weights:
    """Fuse Transformers-named tensors (a safetensors file or model.state_dict()) into our layout."""
    def get(name: str) -> Tensor:
        return sd[name].to(device=device, dtype=dtype)

    scale = 1.0 / math.sqrt(d.head_dim)
    layers = []
    for i in range(d.layers):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        wqkv = torch.cat([get(a + "q_proj.weight") * scale, get(a + "k_proj.weight"), get(a + "v_proj.weight")])
        bqkv = torch.cat([get(a + "q_proj.bias") * scale, get(a + "k_proj.bias"), get(a + "v_proj.bias")])
        wgu = torch.cat([get(p + "mlp.gate_proj.weight"), get(p + "mlp.up_proj.weight")])
        layers.append(Layer(get(p + "input_layernorm.weight"), wqkv, bqkv, get(a + "o_proj.weight"),
                            get(p + "post_attention_layernorm.weight"), wgu, get(p + "mlp.down_proj.weight")))
    embed = get("model.embed_tokens.weight")
    lm_head = embed if d.tie or "lm_head.weight" not in sd else get("lm_head.weight")
    cos, sin = rope_tables(d, max_pos, device)
    return Qwen2Weights(d, embed, layers, get("model.norm.weight"), lm_head, cos, sin)


def load_folder(path: Path, d: Qwen2Dims, device, dtype, max_pos: int = 32768) -> Qwen2Weights:
    from safetensors.torch import load_file

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise ConfigError(f"no *.safetensors weights in {path} (use --load-format dummy for random weights)")
    sd: dict[str, Tensor] = {}
    for f in files:
        sd.update(load_file(str(f)))
    return from_state_dict(sd, d, device, dtype, max_pos)


def random_weights(d: Qwen2Dims, device, dtype, seed: int = 0, std: float = 0.02,
                   max_pos: int = 32768) -> Qwen2Weights:
    """Dummy weights drawn straight into the fused layout on the device (fast for multi-GB models)."""
    g = torch.Generator(device=device).manual_seed(seed)

    def rnd(*shape: int, s: float = std) -> Tensor:
        return (torch.randn(*shape, generator=g, device=device, dtype=torch.float32) * s).to(dtype)

    def ones(n: int) -> Tensor:
        return torch.ones(n, device=device, dtype=dtype)

    hd, h = d.head_dim, d.hidden
    qkv = (d.heads + 2 * d.kv_heads) * hd
    scale = torch.ones(qkv, 1, device=device, dtype=torch.float32)
    scale[: d.heads * hd] = 1.0 / math.sqrt(hd)
    layers = [Layer(ones(h), (rnd(qkv, h).float() * scale).to(dtype), rnd(qkv), rnd(h, d.heads * hd), ones(h),
                    rnd(2 * d.inter, h), rnd(h, d.inter)) for _ in range(d.layers)]
    embed = rnd(d.vocab, h)
    lm_head = embed if d.tie else rnd(d.vocab, h)
    cos, sin = rope_tables(d, max_pos, device)
    return Qwen2Weights(d, embed, layers, ones(h), lm_head, cos, sin)


# -- forward ---------------------------------------------------------------------------------------
def rms_norm(x: Tensor, w: Tensor, eps: float) -> Tensor:
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return w * xf.to(x.dtype)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate-half RoPE (Qwen2/Llama convention) computed in float32; cos/sin broadcast over heads."""
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)


def attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
    """q [B,H,Sq,D] (pre-scaled), k/v [B,KVH,Sk,D], bias broadcastable to [B,1,1,Sq,Sk] -> [B,Sq,H*D]."""
    b, h, sq, dh = q.shape
    kvh, sk = k.shape[1], k.shape[2]
    grp = h // kvh
    scores = torch.matmul(q.reshape(b, kvh, grp * sq, dh), k.transpose(-1, -2))
    # bias in the scores' dtype: one add and one softmax kernel (softmax accumulates in float32)
    p = torch.softmax(scores.view(b, kvh, grp, sq, sk) + bias.to(scores.dtype), dim=-1)
    p = p.view(b, kvh, grp * sq, sk)
    return torch.matmul(p, v).view(b, h, sq, dh).transpose(1, 2).reshape(b, sq, h * dh)


def attention_sdpa(q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
    """attention() as one fused SDPA kernel: each KV head's query group is its query rows, so no K/V copy."""
    b, h, sq, dh = q.shape
    kvh, sk = k.shape[1], k.shape[2]
    grp = h // kvh
    mask = bias.to(q.dtype).expand(b, 1, grp, sq, sk).reshape(b, 1, grp * sq, sk)
    out = F.scaled_dot_product_attention(q.reshape(b, kvh, grp * sq, dh), k, v, attn_mask=mask, scale=1.0)
    return out.view(b, h, sq, dh).transpose(1, 2).reshape(b, sq, h * dh)


def _mlp(x: Tensor, ly: Layer, eps: float) -> Tensor:
    gu = F.linear(rms_norm(x, ly.ln2, eps), ly.wgu)
    gate, up = gu.chunk(2, dim=-1)
    return x + F.linear(F.silu(gate) * up, ly.wd)


def _qkv(x: Tensor, ly: Layer, w: Qwen2Weights, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """x [B,S,hidden] -> q [B,S,H,D], k/v [B,S,KVH,D] with RoPE applied to q and k together."""
    d = w.dims
    qkv = F.linear(rms_norm(x, ly.ln1, d.eps), ly.wqkv, ly.bqkv)
    b, s = x.shape[:2]
    nq = d.heads + d.kv_heads
    qk = apply_rope(qkv[..., : nq * d.head_dim].view(b, s, nq, d.head_dim), cos, sin)
    v = qkv[..., nq * d.head_dim:].view(b, s, d.kv_heads, d.head_dim)
    return qk[:, :, : d.heads], qk[:, :, d.heads:], v


def prefill(w: Qwen2Weights, ids: Tensor, pos: Tensor, key_mask: Tensor, kv: list[Tensor]) -> Tensor:
    """Left-padded prompts [B,S]: fill kv[l][:, :, :, :S]; return final-normed hidden of every position."""
    d = w.dims
    b, s = ids.shape
    x = F.embedding(ids, w.embed)
    cos, sin = w.rope_cos[pos][:, :, None], w.rope_sin[pos][:, :, None]
    allowed = torch.tril(torch.ones(s, s, dtype=torch.bool, device=ids.device)) & key_mask[:, None, :]
    allowed |= torch.eye(s, dtype=torch.bool, device=ids.device)  # pad rows see themselves: no NaN
    bias = torch.zeros(b, 1, 1, s, s, device=ids.device).masked_fill(~allowed[:, None, None], float("-inf"))
    for ly, cache in zip(w.layers, kv, strict=True):
        q, k, v = _qkv(x, ly, w, cos, sin)
        k, v = k.transpose(1, 2), v.transpose(1, 2)
        cache[0, :, :, :s] = k
        cache[1, :, :, :s] = v
        x = x + F.linear(attention(q.transpose(1, 2), k, v, bias), ly.wo)
        x = _mlp(x, ly, d.eps)
    return rms_norm(x, w.norm, d.eps)


def decode_qkv(x: Tensor, ln1: Tensor, wqkv: Tensor, bqkv: Tensor, cos: Tensor, sin: Tensor, eps: float,
               heads: int, kv_heads: int, head_dim: int, cache: Tensor, slot: Tensor) -> Tensor:
    """x [B,1,hidden] -> q [B,H,1,D]; the new k/v go into cache [2,B,KVH,cap,D] at `slot` ([1]).

    Plain tensors so it compiles once; compiled, the cache write fuses with RoPE (one kernel, not three).
    """
    qkv = F.linear(rms_norm(x, ln1, eps), wqkv, bqkv)
    b = x.shape[0]
    nq = heads + kv_heads
    qk = apply_rope(qkv[..., : nq * head_dim].view(b, 1, nq, head_dim), cos, sin)
    v = qkv[..., nq * head_dim:].view(b, 1, kv_heads, head_dim)
    cache.index_copy_(3, slot, torch.stack([qk[:, :, heads:], v]).view(2, b, kv_heads, 1, head_dim))
    return qk[:, :, :heads].transpose(1, 2)


def decode_post(x: Tensor, att: Tensor, wo: Tensor, ln2: Tensor, wgu: Tensor, wd: Tensor, eps: float) -> Tensor:
    """Output projection + residual, then the MLP block + residual."""
    x = x + F.linear(att, wo)
    gate, up = F.linear(rms_norm(x, ln2, eps), wgu).chunk(2, dim=-1)
    return x + F.linear(F.silu(gate) * up, wd)


@dataclass(slots=True)
class DecodeKernels:
    """The per-layer pieces of a decode step; compiled() fuses their pointwise work (CUDA)."""

    qkv: Any = decode_qkv
    post: Any = decode_post
    attend: Any = attention  # or attention_sdpa: one fused kernel instead of matmul, softmax, matmul
    # (q, cache, bias, slot, length) -> [B,1,H*D], reading the cache in place (decode_attention.py);
    # when set it replaces `attend`
    attend_cache: Any = None

    @classmethod
    def compiled(cls, attend: Any = attention, attend_cache: Any = None) -> DecodeKernels:
        return cls(torch.compile(decode_qkv, dynamic=False), torch.compile(decode_post, dynamic=False), attend,
                   attend_cache)


EAGER = DecodeKernels()


def decode(w: Qwen2Weights, tok: Tensor, pos: Tensor, slot: Tensor, bias: Tensor, kv: list[Tensor],
           length: int, k: DecodeKernels = EAGER) -> Tensor:
    """One token per row: write KV at slot (a [1] tensor), attend over the first `length` slots.

    bias [B, T] holds 0 for visible slots and -inf elsewhere; the caller opens `slot` before calling.
    """
    d = w.dims
    x = F.embedding(tok, w.embed)[:, None]  # [B,1,hidden]
    cos, sin = w.rope_cos[pos][:, None, None], w.rope_sin[pos][:, None, None]
    bias_l = bias[:, None, None, None, :length]
    for ly, cache in zip(w.layers, kv, strict=True):
        q = k.qkv(x, ly.ln1, ly.wqkv, ly.bqkv, cos, sin, d.eps, d.heads, d.kv_heads, d.head_dim, cache, slot)
        if k.attend_cache is not None:
            att = k.attend_cache(q, cache, bias, slot, length)
        else:
            att = k.attend(q, cache[0, :, :, :length], cache[1, :, :, :length], bias_l)
        x = k.post(x, att, ly.wo, ly.ln2, ly.wgu, ly.wd, d.eps)
    return rms_norm(x[:, 0], w.norm, d.eps)


LOGIT_ALIGN = 64  # logit rows computed per call are a multiple of this (see logits())


def logits(w: Qwen2Weights, hidden: Tensor, vocab: int) -> Tensor:
    """Logits over the first `vocab` ids only (the common real vocabulary), a view [B, vocab].

    The GEMM runs over `vocab` rounded up to LOGIT_ALIGN rows (the embedding is padded past the real
    vocabulary): an output row length like Qwen2.5's 151,665 is not 16-byte aligned, and cuBLAS then
    falls back to an align-1 kernel, 0.69 ms instead of ~0.15 ms for the 3B head at batch 32 (H200).
    """
    rows = min(-(-vocab // LOGIT_ALIGN) * LOGIT_ALIGN, w.lm_head.shape[0])
    return F.linear(hidden, w.lm_head[:rows])[..., :vocab]
