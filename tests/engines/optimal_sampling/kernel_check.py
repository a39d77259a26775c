"""Run by test_os_triton_kernels.py under TRITON_INTERPRET=1 (Triton's CPU interpreter): prints JSON.

Kept apart from the test process because Triton reads TRITON_INTERPRET when a kernel is defined.
"""

from __future__ import annotations

import json

import torch

from mm_orch.engines.optimal_sampling import OptimalSamplingV1, alpha, alpha_kernel, decode_attention, fused_head, qwen2
from mm_orch.engines.optimal_sampling.head import StepParams, make_head
from mm_orch.engines.optimal_sampling.sampling import token_keys


def kernel_errors() -> list[float]:
    """Largest |kernel - matmul path| per shape; slots past `slot` hold NaN, so reading one would show."""
    torch.manual_seed(0)
    errs = []
    # (batch, heads, kv heads, head dim, capacity, bucket length, slot): groups of 4, 3 and 1, 1-3 splits
    for b, h, kvh, d, cap, length, slot in [(3, 8, 2, 32, 200, 160, 97), (2, 6, 2, 32, 80, 80, 79),
                                             (1, 4, 4, 16, 40, 40, 0)]:
        q = torch.randn(b, h, 1, d)
        cache = torch.randn(2, b, kvh, cap, d)
        bias = torch.zeros(b, cap)
        bias[:, slot + 1:] = float("-inf")
        bias[0, :min(5, slot)] = float("-inf")  # a left-padded row
        ref = qwen2.attention(q, cache[0, :, :, :length], cache[1, :, :, :length], bias[:, None, None, None, :length])
        poisoned = cache.clone()
        poisoned[:, :, :, slot + 1:] = float("nan")
        out = decode_attention.attend_cache(q, poisoned, bias, torch.tensor([slot]), length)
        errs.append((out - ref).abs().max().item())
    return errs


def bisection_gaps() -> list[float]:
    """|kernel bisection - PyTorch bisection| of kl_symmetry's alpha, 20 steps taken 3 and 4 at a time."""
    torch.manual_seed(1)
    lp = torch.log_softmax(torch.randn(4, 9000) * 3, -1)
    lr = torch.log_softmax(torch.randn(4, 9000) * 3, -1)
    lr[1, 100:200] = float("-inf")  # masked entries
    mask, lp_m, g = alpha._prepare(lp, lr)
    shift = alpha._kl_shift(lp_m, g, mask)
    ref = alpha._bisect_torch(alpha._kl_gap, lp_m, g, 20, shift, 1)
    return [(alpha_kernel.bisect_kl(lp_m, g, shift, 20, bits) - ref).abs().max().item() for bits in (3, 4)]


def fused_head_gaps() -> dict:
    """Largest |fused head - PyTorch head| per output, sampled (T = 0.8) and greedy, over rows with masked
    ids, p == r and a finished row; three slices per row (small CHUNK) so the merges are exercised."""
    fused_head.CHUNK, fused_head.BLOCK_V = 1024, 256
    torch.manual_seed(2)
    b, vocab = 4, 3000
    gaps: dict[str, float] = {}
    for temp in (0.8, 0.0):
        lt = torch.randn(b, vocab + 64)[:, :vocab] * 3  # a strided view, as the padded head gives
        lth = torch.randn(b, vocab + 64)[:, :vocab] * 3
        lth[1] = lt[1]  # the same distribution: alpha is 1/2
        lt[2, 100:300] = float("-inf")
        lt[3] *= 12  # a confident teacher (logits up to ~50 / T): the fixed shift must not underflow
        seeds, step, keys = torch.tensor([5, 6, 7, 2**40 + 3]), torch.tensor([11]), token_keys(vocab, "cpu")
        done = torch.tensor([False, False, True, False])
        p = StepParams(max_tokens=8, temperature=temp)
        ref = make_head(p)(lt, lth, seeds, step, done, keys, 0)
        out = make_head(p, fused=True)(lt, lth, seeds, step, done, keys, 0)
        gaps[f"tokens_equal_t{temp}"] = bool(torch.equal(ref[0], out[0]))
        for name, r, o in zip(("alpha", "logq", "logp_theta", "logp_teacher"), ref[1:5], out[1:5], strict=True):
            gaps[f"{name}_t{temp}"] = (r - o).abs().max().item()
        gaps[f"stats_t{temp}"] = ((ref[5] - out[5]).abs() / ref[5].abs().clamp_min(1.0)).max().item()
        gaps[f"alpha_same_row_t{temp}"] = out[1][1].item()
        for mode, a_expected in (("teacher_only", 1.0), ("theta_only", 0.0)):  # one model's draw, g = 0
            q = StepParams(max_tokens=8, temperature=temp, mode=mode)
            args = (lt, None) if mode == "teacher_only" else (None, lth)
            ref = make_head(q)(*args, seeds, step, done, keys, 0)
            out = make_head(q, fused=True)(*args, seeds, step, done, keys, 0)
            gaps[f"{mode}_tokens_equal_t{temp}"] = bool(torch.equal(ref[0], out[0]))
            gaps[f"{mode}_alpha_t{temp}"] = bool((out[1] == a_expected).all())
            gaps[f"{mode}_logp_t{temp}"] = max((r - o).abs().nan_to_num(0.0).max().item()
                                               for r, o in zip(ref[2:5], out[2:5], strict=True))
            gaps[f"{mode}_nan_same_t{temp}"] = all(bool(torch.equal(r.isnan(), o.isnan()))
                                                   for r, o in zip(ref[2:5], out[2:5], strict=True))
    return gaps


def decoder_agreement() -> dict:
    prompts = ["Problem: 12 + 30. Answer: 42. Explain the steps:", "Say hello"]
    theta = ["Problem: 12 + 30. Explain:", "Hello, a longer theta prompt than the teacher's one"]
    kw = dict(prompts=prompts, theta_prompts=theta, max_tokens=6, temperature=0.9, seed=5, stop_at_eos=False,
              return_token_records=True)
    kernel = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cpu", attention="triton", head="triton")
    plain = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cpu", attention="matmul", head="torch")
    a, b = kernel.generate(**kw), plain.generate(**kw)
    logq = [abs(x["logq"][i] - y["logq"][i]) for x, y in zip(a.token_records, b.token_records, strict=True)
            for i in range(len(x["logq"]))]
    return {"attention": kernel.decoder.attention, "head": kernel.decoder.head,
            "same_tokens": a.generated_ids == b.generated_ids, "max_logq_diff": max(logq)}


if __name__ == "__main__":
    print(json.dumps({"kernel_errors": kernel_errors(), "bisection_gaps": bisection_gaps(),
                      "fused_head": fused_head_gaps(), **decoder_agreement()}))
