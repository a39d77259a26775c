"""Accuracy tasks: a built-in set generated deterministically, or a JSONL file of {prompt, answer}."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from typing import Literal

from mm_orch.errors import ConfigError

Kind = Literal["numeric", "exact"]
_OPPOSITES = [("hot", "cold"), ("up", "down"), ("big", "small"), ("fast", "slow"), ("open", "closed"),
              ("light", "dark"), ("early", "late"), ("full", "empty"), ("wet", "dry"), ("high", "low")]
_WORDS = ["apple", "river", "stone", "cloud", "garden", "window", "pencil", "yellow", "rocket", "planet",
          "orange", "silver", "forest", "bridge", "candle"]
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXY"


@dataclass(slots=True, frozen=True)
class Task:
    prompt: str
    answer: str
    kind: Kind  # numeric: the first number of the reply must equal it; exact: the normalised reply must


def _q(text: str) -> str:
    return f"Question: {text}\nAnswer:"


def _arithmetic(rng: random.Random, n: int) -> list[Task]:
    out = []
    for i in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        op = "+-*"[i % 3]
        if op == "*":
            a, b = a % 13 + 2, b % 13 + 2
        value = a + b if op == "+" else a - b if op == "-" else a * b
        out.append(Task(_q(f"What is {a} {op} {b}?"), str(value), "numeric"))
    return out


def _short_answers(rng: random.Random, n: int) -> list[Task]:
    makers = [
        lambda: (lambda w: (f"How many letters are in the word '{w}'?", str(len(w)), "numeric"))(rng.choice(_WORDS)),
        lambda: (lambda p: (f"What is the opposite of '{p[0]}'?", p[1], "exact"))(rng.choice(_OPPOSITES)),
        lambda: (lambda c: (f"Which letter comes after {c} in the alphabet?", chr(ord(c) + 1), "exact"))(
            rng.choice(_LETTERS)),
        lambda: (lambda w: (f"Write the word '{w}' backwards.", w[::-1], "exact"))(rng.choice(_WORDS)),
        lambda: (lambda a, b: (f"Which is larger, {a} or {b}?", str(max(a, b)), "numeric"))(
            rng.randint(1, 500), rng.randint(1, 500)),
    ]
    return [Task(_q(p), a, k) for p, a, k in (makers[i % len(makers)]() for i in range(n))]


@cache
def builtin_tasks(seed: int = 1234) -> tuple[Task, ...]:
    """300 items with known answers: 180 arithmetic, 120 short answers; the same on every machine."""
    rng = random.Random(seed)
    return tuple(_arithmetic(rng, 180) + _short_answers(rng, 120))


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def load_tasks(source: str) -> list[Task]:
    """'builtin', or a JSONL task file (bad files raise ConfigError naming the file and line)."""
    if source == "builtin":
        return list(builtin_tasks())
    from mm_orch.studies.dataset_files import parse_dataset

    ds = parse_dataset(source)
    if ds.format != "tasks":
        raise ConfigError(f"{source}: expected a task file of {{prompt, answer}} lines, found {ds.format}")
    return [Task(r.prompt, str(r.answer), "numeric" if _is_number(str(r.answer)) else "exact") for r in ds.tasks]
