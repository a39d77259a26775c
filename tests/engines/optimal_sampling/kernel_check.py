"""Run by test_os_triton_kernels.py under TRITON_INTERPRET=1 (Triton's CPU interpreter): prints JSON.

Kept apart from the test process because Triton reads TRITON_INTERPRET when a kernel is defined.
"""

from __future__ import annotations

import json

import torch

from mm_orch.engines.optimal_sampling import OptimalSamplingV1, alpha, alpha_kernel, decode_attention, qwen2


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


def decoder_agreement() -> dict:
    prompts = ["Problem: 12 + 30. Answer: 42. Explain the steps:", "Say hello"]
    theta = ["Problem: 12 + 30. Explain:", "Hello, a longer theta prompt than the teacher's one"]
    kw = dict(prompts=prompts, theta_prompts=theta, max_tokens=6, temperature=0.9, seed=5, stop_at_eos=False,
              return_token_records=True)
    kernel = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cpu", attention="triton")
    plain = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cpu", attention="matmul")
    a, b = kernel.generate(**kw), plain.generate(**kw)
    logq = [abs(x["logq"][i] - y["logq"][i]) for x, y in zip(a.token_records, b.token_records, strict=True)
            for i in range(len(x["logq"]))]
    return {"attention": kernel.decoder.attention, "same_tokens": a.generated_ids == b.generated_ids,
            "max_logq_diff": max(logq)}


if __name__ == "__main__":
    print(json.dumps({"kernel_errors": kernel_errors(), "bisection_gaps": bisection_gaps(), **decoder_agreement()}))
