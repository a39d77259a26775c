"""Where the dual engine's teacher decode step spends its time on a GPU (issue 13's profile), one command:

    PYTHONPATH=. python3 scripts/dual_step_probe.py --model qwen2.5-3b --batch 32 --out probe.json

Prints and writes (JSON): the teacher-only step as a CUDA graph (ms), the same step's kernels summed
by family under torch.profiler (eager, so launch gaps are excluded), the GEMM-only floor of the same
shapes (cuBLAS and cuBLASLt), and each decode attention variant alone. Dummy weights; CUDA only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mm_orch.engines.optimal_sampling import decode_attention, qwen2, triton_support  # noqa: E402
from mm_orch.engines.optimal_sampling.decoder import BUCKET, DualDecoder  # noqa: E402
from mm_orch.engines.optimal_sampling.head import StepParams  # noqa: E402
from mm_orch.engines.optimal_sampling.loader import load_lm  # noqa: E402
from mm_orch.engines.optimal_sampling.profile import replay_ms  # noqa: E402

FAMILIES = [("gemm", r"gemm|gemv|cutlass|sm90_|sm100_|cublas|splitk|xmma|nvjet"),
            ("attention", r"flash|fmha|attention|decode_attn"), ("softmax", r"softmax"),
            ("triton", r"triton"), ("copy/index", r"index|copy|cat|fill|scatter|gather"),
            ("elementwise", r"elementwise|vectorized|reduce")]


def family(name: str) -> str:
    low = name.lower()
    for fam, pat in FAMILIES:
        if re.search(pat, low):
            return fam
    return "other"


def time_graph(fn, reps: int = 50) -> float:
    """ms per call of fn captured as one CUDA graph."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    g.replay()
    torch.cuda.synchronize()
    return replay_ms(g, reps)


def kernel_breakdown(step, steps: int = 10) -> tuple[dict, list]:
    from torch.profiler import ProfilerActivity, profile

    step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    per_kernel: dict[str, list] = defaultdict(lambda: [0.0, 0])
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            k = per_kernel[ev.name]
            k[0] += ev.device_time_total / 1e3 / steps  # ms per step
            k[1] += 1
    fam: dict[str, float] = defaultdict(float)
    for name, (ms, _) in per_kernel.items():
        fam[family(name)] += ms
    top = sorted(((ms, n / steps, name[:110]) for name, (ms, n) in per_kernel.items()), reverse=True)[:30]
    return dict(fam), [{"ms": round(ms, 4), "calls": c, "kernel": nm} for ms, c, nm in top]


def probe_attention_variant(w, vocab: int, b: int, prompt: int, p: StepParams, att: str) -> dict:
    """Teacher step graphs at both buckets and the eager kernel breakdown, for one attention variant."""
    out: dict = {}
    dec = DualDecoder(w, None, vocab, 0, [], "cuda", attention=att)
    run = dec.run_for(b, prompt, prompt, p)
    for bucket in (1, 2):
        run.graphs[-bucket] = dec.capture(run, p, bucket, upto=1)  # compiles the layers; kept: its pool lives on

        def step(upto: int, bucket: int = bucket) -> None:
            dec.reset_counters(run)
            dec._step(run, p, bucket, upto=upto)

        t1, t4 = time_graph(lambda: step(1)), time_graph(lambda: step(4))
        out[f"graph_{att}_len{prompt + bucket * BUCKET}"] = {"forward_ms": t1, "step_ms": t4}
        print(att, bucket, t1, t4, flush=True)

    def fwd() -> None:
        dec.reset_counters(run)
        dec._step(run, p, 2, upto=1)

    fam, top = kernel_breakdown(fwd)
    out[f"kernels_{att}"] = {"families_ms": fam, "sum_ms": sum(fam.values()), "top": top}
    print(att, fam, flush=True)
    return out


def probe_alpha(b: int, vocab: int) -> dict:
    """The kl_symmetry solve (compiled, as in the step head) with 1-4 bisection steps per vocabulary pass."""
    from mm_orch.engines.optimal_sampling.alpha import solve_alpha

    g = torch.Generator(device="cuda").manual_seed(0)
    lp = torch.log_softmax(torch.randn(b, vocab, device="cuda", generator=g) * 3, -1)
    lr = torch.log_softmax(torch.randn(b, vocab, device="cuda", generator=g) * 3, -1)
    out, ref = {}, None
    for bits in (1, 2, 3, 4, 5):
        fn = torch.compile(lambda x, y, bits=bits: solve_alpha(x, y, "kl_symmetry", 20, bits=bits), dynamic=False)
        a = fn(lp, lr)
        ref = a if ref is None else ref
        out[f"alpha_solve_bits{bits}_ms"] = time_graph(lambda fn=fn: fn(lp, lr))
        out[f"alpha_solve_bits{bits}_max_diff_vs_bits1"] = (a - ref).abs().max().item()
    # the Triton bisection alone (a CUDA graph of its kernels) per launch shape: slots per program,
    # slots per inner step, warps
    from mm_orch.engines.optimal_sampling import alpha, alpha_kernel

    mask, lp_m, gg = alpha._prepare(lp, lr)
    shift = alpha._kl_shift(lp_m, gg, mask)
    saved = alpha_kernel.CHUNK, alpha_kernel.BLOCK_V, alpha_kernel.NUM_WARPS
    for chunk, bv, warps in ((4096, 512, 4), (8192, 1024, 4), (8192, 1024, 8), (16384, 1024, 8), (4096, 1024, 8),
                             (2048, 512, 4), (8192, 512, 4), (16384, 2048, 8)):
        alpha_kernel.CHUNK, alpha_kernel.BLOCK_V, alpha_kernel.NUM_WARPS = chunk, bv, warps
        for bits in (2, 3):
            out[f"bisect_kernel_c{chunk}_bv{bv}_w{warps}_bits{bits}_ms"] = time_graph(
                lambda bits=bits: alpha_kernel.bisect_kl(lp_m, gg, shift, 20, bits))
    alpha_kernel.CHUNK, alpha_kernel.BLOCK_V, alpha_kernel.NUM_WARPS = saved

    def prepare_and_shift() -> None:
        m, x, y = alpha._prepare(lp, lr)
        alpha._kl_shift(x, y, m)

    out["prepare_and_shift_ms"] = time_graph(prepare_and_shift)
    print(out, flush=True)
    return out


def probe_head(b: int, vocab: int, padded: int) -> dict:
    """The step head after both forwards (T = 0.8, stats on): PyTorch compiled against fused_head's kernels
    per launch shape (ids per program, ids per inner step, bisection steps per pass), on bf16 logits."""
    from mm_orch.engines.optimal_sampling import fused_head
    from mm_orch.engines.optimal_sampling.head import make_head
    from mm_orch.engines.optimal_sampling.sampling import token_keys

    g = torch.Generator(device="cuda").manual_seed(0)
    lt = (torch.randn(b, padded, device="cuda", generator=g) * 3).bfloat16()[:, :vocab]
    lth = (torch.randn(b, padded, device="cuda", generator=g) * 3).bfloat16()[:, :vocab]
    seeds = torch.arange(b, device="cuda") + 7
    step, done, keys = torch.tensor([5], device="cuda"), torch.zeros(b, dtype=torch.bool, device="cuda"), \
        token_keys(vocab, "cuda")
    p = StepParams(max_tokens=512, temperature=0.8)
    torch_head = torch.compile(make_head(p), dynamic=False)
    args = (lt, lth, seeds, step, done, keys, 0)
    ref = torch_head(*args)
    out = {"head_torch_compiled_ms": time_graph(lambda: torch_head(*args))}
    saved = fused_head.CHUNK, fused_head.BLOCK_V, fused_head.NUM_WARPS
    for chunk, bv, warps, bit_list in ((4096, 1024, 4, (2, 3, 4)), (8192, 1024, 4, (2, 3)), (2048, 1024, 4, (2, 3)),
                                       (4096, 512, 4, (2, 3)), (4096, 2048, 8, (2, 3)), (8192, 2048, 8, (2, 3))):
        fused_head.CHUNK, fused_head.BLOCK_V, fused_head.NUM_WARPS = chunk, bv, warps
        for bits in bit_list:
            def fn(bits=bits):
                return fused_head.head(*args, 0.8, False, 20, bits, True)
            res = fn()
            key = f"head_fused_c{chunk}_bv{bv}_w{warps}_bits{bits}"
            out[key + "_ms"] = time_graph(fn)
            out[key + "_same_tokens"] = bool(torch.equal(res[0], ref[0]))
            out[key + "_alpha_max_diff"] = (res[1] - ref[1]).abs().max().item()
            out[key + "_stats_max_diff"] = (res[5] - ref[5]).abs().max().item()
    fused_head.CHUNK, fused_head.BLOCK_V, fused_head.NUM_WARPS = saved
    fam, top = kernel_breakdown(lambda: fused_head.head(*args, 0.8, False, 20, 2, True))
    out["head_fused_kernels"] = {"families_ms": fam, "top": top[:8]}
    fam, top = kernel_breakdown(lambda: torch_head(*args))
    out["head_torch_kernels"] = {"families_ms": fam, "top": top[:12]}
    print(out, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-3b")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--prompt", type=int, default=144)
    ap.add_argument("--attention", default="triton,matmul")
    ap.add_argument("--out", default="probe.json")
    ap.add_argument("--alpha-only", action="store_true")
    ap.add_argument("--head-only", action="store_true", help="only the step head: PyTorch against fused kernels")
    args = ap.parse_args()
    out: dict = {"model": args.model, "batch": args.batch, "gpu": torch.cuda.get_device_name(0),
                 "torch": torch.__version__}
    lm = load_lm(args.model, "cuda", "auto", "dummy", 0)
    w, d = lm.weights, lm.weights.dims
    out["weights_gb"] = lm.gpu_bytes / 1e9
    b = args.batch
    padded = -(-lm.vocab // qwen2.LOGIT_ALIGN) * qwen2.LOGIT_ALIGN  # the logits' row stride
    if args.alpha_only or args.head_only:
        with torch.inference_mode():
            out |= probe_alpha(b, lm.vocab) if args.alpha_only else probe_head(b, lm.vocab, padded)
        Path(args.out).write_text(json.dumps(out, indent=1, default=str))
        return
    p = StepParams(max_tokens=512, temperature=0.8, mode="teacher_only", track_stats=False)
    with torch.inference_mode():
        for att in args.attention.split(","):
            out |= probe_attention_variant(w, lm.vocab, b, args.prompt, p, att)
            torch.cuda.empty_cache()

        # the GEMMs alone, same shapes
        x = torch.randn(b, 1, d.hidden, device="cuda", dtype=w.embed.dtype)
        a_in = torch.randn(b, 1, d.heads * d.head_dim, device="cuda", dtype=w.embed.dtype)
        m_in = torch.randn(b, 1, d.inter, device="cuda", dtype=w.embed.dtype)
        h = torch.randn(b, d.hidden, device="cuda", dtype=w.embed.dtype)

        def gemms() -> None:
            for ly in w.layers:
                F.linear(x, ly.wqkv, ly.bqkv)
                F.linear(a_in, ly.wo)
                F.linear(x, ly.wgu)
                F.linear(m_in, ly.wd)
            F.linear(h, w.lm_head[: lm.vocab])

        for lib in ("cublas", "cublaslt"):
            try:
                torch.backends.cuda.preferred_blas_library(lib)
                out[f"gemm_floor_ms_{lib}"] = time_graph(gemms)
            except Exception as e:  # a backend this build lacks is data
                out[f"gemm_floor_ms_{lib}"] = f"{type(e).__name__}: {e}"[:200]
        torch.backends.cuda.preferred_blas_library("cublas")
        fam, top = kernel_breakdown(gemms)
        out["gemm_kernels"] = {"families_ms": fam, "top": top[:8]}
        out["bandwidth_floor_ms"] = lm.gpu_bytes / 4.8e12 * 1e3

        # attention alone, all layers, per length
        kvh, dh = d.kv_heads, d.head_dim
        for length in (args.prompt + BUCKET, args.prompt + 2 * BUCKET):
            caches = [torch.randn(2, b, kvh, length, dh, device="cuda", dtype=w.embed.dtype)
                      for _ in range(d.layers)]
            q = torch.randn(b, d.heads, 1, dh, device="cuda", dtype=w.embed.dtype)
            bias = torch.zeros(b, 1, 1, 1, length, device="cuda", dtype=w.embed.dtype)
            for name, fn in (("matmul", qwen2.attention), ("sdpa", qwen2.attention_sdpa)):
                out[f"attention_{name}_len{length}_ms"] = time_graph(
                    lambda fn=fn, q=q, n=length, bias=bias, cs=caches: [fn(q, c[0, :, :, :n], c[1, :, :, :n], bias)
                                                                       for c in cs])
            if triton_support.available():  # every slot written: the kernel's worst case (last step)
                bias2d, slot = bias.view(b, length), torch.tensor([length - 1], device="cuda")
                out[f"attention_triton_len{length}_ms"] = time_graph(
                    lambda q=q, n=length, bias2d=bias2d, slot=slot, cs=caches:
                    [decode_attention.attend_cache(q, c, bias2d, slot, n) for c in cs])
            kv_bytes = 2 * b * kvh * length * dh * 2 * d.layers
            out[f"attention_floor_len{length}_ms"] = kv_bytes / 4.8e12 * 1e3
        out |= probe_alpha(b, lm.vocab)
    text = json.dumps(out, indent=1, default=str)
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"probe took {time.perf_counter() - t0:.0f}s")
