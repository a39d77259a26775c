"""Teacher-only decode throughput through mm_orch's vLLM engine: batch B, fixed output length (EOS ignored).

Each model runs in its own child process (one vLLM engine per process), which prints one JSON line.
    python scripts/vllm_gpu_bench.py --models qwen2.5-3b,qwen2.5-1.5b --load-format dummy --out result.json
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_one(args: argparse.Namespace) -> dict:
    from mm_orch.engines.base import CommonSettings, GenerationRequest, now_ns
    from mm_orch.engines.vllm.engine import VLLMEngine
    from mm_orch.engines.vllm.settings import VLLMCompilationSettings, VLLMEngineSettings

    compilation = VLLMCompilationSettings(
        fuse_allreduce_rms=None if args.fuse_allreduce_rms == "auto" else args.fuse_allreduce_rms == "on",
        cudagraph_capture_sizes=[int(x) for x in args.capture_sizes.split(",")] if args.capture_sizes else None)
    eng = VLLMEngine(args.model, CommonSettings(dtype=args.dtype, load_format=args.load_format), VLLMEngineSettings(
        gpu_memory_utilization=args.gpu_memory_utilization, max_model_len=args.max_model_len,
        enforce_eager=args.enforce_eager, enable_prefix_caching=False, max_num_seqs=args.batch,
        multiprocessing={"auto": None, "on": True, "off": False}[args.multiprocessing],
        tensor_parallel_size=args.tp, pipeline_parallel_size=args.pp,
        distributed_executor_backend=args.executor, compilation_config=compilation))
    t_load = time.perf_counter()
    info = eng.load()
    load_wall_s = time.perf_counter() - t_load
    rng = random.Random(0)
    vocab = eng.vocab_token_ids()

    def batch(n: int, out_len: int) -> list[GenerationRequest]:
        return [GenerationRequest(prompt_token_ids=[rng.choice(vocab) for _ in range(args.input_len)],
                                  max_new_tokens=out_len, ignore_eos=True) for _ in range(n)]

    eng.generate(batch(args.batch, 16))  # warm-up (not counted)
    runs = []
    for _ in range(args.runs):
        reqs = batch(args.batch, args.output_len)
        t0 = now_ns()
        recs = eng.generate(reqs)
        wall = (now_ns() - t0) / 1e9
        out_tokens = sum(r.output_tokens for r in recs)
        runs.append({"wall_s": wall, "output_tokens": out_tokens, "output_tokens_per_s": out_tokens / wall,
                     "failed": sum(not r.success for r in recs)})
    s = eng.stream(batch(1, 128)[0])  # one request alone: per-token host timestamps
    gaps = [b - a for a, b in zip(s.token_times_ns, s.token_times_ns[1:], strict=False)]
    single = {"ttft_ms": (s.token_times_ns[0] - s.start_ns) / 1e6 if s.token_times_ns else None,
              "tpot_ms": (s.token_times_ns[-1] - s.token_times_ns[0]) / 1e6 / max(len(gaps), 1),
              "median_itl_ms": sorted(gaps)[len(gaps) // 2] / 1e6 if gaps else None, "tokens": s.output_tokens}
    snap = eng.memory_snapshot()
    eng.close()
    best = max(runs, key=lambda r: r["output_tokens_per_s"])
    return {"model": args.model, "multiprocessing": eng.multiprocessing, "tp": args.tp, "pp": args.pp,
            "executor": args.executor, "compilation_config": compilation, "load_wall_s": load_wall_s,
            "load_format": args.load_format, "batch": args.batch, "input_len": args.input_len,
            "output_len": args.output_len, "ignore_eos": True, "best_output_tokens_per_s": best["output_tokens_per_s"],
            "runs": runs, "single_stream": single, "model_info": asdict(info), "memory": asdict(snap)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", default="qwen2.5-3b,qwen2.5-1.5b")
    p.add_argument("--model", help=argparse.SUPPRESS)  # child mode
    p.add_argument("--load-format", default="dummy")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--input-len", type=int, default=128)
    p.add_argument("--output-len", type=int, default=512)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    p.add_argument("--max-model-len", type=int, default=4096)
    p.add_argument("--enforce-eager", action="store_true")
    p.add_argument("--multiprocessing", choices=["auto", "on", "off"], default="auto",
                   help="engine core in a child process (auto: on with CUDA, off on CPU)")
    p.add_argument("--tp", type=int, default=1, help="tensor parallel size")
    p.add_argument("--pp", type=int, default=1, help="pipeline parallel size")
    p.add_argument("--executor", choices=["mp", "ray"], default=None, help="vLLM's distributed executor")
    p.add_argument("--fuse-allreduce-rms", choices=["auto", "on", "off"], default="auto",
                   help="vLLM's all-reduce + RMSNorm fusion pass (off: needed for TP=2 on the H200s here)")
    p.add_argument("--capture-sizes", default="", help="CUDA-graph batch sizes, e.g. 1,32 (fewer: faster start)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.model:
        print("RESULT " + json.dumps(bench_one(args)), flush=True)
        return 0
    results = []
    for m in args.models.split(","):
        cmd = [sys.executable, __file__, "--model", m, *sys.argv[1:]]
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if line:
            res = json.loads(line[-1][7:])
        else:
            res = {"model": m, "error": (proc.stderr or proc.stdout)[-3000:], "returncode": proc.returncode}
        res["process_wall_s"] = time.time() - t0
        results.append(res)
        print(json.dumps({k: res.get(k) for k in ("model", "best_output_tokens_per_s", "process_wall_s")}), flush=True)
    doc = {"results": results, "argv": sys.argv[1:]}
    try:
        import torch
        import vllm

        doc |= {"vllm": vllm.__version__, "torch": torch.__version__,
                "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    except Exception as e:
        doc["versions_error"] = repr(e)
    text = json.dumps(doc, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
