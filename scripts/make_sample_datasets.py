"""Write the small sample dataset files under data/benchmarks/samples/, deterministically (seeded).

    python3 scripts/make_sample_datasets.py [OUT_DIR]

The texts are assembled from this project's own word lists; nothing is copied from a public dataset.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from mm_orch.studies.accuracy_tasks import builtin_tasks

SUBJECTS = ["the cache", "a scheduler", "the tokenizer", "a small model", "the batch", "an engine",
            "the queue", "a request", "the decoder", "the benchmark"]
VERBS = ["explain how", "describe why", "summarise what", "list the ways", "compare how"]
TAILS = ["changes latency", "uses memory", "affects throughput", "handles long prompts",
         "reacts to a burst of requests", "fits on one GPU"]
REPLIES = ["It depends on the batch size and the length of each prompt.",
           "Mostly through the key-value cache, which grows with every token.",
           "By keeping the device busy while new requests wait in the queue.",
           "Each step reads all the weights once, so memory bandwidth sets the pace."]


def _question(rng: random.Random) -> str:
    return f"Please {rng.choice(VERBS)} {rng.choice(SUBJECTS)} {rng.choice(TAILS)}."


def _reply(rng: random.Random) -> str:
    return " ".join(rng.sample(REPLIES, rng.randint(1, 3)))


def prompts_jsonl(rng: random.Random, n: int = 12) -> str:
    return "".join(json.dumps({"prompt": _question(rng), "output_len": rng.choice([8, 16, 24, 32])}) + "\n"
                   for _ in range(n))


def sharegpt_json(rng: random.Random, n: int = 8) -> str:
    convs = []
    for i in range(n):
        turns = [{"from": "system", "value": "You are a concise assistant."}] if i % 3 == 0 else []
        for _ in range(rng.randint(1, 3)):
            turns += [{"from": "human", "value": _question(rng)}, {"from": "gpt", "value": _reply(rng)}]
        convs.append({"id": f"sample-{i}", "conversations": turns})
    return json.dumps(convs, indent=1) + "\n"


def tasks_jsonl(n: int = 20) -> str:
    return "".join(json.dumps({"prompt": t.prompt, "answer": t.answer}) + "\n" for t in builtin_tasks()[:n])


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "prompts.jsonl").write_text(prompts_jsonl(random.Random(1)))
    (out / "sharegpt.json").write_text(sharegpt_json(random.Random(2)))
    (out / "tasks.jsonl").write_text(tasks_jsonl())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
         / "data" / "benchmarks" / "samples")
