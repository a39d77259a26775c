"""kl_symmetry's bisection in Triton (CUDA): each pass evaluates f(a) = E_q[g] at every point it tests
in one read of the vocabulary, then moves the bracket on the device.

The bisection in alpha.py tests 2**bits - 1 points per pass. In PyTorch (even compiled) every point
re-reads the row's log-probs, a 32-row reduction keeps only 32 of an H200's 132 SMs busy, and the
bracket update is several more small kernels: 0.41-0.9 ms for 20 steps at batch 32 over Qwen2.5's
151,665 ids. Here each program owns one row's slice of the vocabulary and sums exp and exp * g for every
point (a few thousand programs fill the GPU); a second kernel per pass adds the slices and moves the bracket.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mm_orch.engines.optimal_sampling.triton_support import tl, triton

BLOCK_V = 1024
CHUNK = 8192  # vocabulary slots per program: 19 programs per row at Qwen's vocabulary
NUM_WARPS = 4

if triton is not None:

    @triton.jit
    def _gap_partial_kernel(lp_ptr, g_ptr, lo_ptr, mp_ptr, mr_ptr, hd_ptr, num_ptr, den_ptr, vocab,
                            stride_row, chunks, WIDTH: tl.constexpr, K: tl.constexpr, K_PAD: tl.constexpr,
                            CH: tl.constexpr, BV: tl.constexpr):
        """Partial sums of e and e * g over one slice of one row, at the K points lo + width * (1..K)."""
        row = tl.program_id(0)
        part = tl.program_id(1)
        kk = tl.arange(0, K_PAD)
        a = tl.load(lo_ptr + row) + WIDTH * (kk + 1).to(tl.float32)
        # the shift of alpha._kl_shift: keeps every exponent finite without a max inside the loop
        c = (1.0 - a) * tl.load(mp_ptr + row) + a * tl.load(mr_ptr + row) - tl.load(hd_ptr + row)
        num = tl.zeros([K_PAD], tl.float32)
        den = tl.zeros([K_PAD], tl.float32)
        for v0 in range(part * CH, part * CH + CH, BV):
            v = v0 + tl.arange(0, BV)
            vmask = v < vocab
            lp = tl.load(lp_ptr + row * stride_row + v, mask=vmask, other=float("-inf"))
            g = tl.load(g_ptr + row * stride_row + v, mask=vmask, other=0.0)
            e = tl.exp(lp[None, :] + a[:, None] * g[None, :] - c[:, None])
            num += tl.sum(e * g[None, :], 1)
            den += tl.sum(e, 1)
        out = (row * chunks + part) * K_PAD + kk
        tl.store(num_ptr + out, num)
        tl.store(den_ptr + out, den)

    @triton.jit
    def _advance_kernel(num_ptr, den_ptr, lo_ptr, chunks, WIDTH: tl.constexpr, K: tl.constexpr,
                        K_PAD: tl.constexpr, C_PAD: tl.constexpr):
        """f at each point from the partial sums; lo moves right by one width per point with f <= 0."""
        row = tl.program_id(0)
        ch = tl.arange(0, C_PAD)
        kk = tl.arange(0, K_PAD)
        idx = (row * chunks + ch[:, None]) * K_PAD + kk[None, :]
        m = ch[:, None] < chunks
        num = tl.sum(tl.load(num_ptr + idx, mask=m, other=0.0), 0)
        den = tl.sum(tl.load(den_ptr + idx, mask=m, other=0.0), 0)
        below = tl.sum(((num / den <= 0) & (kk < K)).to(tl.int32), 0)
        tl.store(lo_ptr + row, tl.load(lo_ptr + row) + WIDTH * below.to(tl.float32))


def bisect_kl(lp_m: Tensor, g: Tensor, shift: tuple[Tensor, Tensor, Tensor], iterations: int, bits: int) -> Tensor:
    """alpha._bisect for kl_symmetry, two kernels per pass; returns the bracket's midpoint [B]."""
    b, vocab = lp_m.shape
    lp_m, g = lp_m.contiguous(), g.contiguous()
    mp, mr, half_d = (t.float().contiguous() for t in shift)
    chunks = triton.cdiv(vocab, CHUNK)
    lo = torch.zeros(b, device=lp_m.device, dtype=torch.float32)
    k_pad = max(2, triton.next_power_of_2(2**bits - 1))
    num = torch.empty(b, chunks, k_pad, device=lp_m.device, dtype=torch.float32)
    den = torch.empty_like(num)
    width, done = 1.0, 0
    while done < iterations:
        k = min(bits, iterations - done)
        width /= 2**k
        # WIDTH a compile-time constant: float32 arithmetic (a compiled caller passes floats as float64)
        _gap_partial_kernel[(b, chunks)](lp_m, g, lo, mp, mr, half_d, num, den, vocab, lp_m.stride(0),
                                         chunks, WIDTH=width, K=2**k - 1, K_PAD=k_pad, CH=CHUNK, BV=BLOCK_V,
                                         num_warps=NUM_WARPS)
        _advance_kernel[(b,)](num, den, lo, chunks, WIDTH=width, K=2**k - 1, K_PAD=k_pad,
                              C_PAD=triton.next_power_of_2(chunks))
        done += k
    return lo + 0.5 * width
