"""A workload: the requests of one run, each with its prompt, its input token count and its output length."""

from __future__ import annotations

from dataclasses import dataclass

from mm_orch.engines.base import GenerationRequest


@dataclass(slots=True)
class WorkItem:
    """One request of a workload. Token-id prompts have an exact length; text prompts are counted on load."""

    prompt: str | list[int]
    output_len: int
    input_tokens: int | None = None  # known for token ids; set by count_tokens() for text
    group: int | None = None  # shared-prefix group
    conversation: int | None = None  # multi-turn: which conversation, and the turn within it
    turn: int | None = None

    def request(self, ignore_eos: bool = True) -> GenerationRequest:
        if isinstance(self.prompt, str):
            return GenerationRequest(prompt=self.prompt, max_new_tokens=self.output_len, ignore_eos=ignore_eos)
        return GenerationRequest(prompt_token_ids=list(self.prompt), max_new_tokens=self.output_len,
                                 ignore_eos=ignore_eos)


def count_tokens(items: list[WorkItem], encode) -> list[WorkItem]:
    """Fill input_tokens of text prompts with encode(text) (the engine's tokenizer)."""
    for it in items:
        if it.input_tokens is None:
            it.input_tokens = len(it.prompt) if isinstance(it.prompt, list) else len(encode(it.prompt))
    return items
