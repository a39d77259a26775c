"""The optimal-sampling head fused into Triton kernels: kl_symmetry's alpha, the Gumbel draw and the
mixture statistics, read straight from the two models' logits (CUDA, or Triton's CPU interpreter).

head.py's PyTorch head materialises log-softmaxes, a mask and shifts over [B, V] and runs dozens of
small kernels per step: on an H200 (3B + 1.5B, batch 32) alpha took 0.44 ms and sampling 0.28 ms of a
4.34 ms step, while the bytes involved take a few microseconds to read. Here one step's head is
passes + 3 kernels; in each, one program owns one row's slice of the vocabulary (CHUNK ids) and keeps
its sums per lane, reducing once at the end (a reduction per block costs a barrier):

1. `_norm_kernel`: per slice, running max and sum of exp of both models' logits / T.
2. `_pass_kernel`, ceil(iterations / bits) times: each program first finishes the previous pass (adds
   its row's partial sums and moves the bracket, as alpha._bisect does), then sums exp(s_a) * g at the
   pass's 2**bits - 1 points, s_a = lp + a * g. Only the sign of E_q[g] moves the bracket, so no
   denominator is needed; s_a <= (1 - a) max lp + a max lr gives a fixed shift (SHIFT) per point.
3. `_draw_kernel`: finishes the last pass (alpha), then per slice the Gumbel race's leader and the sums
   behind alpha.mixture_stats.
4. `_pick_kernel`, one program per row: the token, its log-probs under q, theta and the teacher, the
   statistics.

The math is head.py's: the same alpha up to one final bracket (2**-iterations) where a sum's rounding
flips a sign, the same counter-based noise (sampling.py) hashed in the kernel. It serves the default
step only (kl_symmetry, no top-k / top-p filter); `eligible` says when.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mm_orch.engines.optimal_sampling.alpha import STAT_NAMES
from mm_orch.engines.optimal_sampling.triton_support import tl, triton

CHUNK = 8192  # vocabulary ids per program: 19 per row at Qwen's 151,665 (the fastest of a sweep on an H200)
BLOCK_V = 1024
NUM_WARPS = 4
NORM_FIELDS = 6  # per slice: max and sum of exp for theta and for the teacher, min and max of v - u
DRAW_FIELDS = 11  # per slice: leader value and id, then the sums of mixture_stats (see _draw_kernel)
# exp(s_a - c(a) + SHIFT) with c(a) >= max s_a: no term above e^60 (a row of 10^6 ids sums below 10^33),
# and no underflow unless every id is e^-(60 + 87) less likely under theta or the teacher than its mode
SHIFT = 60.0


def eligible(p) -> bool:
    """The steps this head computes (StepParams p): nothing filtered, and with both models kl_symmetry's alpha.
    A single-model mode (teacher-only, theta-only) is the same draw with g = 0."""
    both = p.uses_teacher and p.uses_theta
    return p.top_k == 0 and p.top_p >= 1.0 and (p.alpha_method == "kl_symmetry" or not both)


def passes(iterations: int, bits: int) -> list[tuple[int, float]]:
    """(points, width) per pass: `bits` bisection steps per pass, the last pass takes what is left."""
    out, width, done = [], 1.0, 0
    while done < iterations:
        k = min(bits, iterations - done)
        width /= 2**k
        out.append((2**k - 1, width))
        done += k
    return out


if triton is not None:
    # a kernel reads globals only as compile-time constants
    _SHIFT = tl.constexpr(SHIFT)
    _NF = tl.constexpr(NORM_FIELDS)
    _DF = tl.constexpr(DRAW_FIELDS)
    _NS = tl.constexpr(len(STAT_NAMES))

    @triton.jit
    def _lane_lse(m, e, x):
        """Per lane: running max m and sum e of exp(x - m), updated with x (all [..., BV])."""
        m_new = tl.maximum(m, x)
        safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        return m_new, e * tl.exp(m - safe) + tl.exp(x - safe)

    @triton.jit
    def _merge(m, e, axis: tl.constexpr):
        """Merge (max, sum of exp(x - max)) pairs along `axis`: (the max, the log of the total)."""
        big = tl.max(m, axis)
        safe = tl.where(big == float("-inf"), 0.0, big)
        return big, big + tl.log(tl.sum(e * tl.exp(m - tl.expand_dims(safe, axis)), axis))

    @triton.jit
    def _row_norms(norm_ptr, row, chunks, C_PAD: tl.constexpr):
        """Theta's and the teacher's log-normalisers of u = logits / T, their largest log-probs, and whether
        v - u is constant (p == r)."""
        ch = tl.arange(0, C_PAD)
        base = norm_ptr + (row * chunks + ch) * _NF
        ok = ch < chunks
        m_u, l_u = _merge(tl.load(base + 0, mask=ok, other=float("-inf")), tl.load(base + 1, mask=ok, other=0.0), 0)
        m_v, l_v = _merge(tl.load(base + 2, mask=ok, other=float("-inf")), tl.load(base + 3, mask=ok, other=0.0), 0)
        d_lo = tl.min(tl.load(base + 4, mask=ok, other=float("inf")), 0)
        d_hi = tl.max(tl.load(base + 5, mask=ok, other=float("-inf")), 0)
        return l_u, l_v, m_u - l_u, m_v - l_v, d_lo == d_hi

    @triton.jit
    def _logits(xt_ptr, xth_ptr, st_t, st_th, row, v, vocab, TEMP: tl.constexpr):
        """u = theta's logits / T and w = the teacher's over ids v, -inf past the vocabulary."""
        inb = v < vocab
        u = tl.load(xth_ptr + row * st_th + v, mask=inb, other=float("-inf")).to(tl.float32) / TEMP
        w = tl.load(xt_ptr + row * st_t + v, mask=inb, other=float("-inf")).to(tl.float32) / TEMP
        return u, w

    @triton.jit
    def _log_probs(u, w, l_u, l_v):
        """(lp with -inf off the mask, lr likewise, g = lr - lp with 0 off the mask): alpha._prepare."""
        both = (u > float("-inf")) & (w > float("-inf"))
        lp = u - l_u
        lr = w - l_v
        return tl.where(both, lp, float("-inf")), tl.where(both, lr, float("-inf")), tl.where(both, lr - lp, 0.0)

    @triton.jit
    def _bracket(part_ptr, lo_ptr, row, n_rows, chunks, pass_idx, width, k, K_PAD: tl.constexpr,
                 C_PAD: tl.constexpr):
        """lo after pass `pass_idx`: its lo plus one width per point where the row's E_q[g] <= 0."""
        ch = tl.arange(0, C_PAD)
        kk = tl.arange(0, K_PAD)
        num = tl.load(part_ptr + (row * chunks + ch[:, None]) * K_PAD + kk[None, :], mask=ch[:, None] < chunks,
                      other=0.0)
        below = tl.sum(((tl.sum(num, 0) <= 0) & (kk < k)).to(tl.int32), 0)
        return tl.load(lo_ptr + pass_idx * n_rows + row) + width * below.to(tl.float32)

    @triton.jit
    def _mix32(x):
        """sampling._mix32 on int64 values in [0, 2**32): products wrap, the mask keeps the low bits."""
        x = x ^ (x >> 16)
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x = x ^ (x >> 15)
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)

    @triton.jit
    def _norm_kernel(xt_ptr, xth_ptr, st_t, st_th, vocab, norm_ptr, chunks, TEMP: tl.constexpr,
                     CH: tl.constexpr, BV: tl.constexpr):
        row = tl.program_id(0)
        part = tl.program_id(1)
        m_u = tl.full([BV], float("-inf"), tl.float32)
        e_u = tl.zeros([BV], tl.float32)
        m_v = tl.full([BV], float("-inf"), tl.float32)
        e_v = tl.zeros([BV], tl.float32)
        d_lo = tl.full([BV], float("inf"), tl.float32)
        d_hi = tl.full([BV], float("-inf"), tl.float32)
        for v0 in range(part * CH, part * CH + CH, BV):
            u, w = _logits(xt_ptr, xth_ptr, st_t, st_th, row, v0 + tl.arange(0, BV), vocab, TEMP)
            m_u, e_u = _lane_lse(m_u, e_u, u)
            m_v, e_v = _lane_lse(m_v, e_v, w)
            both = (u > float("-inf")) & (w > float("-inf"))
            d_lo = tl.minimum(d_lo, tl.where(both, w - u, float("inf")))
            d_hi = tl.maximum(d_hi, tl.where(both, w - u, float("-inf")))
        big_u, l_u = _merge(m_u, e_u, 0)
        big_v, l_v = _merge(m_v, e_v, 0)
        out = norm_ptr + (row * chunks + part) * _NF
        tl.store(out + 0, big_u)
        tl.store(out + 1, tl.exp(l_u - tl.where(big_u == float("-inf"), 0.0, big_u)))
        tl.store(out + 2, big_v)
        tl.store(out + 3, tl.exp(l_v - tl.where(big_v == float("-inf"), 0.0, big_v)))
        tl.store(out + 4, tl.min(d_lo, 0))
        tl.store(out + 5, tl.max(d_hi, 0))

    @triton.jit
    def _pass_kernel(xt_ptr, xth_ptr, st_t, st_th, vocab, norm_ptr, prev_ptr, part_ptr, lo_ptr, n_rows, chunks,
                     pass_idx, prev_width, prev_k, width, TEMP: tl.constexpr, FIRST: tl.constexpr,
                     K_PAD: tl.constexpr, C_PAD: tl.constexpr, CH: tl.constexpr, BV: tl.constexpr):
        row = tl.program_id(0)
        part = tl.program_id(1)
        l_u, l_v, mp, mr, _same = _row_norms(norm_ptr, row, chunks, C_PAD)
        if FIRST:
            lo = tl.load(lo_ptr + row)
        else:  # finish the previous pass; every program of the row gets the same lo, one stores it
            lo = _bracket(prev_ptr, lo_ptr, row, n_rows, chunks, pass_idx - 1, prev_width, prev_k, K_PAD, C_PAD)
            if part == 0:
                tl.store(lo_ptr + pass_idx * n_rows + row, lo)
        kk = tl.arange(0, K_PAD)
        a = lo + width * (kk + 1).to(tl.float32)
        c = (1.0 - a) * mp + a * mr - _SHIFT  # s_a <= (1 - a) max lp + a max lr: every exp stays below e^SHIFT
        num = tl.zeros([K_PAD, BV], tl.float32)
        for v0 in range(part * CH, part * CH + CH, BV):
            u, w = _logits(xt_ptr, xth_ptr, st_t, st_th, row, v0 + tl.arange(0, BV), vocab, TEMP)
            lp, _lr, g = _log_probs(u, w, l_u, l_v)
            num += tl.exp(lp[None, :] + a[:, None] * g[None, :] - c[:, None]) * g[None, :]
        tl.store(part_ptr + (row * chunks + part) * K_PAD + kk, tl.sum(num, 1))

    @triton.jit
    def _draw_kernel(xt_ptr, xth_ptr, st_t, st_th, vocab, norm_ptr, prev_ptr, lo_ptr, n_rows, chunks, pass_idx,
                     prev_width, prev_k, alpha_ptr, seeds_ptr, step_ptr, keys_ptr, draw_ptr,
                     TEMP: tl.constexpr, GREEDY: tl.constexpr, STATS: tl.constexpr, SINGLE: tl.constexpr,
                     K_PAD: tl.constexpr, C_PAD: tl.constexpr, CH: tl.constexpr, BV: tl.constexpr):
        row = tl.program_id(0)
        part = tl.program_id(1)
        l_u, l_v, mp, mr, same = _row_norms(norm_ptr, row, chunks, C_PAD)
        if SINGLE:  # one model passed as both: g = 0, s = its log-probs whatever a is
            a = tl.where(same, 0.0, 0.0)
        else:
            lo = _bracket(prev_ptr, lo_ptr, row, n_rows, chunks, pass_idx - 1, prev_width, prev_k, K_PAD, C_PAD)
            a = tl.where(same, 0.5, lo + 0.5 * prev_width)  # p == r: every a is a root, report the symmetric one
        if part == 0:
            tl.store(alpha_ptr + row, a)
        c = (1.0 - a) * mp + a * mr - _SHIFT
        # sampling.row_keys: this row's key at this step
        step = tl.load(step_ptr)
        seed = tl.load(seeds_ptr + row) & 0xFFFFFFFF
        rkey = _mix32((_mix32(seed) ^ ((step * 0x85EBCA6B + 0x165667B1) & 0xFFFFFFFF)) & 0xFFFFFFFF)
        best = tl.full([BV], float("-inf"), tl.float32)
        best_id = tl.zeros([BV], tl.int32)
        e_s = tl.zeros([BV], tl.float32)  # sum of exp(s - c): log q's normaliser
        e_sg = tl.zeros([BV], tl.float32)  # sum of exp(s - c) * g: E_q[g]
        pg = tl.zeros([BV], tl.float32)
        rg = tl.zeros([BV], tl.float32)
        plp = tl.zeros([BV], tl.float32)
        rlr = tl.zeros([BV], tl.float32)
        m_p2 = tl.full([BV], float("-inf"), tl.float32)  # 2 lp - s is not bounded above: running max
        e_p2 = tl.zeros([BV], tl.float32)
        m_r2 = tl.full([BV], float("-inf"), tl.float32)
        e_r2 = tl.zeros([BV], tl.float32)
        for v0 in range(part * CH, part * CH + CH, BV):
            v = v0 + tl.arange(0, BV)
            u, w = _logits(xt_ptr, xth_ptr, st_t, st_th, row, v, vocab, TEMP)
            lp, lr, g = _log_probs(u, w, l_u, l_v)
            s = lp + a * g
            z = s
            if not GREEDY:  # sampling.gumbel_noise, hashed here
                x = _mix32(rkey ^ tl.load(keys_ptr + v, mask=v < vocab, other=0))
                unif = ((x >> 8).to(tl.float32) + 0.5) * (1.0 / 16777216.0)
                z = s - tl.log(-tl.log(unif))
            take = z > best  # strictly greater: each lane keeps its first id among equals
            best = tl.where(take, z, best)
            best_id = tl.where(take, v, best_id)
            ex = tl.exp(s - c)
            e_s += ex
            if STATS:
                e_sg += ex * g
                on = lp > float("-inf")  # the joint support (lp and lr are masked together)
                p = tl.exp(lp)
                r = tl.exp(lr)
                pg += p * g
                rg += r * g
                plp += tl.where(on, p * lp, 0.0)
                rlr += tl.where(on, r * lr, 0.0)
                m_p2, e_p2 = _lane_lse(m_p2, e_p2, tl.where(on, 2.0 * lp - s, float("-inf")))
                m_r2, e_r2 = _lane_lse(m_r2, e_r2, tl.where(on, 2.0 * lr - s, float("-inf")))
        top = tl.max(best, 0)
        top_id = tl.min(tl.where(best == top, best_id, 2147483647), 0)
        out = draw_ptr + (row * chunks + part) * _DF
        tl.store(out + 0, top)
        tl.store(out + 1, top_id.to(tl.float32))  # exact: ids < 2**24
        tl.store(out + 2, tl.sum(e_s, 0))
        if STATS:
            tl.store(out + 3, tl.sum(e_sg, 0))
            tl.store(out + 4, tl.sum(pg, 0))
            tl.store(out + 5, tl.sum(rg, 0))
            tl.store(out + 6, tl.sum(plp, 0))
            tl.store(out + 7, tl.sum(rlr, 0))
            _big, lse_p2 = _merge(m_p2, e_p2, 0)
            _big, lse_r2 = _merge(m_r2, e_r2, 0)
            tl.store(out + 8, lse_p2)
            tl.store(out + 9, lse_r2)

    @triton.jit
    def _pick_kernel(xt_ptr, xth_ptr, st_t, st_th, norm_ptr, draw_ptr, alpha_ptr, done_ptr, pad_id, chunks,
                     y_ptr, logq_ptr, lp_ptr, lr_ptr, stats_ptr, TEMP: tl.constexpr, STATS: tl.constexpr,
                     C_PAD: tl.constexpr):
        row = tl.program_id(0)
        ch = tl.arange(0, C_PAD)
        ok = ch < chunks
        base = draw_ptr + (row * chunks + ch) * _DF
        lead = tl.load(base + 0, mask=ok, other=float("-inf"))
        lead_id = tl.load(base + 1, mask=ok, other=3.0e38)
        top = tl.max(lead, 0)
        y = tl.min(tl.where(lead == top, lead_id, 3.0e38), 0).to(tl.int64)  # the first id among equals
        y = tl.where(tl.load(done_ptr + row) != 0, pad_id, y)
        tl.store(y_ptr + row, y)
        l_u, l_v, mp, mr, _same = _row_norms(norm_ptr, row, chunks, C_PAD)
        a = tl.load(alpha_ptr + row)
        u = tl.load(xth_ptr + row * st_th + y).to(tl.float32) / TEMP
        w = tl.load(xt_ptr + row * st_t + y).to(tl.float32) / TEMP
        lp_y = u - l_u
        lr_y = w - l_v
        both = (u > float("-inf")) & (w > float("-inf"))
        s_y = tl.where(both, lp_y + a * (lr_y - lp_y), float("-inf"))
        tl.store(lp_ptr + row, lp_y)
        tl.store(lr_ptr + row, lr_y)
        e_s = tl.sum(tl.load(base + 2, mask=ok, other=0.0), 0)
        big_a = (1.0 - a) * mp + a * mr - _SHIFT + tl.log(e_s)  # log of sum p^(1-a) r^a
        tl.store(logq_ptr + row, s_y - big_a)
        if STATS:
            eq_g = tl.sum(tl.load(base + 3, mask=ok, other=0.0), 0) / e_s
            _big, lse_p2 = _merge(tl.load(base + 8, mask=ok, other=float("-inf")), tl.full([C_PAD], 1.0, tl.float32), 0)
            _big, lse_r2 = _merge(tl.load(base + 9, mask=ok, other=float("-inf")), tl.full([C_PAD], 1.0, tl.float32), 0)
            out = stats_ptr + row * _NS  # alpha.STAT_NAMES' order, alpha.mixture_stats' formulas
            tl.store(out + 0, -big_a)
            tl.store(out + 1, a * eq_g - big_a)
            tl.store(out + 2, (a - 1.0) * eq_g - big_a)
            tl.store(out + 3, -tl.sum(tl.load(base + 4, mask=ok, other=0.0), 0))
            tl.store(out + 4, tl.sum(tl.load(base + 5, mask=ok, other=0.0), 0))
            tl.store(out + 5, -tl.sum(tl.load(base + 6, mask=ok, other=0.0), 0))
            tl.store(out + 6, -tl.sum(tl.load(base + 7, mask=ok, other=0.0), 0))
            tl.store(out + 7, tl.exp(-(lse_p2 + big_a)))  # ESS of theta: 1 / sum p^2 / q
            tl.store(out + 8, tl.exp(-(lse_r2 + big_a)))


def _launch_norm_and_passes(logit_t: Tensor, logit_th: Tensor, temp: float, iterations: int, bits: int):
    b, vocab = logit_t.shape
    dev = logit_t.device
    chunks = triton.cdiv(vocab, CHUNK)
    c_pad = max(2, triton.next_power_of_2(chunks))
    k_pad = max(2, triton.next_power_of_2(2**bits - 1))
    plan = passes(iterations, bits)
    norm = torch.empty(b, chunks, NORM_FIELDS, device=dev, dtype=torch.float32)
    parts = torch.empty(2, b, chunks, k_pad, device=dev, dtype=torch.float32)
    lo = torch.zeros(len(plan) + 1, b, device=dev, dtype=torch.float32)
    common = (logit_t, logit_th, logit_t.stride(0), logit_th.stride(0), vocab)
    _norm_kernel[(b, chunks)](*common, norm, chunks, TEMP=temp, CH=CHUNK, BV=BLOCK_V, num_warps=NUM_WARPS)
    prev_k, prev_w = 0, 0.0
    for i, (k, width) in enumerate(plan):
        _pass_kernel[(b, chunks)](*common, norm, parts[(i - 1) % 2], parts[i % 2], lo, b, chunks, i, prev_w,
                                  prev_k, width, TEMP=temp, FIRST=i == 0, K_PAD=k_pad, C_PAD=c_pad, CH=CHUNK,
                                  BV=BLOCK_V, num_warps=NUM_WARPS)
        prev_k, prev_w = k, width
    state = dict(norm=norm, last=parts[(len(plan) - 1) % 2], lo=lo, pass_idx=len(plan), prev_w=prev_w,
                 prev_k=prev_k, chunks=chunks, c_pad=c_pad, k_pad=k_pad)
    return common, state


def alpha_passes(logit_t: Tensor, logit_th: Tensor, temp: float, iterations: int, bits: int) -> Tensor:
    """The norms and bisection passes alone, the profiler's alpha phase (the draw finishes the last pass);
    returns the brackets' left ends [passes + 1, B]."""
    _common, st = _launch_norm_and_passes(_rows(logit_t), _rows(logit_th), temp, iterations, bits)
    return st["lo"]


def head(logit_t: Tensor, logit_th: Tensor, seeds: Tensor, step: Tensor, done: Tensor, keys: Tensor, pad_id: int,
         temperature: float, greedy: bool, iterations: int, bits: int, track_stats: bool) -> tuple:
    """(y, alpha, log q(y), log pi_theta(y), log pi_t(y), stats or None), as head.make_head's step returns."""
    logit_t, logit_th = _rows(logit_t), _rows(logit_th)
    common, st = _launch_norm_and_passes(logit_t, logit_th, temperature, iterations, bits)
    return _draw_and_pick(logit_t, logit_th, common, st, seeds, step, done, keys, pad_id, temperature, greedy,
                          track_stats, single=False)


def head_single(logits: Tensor, seeds: Tensor, step: Tensor, done: Tensor, keys: Tensor, pad_id: int,
                temperature: float, greedy: bool) -> tuple[Tensor, Tensor, Tensor]:
    """One model's draw (teacher-only, theta-only): (y, log q(y), its log-prob of y), q being that model."""
    x = _rows(logits)
    common, st = _launch_norm_and_passes(x, x, temperature, 0, 1)
    y, _a, logq_y, l_y, _l, _stats = _draw_and_pick(x, x, common, st, seeds, step, done, keys, pad_id,
                                                    temperature, greedy, False, single=True)
    return y, logq_y, l_y


def _draw_and_pick(logit_t: Tensor, logit_th: Tensor, common: tuple, st: dict, seeds: Tensor, step: Tensor,
                   done: Tensor, keys: Tensor, pad_id: int, temperature: float, greedy: bool, track_stats: bool,
                   single: bool) -> tuple:
    b, dev, chunks = logit_t.shape[0], logit_t.device, st["chunks"]
    alpha = torch.empty(b, device=dev, dtype=torch.float32)
    draw = torch.empty(b, chunks, DRAW_FIELDS, device=dev, dtype=torch.float32)
    _draw_kernel[(b, chunks)](*common, st["norm"], st["last"], st["lo"], b, chunks, st["pass_idx"], st["prev_w"],
                              st["prev_k"], alpha, seeds, step, keys, draw, TEMP=temperature, GREEDY=greedy,
                              STATS=track_stats, SINGLE=single, K_PAD=st["k_pad"], C_PAD=st["c_pad"], CH=CHUNK,
                              BV=BLOCK_V, num_warps=NUM_WARPS)
    y = torch.empty(b, device=dev, dtype=torch.long)
    logq_y, lp_y, lr_y = (torch.empty(b, device=dev, dtype=torch.float32) for _ in range(3))
    stats = torch.empty(b, len(STAT_NAMES), device=dev, dtype=torch.float32) if track_stats else logq_y
    _pick_kernel[(b,)](logit_t, logit_th, logit_t.stride(0), logit_th.stride(0), st["norm"], draw, alpha, done,
                       pad_id, chunks, y, logq_y, lp_y, lr_y, stats, TEMP=temperature, STATS=track_stats,
                       C_PAD=st["c_pad"], num_warps=1)
    return y, alpha, logq_y, lp_y, lr_y, stats if track_stats else None


def _rows(x: Tensor) -> Tensor:
    """Logits [B, V] with unit stride along the vocabulary (the padded-head views already are)."""
    return x if x.stride(-1) == 1 else x.contiguous()
