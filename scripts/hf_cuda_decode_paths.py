"""Time the hf engine's decode paths on CUDA for one model: generate eager, generate with a static cache +
torch.compile (inductor, or the "cudagraphs" backend), and the engine's static loop with captured CUDA graphs
(engine.hf.decode_loop static, mm_orch/engines/hf/graphs.py). Each path runs in its own process; one JSON
line per call: first call (compile/capture included) and steady calls, for the shapes the default config uses.

    python3 scripts/hf_cuda_decode_paths.py --model qwen2.5-3b --paths static,eager,inductor,cudagraphs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CALLS = [("b1_128x100", 1, 128, 100), ("b1_128x100", 1, 128, 100), ("b1_512x64", 1, 512, 64),
         ("b1_512x64", 1, 512, 64), ("b8_128x100", 8, 128, 100), ("b8_128x100", 8, 128, 100),
         ("b1_128x100_again", 1, 128, 100), ("b1_128x100_again", 1, 128, 100)]


def one_path(model_name: str, path: str) -> None:
    import torch
    from transformers import CompileConfig

    from mm_orch.engines.base import CommonSettings, GenerationRequest
    from mm_orch.engines.hf.engine import HFEngine
    from mm_orch.engines.hf.settings import HFEngineSettings

    eng = HFEngine(model_name, CommonSettings(device="cuda", load_format="dummy"),
                   HFEngineSettings(decode_loop="static" if path == "static" else "generate"))
    eng.prepare()
    t0 = time.perf_counter()
    info = eng.load()
    print(json.dumps({"path": path, "load_s": round(time.perf_counter() - t0, 2),
                      "capture_at_load_s": info.extra.get("compile_warmup_s")}), flush=True)
    lm = eng.loaded
    gc = lm.model.generation_config
    if path in ("inductor", "cudagraphs"):
        gc.cache_implementation = "static"
        gc.compile_config = (CompileConfig(fullgraph=True, backend="cudagraphs", mode=None) if path == "cudagraphs"
                             else CompileConfig(fullgraph=True))
    vocab = eng.vocab_token_ids()
    for name, batch, n_in, n_out in CALLS:
        rows = [[vocab[(i * 7 + j) % len(vocab)] for j in range(n_in)] for i in range(batch)]
        reqs = [GenerationRequest(prompt_token_ids=r, max_new_tokens=n_out) for r in rows]
        torch.cuda.synchronize()
        t = time.perf_counter()
        rec = eng.stream(reqs[0]) if batch == 1 else eng.generate(reqs)[0]
        wall = time.perf_counter() - t
        times = rec.token_times_ns
        tpot = (times[-1] - times[0]) / (len(times) - 1) / 1e6 if len(times) > 1 else None
        print(json.dumps({"path": path, "call": name, "ok": rec.success, "wall_s": round(wall, 3),
                          "ttft_ms": round((times[0] - rec.start_ns) / 1e6, 2) if times else None,
                          "tpot_ms": round(tpot, 3) if tpot else None, "tokens": rec.output_tokens,
                          "peak_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)}), flush=True)
    print(json.dumps({"path": path, "stats": eng.stats()}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-3b")
    ap.add_argument("--paths", default="static,eager")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=int, default=200)
    a = ap.parse_args()
    if a.one:
        return one_path(a.model, a.one)
    for path in a.paths.split(","):
        t = time.perf_counter()
        try:
            subprocess.run([sys.executable, __file__, "--model", a.model, "--one", path], timeout=a.timeout)
        except subprocess.TimeoutExpired:
            print(json.dumps({"path": path, "timeout_s": a.timeout}), flush=True)
        print(json.dumps({"path": path, "process_s": round(time.perf_counter() - t, 1)}), flush=True)


if __name__ == "__main__":
    main()
