"""Heavy benchmark of the optimal-sampling dual engine (the seed package's workload), one command:

    PYTHONPATH=. python scripts/optimal_sampling_heavy.py --load-format dummy --profile

Qwen2.5-3B-Instruct teacher + Qwen2.5-1.5B-Instruct theta (random weights with --load-format dummy;
real ones where the hub is reachable), configs batch/max_tokens 8/256 16/512 32/512 16/1024 8/2048,
two batches each, modes optimal_sampling, teacher_only, theta_only. Output length is fixed (EOS ignored).
Batch 0 includes CUDA-graph capture and compilation (reported apart as capture_s); later batches are warm.
Writes <out>.json (system info + rows) and <out>.md (tables in the seed report's format, ratio rows).
Needs no pydantic (runs on the bare GPU image).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mm_orch.engines.optimal_sampling.facade import OptimalSamplingV1, row_seeds  # noqa: E402
from mm_orch.engines.optimal_sampling.summary import alpha_summary  # noqa: E402

log = logging.getLogger("optimal_sampling_heavy")
GIB = 2**30


def system_info() -> dict:
    import torch
    import transformers

    info = {"python_version": platform.python_version(), "torch_version": torch.__version__,
            "transformers_version": transformers.__version__, "cpu": platform.processor() or platform.machine(),
            "platform": platform.platform()}
    info["git_sha"] = os.environ.get("MM_ORCH_GIT_SHA")  # a copied tree's .git can be stale (lent GPUs)
    if not info["git_sha"]:
        try:
            sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
            info["git_sha"] = sha if len(sha) == 40 else None
        except OSError:
            info["git_sha"] = None
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info |= {"gpu": p.name, "gpu_memory_gb": round(p.total_memory / GIB, 2), "cuda": torch.version.cuda,
                 "sm_count": p.multi_processor_count, "gpu_count": torch.cuda.device_count()}
    return info


def synthetic_prompts(n: int, vocab: int, rng: random.Random) -> tuple[list[list[int]], list[list[int]]]:
    """Teacher prompts (problem + oracle answer) longer than theta prompts (problem only)."""
    t, th = [], []
    for _ in range(n):
        problem = [rng.randrange(vocab) for _ in range(rng.randint(32, 96))]
        answer = [rng.randrange(vocab) for _ in range(rng.randint(16, 48))]
        t.append(problem + answer)
        th.append(problem)
    return t, th


def run_row(s: OptimalSamplingV1, bs: int, mt: int, mode: str, idx: int, rng: random.Random) -> dict:
    import torch

    tok_vocab = min(len(s.tokenizer), s.decoder.vocab)
    t_ids, th_ids = synthetic_prompts(bs, tok_vocab, rng)
    p = s.params(mt, 0.8, 1.0, -1, mode, stop_at_eos=False)
    cuda = torch.cuda.is_available()
    devices = sorted({torch.device(d).index or 0 for d in (s.decoder.device, s.decoder.theta_device)}) if cuda else []
    for d in devices:
        torch.cuda.reset_peak_memory_stats(d)
    t0 = time.perf_counter()
    res = s.decoder.generate(t_ids, th_ids, row_seeds(1000 * idx + bs, bs), p, s.sync_every)
    wall = time.perf_counter() - t0
    gen_s = (res.end_ns - res.start_ns) / 1e9
    n_tokens = sum(res.lengths)
    a = alpha_summary(res.alpha, res.stats, res.lengths)
    return {"batch_size": bs, "max_tokens": mt, "mode": mode, "batch_index": idx,
            "tokens_per_second": n_tokens / gen_s, "total_s": gen_s, "wall_s_with_capture": wall,
            "capture_s": res.capture_s, "prefill_s": (res.first_token_ns - res.start_ns) / 1e9,
            "avg_latency_s": gen_s / bs, "total_tokens": n_tokens, "tokens_per_request": n_tokens / bs,
            "peak_memory_gb": sum(torch.cuda.max_memory_allocated(d) for d in devices) / GIB if cuda else None,
            "peak_memory_gb_per_device": {f"cuda:{d}": torch.cuda.max_memory_allocated(d) / GIB for d in devices},
            "alpha_mean": a.get("mean"), "alpha_std": a.get("std"),
            "kl_star_mean": (a.get("divergences") or {}).get("kl_star")}


# The seed package's published figures (OptimalSamplingV1 on vLLM, real weights, EOS allowed), tok/s
SEED = {(8, 256): (57.70, 1335.26), (16, 512): (138.81, 2588.87), (32, 512): (152.68, 4715.85),
        (16, 1024): (119.47, 2333.39), (8, 2048): (104.31, 1531.12)}


def seed_comparison(rows: list[dict]) -> list[str]:
    out = ["## Against the seed package", "",
           "The seed's figures came from real checkpoints with EOS allowed (variable output length); ours from "
           "random weights at a fixed length, so compare the order of magnitude and the OS / teacher ratio.", "",
           "| BS/MT | seed OS tok/s | ours OS tok/s | speed-up | seed teacher/OS tok/s | ours |",
           "|---|---|---|---|---|---|"]
    for (bs, mt), (seed_os, seed_t) in SEED.items():
        warm = {r["mode"]: r for r in rows if (r["batch_size"], r["max_tokens"]) == (bs, mt) and r["batch_index"] > 0}
        if "optimal_sampling" in warm and "teacher_only" in warm:
            o, t = warm["optimal_sampling"], warm["teacher_only"]
            out.append(f"| {bs}/{mt} | {seed_os:,.2f} | {o['tokens_per_second']:,.1f} | "
                       f"{o['tokens_per_second'] / seed_os:,.1f}x | {seed_t / seed_os:.1f}x | "
                       f"{o['total_s'] / t['total_s']:.2f}x |")
    return out + [""]


def markdown(rows: list[dict], info: dict, args, profile: dict | None) -> str:
    names = {"optimal_sampling": "**Optimal Sampling**", "teacher_only": "**Teacher-only**",
             "theta_only": "**Theta-only**"}
    pl = info.get("placement", {})
    out = ["# Optimal Sampling heavy benchmark (mm_orch dual engine)", "",
           f"Teacher: {args.teacher} on {pl.get('teacher')}  Theta: {args.theta} on {pl.get('theta')}  "
           f"load format: {args.load_format}  alpha: {args.alpha_method}  GPU: {info.get('gpu', 'cpu')} "
           f"x{info.get('gpu_count', 0)}  torch {info['torch_version']}  git {str(info.get('git_sha'))[:10]}", "",
           f"Flags: overlap (parallel graph branches) {pl.get('overlap_models')}, CUDA graphs {not args.no_graphs}, "
           f"compile {not args.no_compile}, compiled layers {not (args.no_compile or args.no_compile_layers)}, "
           f"attention {pl.get('attention', args.attention)}, head {pl.get('head', args.head)}.", "",
           "Output length fixed (EOS ignored), temperature 0.8. Rows are the warm batches (batch_index >= 1); "
           "batch 0 (capture + compile) is listed apart below. Command: `python3 "
           f"scripts/optimal_sampling_heavy.py {' '.join(sys.argv[1:])}`.", ""]
    configs = sorted({(r["batch_size"], r["max_tokens"]) for r in rows}, key=lambda c: (c[1] * c[0], c))
    for bs, mt in configs:
        warm = {r["mode"]: r for r in rows if (r["batch_size"], r["max_tokens"]) == (bs, mt) and r["batch_index"] > 0}
        out += [f"## BS={bs}, MT={mt}", "",
                "| Mode | Total time | Total tokens | Throughput | Avg latency | tokens/request | peak GiB "
                "| alpha mean (std) |", "|---|---|---|---|---|---|---|---|"]
        for mode, r in warm.items():
            am = "-" if r["alpha_mean"] is None else f"{r['alpha_mean']:.3f} ({r['alpha_std']:.3f})"
            out.append(f"| {names[mode]} | {r['total_s']:.2f}s | {r['total_tokens']:,} | "
                       f"{r['tokens_per_second']:,.2f} tok/s | {r['avg_latency_s']:.3f}s | "
                       f"{r['tokens_per_request']:.1f} | {r['peak_memory_gb'] or 0:.2f} | {am} |")
        if "optimal_sampling" in warm and "teacher_only" in warm:
            o, t = warm["optimal_sampling"], warm["teacher_only"]
            out.append(f"| **Ratio (OS / teacher)** | **{o['total_s'] / t['total_s']:.2f}x** | - | "
                       f"**{o['tokens_per_second'] / t['tokens_per_second']:.2f}x** | "
                       f"**{o['avg_latency_s'] / t['avg_latency_s']:.2f}x** | - | - | - |")
        out.append("")
    out += seed_comparison(rows)
    out += ["## First batch (cold: graph capture + compile) vs later batch", "",
            "| BS/MT | Mode | batch 0 tok/s | batch 0 capture s | batch 1 tok/s |", "|---|---|---|---|---|"]
    for bs, mt in configs:
        for mode in names:
            b = {r["batch_index"]: r for r in rows if (r["batch_size"], r["max_tokens"], r["mode"]) == (bs, mt, mode)}
            if 0 in b and 1 in b:
                out.append(f"| {bs}/{mt} | {mode} | {b[0]['tokens_per_second']:,.1f} | {b[0]['capture_s']:.1f} | "
                           f"{b[1]['tokens_per_second']:,.1f} |")
    if profile:
        out += ["", "## ms per decode step (CUDA-graph prefixes timed with events)", "",
                "| BS/MT | step | teacher | theta | alpha | sampling | attention length | GB/s (weights) |",
                "|---|---|---|---|---|---|---|---|"]
        for key, pr in profile.items():
            out.append(f"| {key} | {pr['step_ms']:.2f} | {pr['teacher_ms']:.2f} | {pr['theta_ms']:.2f} | "
                       f"{pr['alpha_ms']:.2f} | {pr['sampling_ms']:.2f} | {pr['bucket_len']} | "
                       f"{pr.get('weights_gbps', 0):,.0f} |")
    return "\n".join(out) + "\n"


def write_report(args, info: dict, s: OptimalSamplingV1, load_s: float, profile: dict, rows: list[dict]) -> None:
    """Rewritten after every row, so a run cut short still leaves its measured rows."""
    report = {"schema_version": 1, "benchmark": "optimal_sampling_heavy",
              "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "system_info": info,
              "config": {**vars(args), "temperature": 0.8, "output_length": "fixed (EOS ignored)",
                         "prompt_tokens": "teacher 48-144, theta 32-96 (synthetic ids)"},
              "load_s": load_s, "weights_gb": {"teacher": s.teacher.gpu_bytes / GIB, "theta": s.theta.gpu_bytes / GIB},
              "profile_ms_per_step": profile, "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # appended, not with_suffix: a stem like "heavy_3b+1.5b" has a dot of its own
    base = str(out.with_suffix("")) if out.suffix in (".json", ".md") else str(out)
    Path(base + ".json").write_text(json.dumps(report, indent=2))
    ok = [r for r in rows if "error" not in r]
    Path(base + ".md").write_text(markdown(ok, info, args, profile))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="qwen2.5-3b")
    ap.add_argument("--theta", default="qwen2.5-1.5b")
    ap.add_argument("--load-format", default="auto", choices=["auto", "dummy"])
    ap.add_argument("--alpha-method", default="kl_symmetry")
    ap.add_argument("--configs", default="8/256,16/512,32/512,16/1024,8/2048")
    ap.add_argument("--modes", default="optimal_sampling,teacher_only,theta_only")
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="also split ms per step by phase at 32/512")
    ap.add_argument("--profile-only", action="store_true")
    ap.add_argument("--no-graphs", action="store_true")
    ap.add_argument("--no-compile", action="store_true", help="eager alpha/sampling head and layers")
    ap.add_argument("--no-compile-layers", action="store_true", help="compile only the alpha/sampling head")
    ap.add_argument("--no-overlap", dest="overlap", action="store_false",
                    help="run the two forwards one after the other (default: parallel branches of one graph)")
    ap.add_argument("--attention", default="auto", choices=["auto", "matmul", "sdpa", "triton"],
                    help="decode attention: auto (triton on CUDA), matmul + softmax + matmul, one fused SDPA "
                         "kernel, or the split-KV Triton kernel")
    ap.add_argument("--head", default="auto", choices=["auto", "torch", "triton"],
                    help="the step's alpha / sampling head: auto (the fused Triton kernels on CUDA) or PyTorch")
    ap.add_argument("--theta-device", default=None,
                    help="put theta on its own GPU, e.g. cuda:1 (default: the teacher's)")
    ap.add_argument("--out", default=str(ROOT / "reports" / "optimal_sampling_heavy"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    info = system_info()
    t0 = time.perf_counter()
    s = OptimalSamplingV1(args.teacher, args.theta, alpha_method=args.alpha_method, load_format=args.load_format,
                          cuda_graphs=not args.no_graphs, compile=not args.no_compile,
                          compile_layers=not (args.no_compile or args.no_compile_layers), overlap=args.overlap,
                          theta_device=args.theta_device, attention=args.attention, head=args.head)
    info["placement"] = {"teacher": s.decoder.device, "theta": s.decoder.theta_device,
                         "overlap_models": s.decoder.overlap_models and not s.decoder.split,
                         "attention": s.decoder.attention, "head": s.decoder.head}
    load_s = time.perf_counter() - t0
    rng = random.Random(0)
    configs = [tuple(int(x) for x in c.split("/")) for c in args.configs.split(",") if c]
    rows: list[dict] = []
    profile: dict[str, dict] = {}
    if (args.profile or args.profile_only) and not s.decoder.split:  # the profiler times one-device graphs
        from mm_orch.engines.optimal_sampling.profile import profile_step

        for bs, mt in [(32, 512)]:
            p = s.params(mt, 0.8, 1.0, -1, "optimal_sampling", stop_at_eos=False)
            pr = profile_step(s.decoder, bs, 128, 96, p)
            pr["weights_gbps"] = (s.teacher.gpu_bytes + s.theta.gpu_bytes) / (pr["step_ms"] / 1e3) / 1e9
            profile[f"{bs}/{mt}"] = pr
            log.info("profile %d/%d: %s", bs, mt, pr)
    if not args.profile_only:
        for bs, mt in configs:
            for mode in args.modes.split(","):
                for idx in range(args.batches):
                    try:
                        r = run_row(s, bs, mt, mode, idx, rng)
                    except Exception as e:  # a failed row is data
                        r = {"batch_size": bs, "max_tokens": mt, "mode": mode, "batch_index": idx,
                             "error": f"{type(e).__name__}: {e}"[:300]}
                    if "error" not in r and (bs, mt) == (32, 512) and profile:
                        r["ms_per_step"] = profile["32/512"] if mode == "optimal_sampling" else None
                    rows.append(r)
                    write_report(args, info, s, load_s, profile, rows)
                    log.info("%s", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                                    if k != "ms_per_step"})
    write_report(args, info, s, load_s, profile, rows)
    print(f"{'bs/mt':>8} {'mode':>17} {'b':>2} {'tok/s':>10} {'total_s':>8} {'cap_s':>6} {'alpha':>6}")
    for r in rows:
        if "error" in r:
            print(f"{r['batch_size']}/{r['max_tokens']:<5} {r['mode']:>17} {r['batch_index']:>2} ERROR {r['error']}")
            continue
        am = r["alpha_mean"] if r["alpha_mean"] is not None else float("nan")
        print(f"{r['batch_size']:>3}/{r['max_tokens']:<4} {r['mode']:>17} {r['batch_index']:>2} "
              f"{r['tokens_per_second']:>10.1f} {r['total_s']:>8.2f} {r['capture_s']:>6.1f} {am:>6.3f}")
    for k, pr in profile.items():
        print("profile", k, {a: round(b, 3) for a, b in pr.items()})


if __name__ == "__main__":
    main()
