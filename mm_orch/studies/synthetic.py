"""Synthetic workloads of token-id prompts: lengths from distributions, shared prefixes, multi-turn chats."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mm_orch.errors import ConfigError
from mm_orch.settings.lengths import LengthSpec
from mm_orch.studies.lengths import sample_lengths
from mm_orch.studies.work_items import WorkItem


def _ids(vocab: Sequence[int], n: int, rng: np.random.Generator) -> list[int]:
    if not vocab:
        raise ConfigError("the engine reports no ordinary token ids for synthetic prompts")
    return [int(vocab[i]) for i in rng.integers(0, len(vocab), size=n)]


def synthetic_items(vocab: Sequence[int], n: int, input_len: LengthSpec, output_len: LengthSpec,
                    seed: int = 0) -> list[WorkItem]:
    """n prompts of random ordinary tokens; input and output lengths drawn from their distributions."""
    rng = np.random.default_rng(seed)
    n_in = sample_lengths(input_len, n, rng)
    n_out = sample_lengths(output_len, n, rng)
    return [WorkItem(_ids(vocab, a, rng), b, input_tokens=a) for a, b in zip(n_in, n_out, strict=True)]


def shared_prefix_items(vocab: Sequence[int], groups: int, suffixes: int, prefix_len: int, suffix_len: int,
                        output_len: int, seed: int = 0) -> list[WorkItem]:
    """groups x suffixes prompts; the prompts of a group share their first prefix_len tokens.

    Ordered group by group, so an engine with prefix caching sees each prefix first once, then reuses it.
    """
    if min(groups, suffixes, prefix_len, suffix_len) < 1:
        raise ConfigError("shared_prefix: groups, suffixes, prefix_len and suffix_len must be >= 1")
    rng = np.random.default_rng(seed)
    out = []
    for g in range(groups):
        prefix = _ids(vocab, prefix_len, rng)
        for _ in range(suffixes):
            ids = prefix + _ids(vocab, suffix_len, rng)
            out.append(WorkItem(ids, output_len, input_tokens=len(ids), group=g))
    return out


def shared_token_share(items: list[WorkItem], prefix_len: int) -> float | None:
    """Share of prompt tokens a perfect prefix cache could serve: every repeat of a group's prefix."""
    total = sum(it.input_tokens or 0 for it in items)
    seen: set[int] = set()
    shared = 0
    for it in items:
        if it.group in seen:
            shared += prefix_len
        seen.add(it.group)
    return shared / total if total else None


def multi_turn_turns(vocab: Sequence[int], conversations: int, turns: int, user_len: LengthSpec,
                     output_len: LengthSpec, seed: int = 0) -> list[list[WorkItem]]:
    """Per conversation, its user turns (token ids) and reply lengths; the history is added at run time."""
    if conversations < 1 or turns < 1:
        raise ConfigError("multi_turn: conversations and turns must be >= 1")
    rng = np.random.default_rng(seed)
    convs = []
    for c in range(conversations):
        n_in = sample_lengths(user_len, turns, rng)
        n_out = sample_lengths(output_len, turns, rng)
        convs.append([WorkItem(_ids(vocab, a, rng), b, input_tokens=a, conversation=c, turn=t)
                      for t, (a, b) in enumerate(zip(n_in, n_out, strict=True))])
    return convs
