"""Write the small sample traces under data/benchmarks/samples/, deterministically (seeded), in the three public
formats that `--trace` replays:

    python3 scripts/make_sample_traces.py [OUT_DIR]

- trace_mooncake.jsonl: Mooncake JSONL ({"timestamp" ms, "input_length", "output_length", "hash_ids"}), with
  shared prefixes: a few system prompts reused by many requests and conversations whose turns extend the
  previous turn's blocks (one hash id per 512-token block, as Mooncake hashes them).
- trace_azure.csv: Azure LLM inference CSV (TIMESTAMP as a datetime with 100 ns ticks, ContextTokens,
  GeneratedTokens).
- trace_burstgpt.csv: BurstGPT CSV (Timestamp in whole seconds, Model, Request tokens, Response tokens,
  Total tokens, Log Type), with a few failed requests (Response tokens 0) as the real trace has.

The numbers are synthetic (bursty arrivals, log-normal lengths); no row is copied from a public trace. Only the
standard library is used, so the files are the same on every machine.
"""

from __future__ import annotations

import math
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

BLOCK = 512
MAX_BLOCKS = 8  # prompts of at most 4096 tokens, so that small models can replay the sample
SEED = 20240523


def _bursty_gaps_s(rng: random.Random, n: int, mean_s: float) -> list[float]:
    """Inter-arrival gaps: a Poisson process whose rate switches between calm and bursts (x5) now and then."""
    gaps, burst = [], False
    for _ in range(n):
        if rng.random() < 0.05:
            burst = not burst
        gaps.append(rng.expovariate(1.0 / (mean_s / 5 if burst else mean_s)))
    return gaps


def _lognormal(rng: random.Random, median: float, sigma: float, low: int, high: int) -> int:
    return int(min(high, max(low, round(rng.lognormvariate(math.log(median), sigma)))))


def mooncake_jsonl(rng: random.Random, n: int = 200) -> str:
    next_id = 0

    def new_ids(k: int) -> list[int]:
        nonlocal next_id
        out = list(range(next_id, next_id + k))
        next_id += k
        return out

    systems = [new_ids(k) for k in (1, 1, 2, 2, 3)]  # shared system prompts of 1 to 3 blocks
    lines, t_ms, open_chats = [], 0.0, []
    for gap in _bursty_gaps_s(rng, n, 0.4):
        t_ms += gap * 1000
        chat = rng.choice(open_chats) if open_chats and rng.random() < 0.35 else None
        if chat is not None:  # the next turn of a conversation: its history is the prefix
            open_chats.remove(chat)
            ids = chat + new_ids(rng.randint(1, 2))
        if chat is None or len(ids) > MAX_BLOCKS:  # a new conversation (prompts stay within 4096 tokens)
            ids = list(rng.choice(systems)) + new_ids(rng.randint(1, 3))
        if len(open_chats) < 8:
            open_chats.append(ids)
        input_len = (len(ids) - 1) * BLOCK + rng.randint(1, BLOCK)  # the last block is partial
        output_len = _lognormal(rng, 180, 0.8, 1, 1500)
        lines.append(
            f'{{"timestamp": {int(t_ms)}, "input_length": {input_len}, "output_length": {output_len}, '
            f'"hash_ids": [{", ".join(map(str, ids))}]}}'
        )
    return "\n".join(lines) + "\n"


def azure_csv(rng: random.Random, n: int = 300) -> str:
    start = datetime(2023, 11, 16, 18, 15, 46, 680590)
    rows, ticks = ["TIMESTAMP,ContextTokens,GeneratedTokens"], 0
    for gap in _bursty_gaps_s(rng, n, 0.25):
        ticks += round(gap * 1e7)  # 100 ns ticks, as the trace writes them
        t = start + timedelta(microseconds=ticks // 10)
        frac = f"{t.microsecond:06d}{ticks % 10}"
        rows.append(
            f"{t:%Y-%m-%d %H:%M:%S}.{frac},{_lognormal(rng, 1100, 0.9, 3, 12000)},{_lognormal(rng, 220, 0.9, 1, 2000)}"
        )
    return "\n".join(rows) + "\n"


def burstgpt_csv(rng: random.Random, n: int = 300) -> str:
    rows, t = ["Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"], 5.0
    for gap in _bursty_gaps_s(rng, n, 0.6):
        t += gap
        model = "GPT-4" if rng.random() < 0.2 else "ChatGPT"
        log = "API log" if rng.random() < 0.3 else "Conversation log"
        req = _lognormal(rng, 600, 1.0, 1, 16000)
        resp = 0 if rng.random() < 0.04 else _lognormal(rng, 250, 0.9, 1, 4000)  # 0 = a failed request
        rows.append(f"{int(t)},{model},{req},{resp},{req + resp},{log}")
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else Path(__file__).resolve().parents[1] / "data" / "benchmarks" / "samples")
    out.mkdir(parents=True, exist_ok=True)
    files = {"trace_mooncake.jsonl": mooncake_jsonl, "trace_azure.csv": azure_csv, "trace_burstgpt.csv": burstgpt_csv}
    for i, (name, make) in enumerate(files.items()):
        path = out / name
        path.write_text(make(random.Random(SEED + i)), encoding="utf-8", newline="\n")
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
