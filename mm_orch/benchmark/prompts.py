"""Workloads: the config's test prompts and synthetic prompts of an exact token length."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mm_orch.engines.base import Engine, GenerationRequest
from mm_orch.errors import ConfigError

Prompt = str | list[int]  # text, or token ids of an exact length
MAX_PROMPT_FILE_BYTES = 8 * 2**20  # far more text than any context holds; a bigger file is a mistake


def synthetic_prompt_ids(vocab_ids: Sequence[int], length: int, seed: int = 0) -> list[int]:
    """`length` token ids drawn uniformly (seeded) from ordinary tokens: exact length, no tokenizer drift."""
    if length < 1:
        raise ConfigError(f"synthetic prompt length must be >= 1, got {length}")
    if not vocab_ids:
        raise ConfigError("the engine reports no ordinary token ids for synthetic prompts")
    rng = np.random.default_rng(seed)
    return [int(vocab_ids[i]) for i in rng.integers(0, len(vocab_ids), size=length)]


def make_request(prompt: Prompt, output_length: int, ignore_eos: bool = True, **sampling) -> GenerationRequest:
    """sampling: temperature, top_k, top_p, num_beams, seed (GenerationSettings.request_kwargs())."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ConfigError("empty prompt in the workload")
        return GenerationRequest(prompt=prompt, max_new_tokens=output_length, ignore_eos=ignore_eos, **sampling)
    return GenerationRequest(prompt_token_ids=list(prompt), max_new_tokens=output_length, ignore_eos=ignore_eos,
                             **sampling)


@dataclass(slots=True)
class Scenario:
    """A latency scenario: a prompt set and a fixed output length."""

    name: str
    prompts: list[Prompt]
    output_length: int
    input_length: int | None = None  # set for synthetic prompts


def grid_scenarios(engine: Engine, input_lengths: Sequence[int], output_lengths: Sequence[int],
                   seed: int = 0) -> list[Scenario]:
    """One synthetic-prompt scenario per (input length, output length) pair."""
    vocab = engine.vocab_token_ids()
    out = []
    for n_in in input_lengths:
        prompt = synthetic_prompt_ids(vocab, n_in, seed + n_in)
        for n_out in output_lengths:
            out.append(Scenario(f"in{n_in}_out{n_out}", [prompt], n_out, n_in))
    return out


def load_prompt_file(path: str) -> list[str]:
    """Prompts from a text file (one per line) or a JSON list of strings."""
    import json
    from pathlib import Path

    from mm_orch.io import json_loads, read_user_file

    p = Path(path)
    text = read_user_file(p, "prompt file", MAX_PROMPT_FILE_BYTES)
    if p.suffix == ".json":
        try:
            data = json_loads(text, f"prompt file {path}")
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
        if not isinstance(data, list) or not all(isinstance(x, str) and x.strip() for x in data):
            raise ConfigError(f"{path}: expected a JSON list of non-empty strings")
        prompts = data
    else:
        prompts = [line for line in text.splitlines() if line.strip()]
    if not prompts:
        raise ConfigError(f"prompt file {path} holds no prompts")
    return prompts
