"""Probe: time to first token of short vLLM streams sent while a long stream runs (tiny-qwen2).

Usage: python3 scripts/vllm_stream_join_probe.py [--short N]
reports/vllm_cpu_tiny-qwen2.md quotes its output. A request must join the running batch within a step or
two; before the step-loop fix one could wait until the long stream had finished.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from mm_orch.engines.base import GenerationRequest
from mm_orch.engines.vllm.engine import VLLMEngine
from mm_orch.engines.vllm.settings import VLLMEngineSettings


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--short", type=int, default=20, help="short requests sent one after another")
    a = p.parse_args()
    eng = VLLMEngine("tiny-qwen2", settings=VLLMEngineSettings(max_model_len=1024, cpu_kvcache_space_gb=1,
                                                               enforce_eager=True))
    eng.load()
    vocab = eng.vocab_token_ids()
    long_done = threading.Event()

    def long_stream() -> None:
        eng.stream(GenerationRequest(prompt_token_ids=vocab[:20], max_new_tokens=600, ignore_eos=True))
        long_done.set()

    t = threading.Thread(target=long_stream)
    t.start()
    time.sleep(0.2)
    waits = []
    for k in range(a.short):
        r = eng.stream(GenerationRequest(prompt_token_ids=vocab[k:k + 10], max_new_tokens=2, ignore_eos=True))
        waits.append((r.token_times_ns[0] - r.start_ns) / 1e6)
    print(f"short-request TTFT while another streams: median {statistics.median(waits):.1f} ms, "
          f"max {max(waits):.1f} ms, long stream finished first: {long_done.is_set()}")
    t.join()
    eng.close()


if __name__ == "__main__":
    main()
