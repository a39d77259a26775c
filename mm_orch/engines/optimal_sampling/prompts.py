"""Per-model prompt text: each model gets its own system prompt and, optionally, its chat template."""

from __future__ import annotations

from typing import Any

from mm_orch.errors import ConfigError


def format_prompt(tokenizer: Any, text: str, system: str | None, chat: bool) -> str:
    if chat:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ConfigError("enable_chat_template is set but the tokenizer has no chat template")
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return f"{system}\n\n{text}" if system else text


def encode_prompts(tokenizer: Any, texts: list[str], system: str | None, chat: bool) -> list[list[int]]:
    ids = [tokenizer.encode(format_prompt(tokenizer, t, system, chat), add_special_tokens=False) for t in texts]
    for i, x in enumerate(ids):
        if not x:
            raise ConfigError(f"prompt {i} is empty: every prompt needs at least one token")
    return ids


def check_prompts(prompts: Any, theta_prompts: Any) -> None:
    if isinstance(prompts, str) or not prompts:
        raise ConfigError("prompts must be a non-empty list of strings")
    if theta_prompts is not None and len(theta_prompts) != len(prompts):
        raise ConfigError(f"theta_prompts has {len(theta_prompts)} entries but prompts has {len(prompts)}; "
                          "give one theta prompt per teacher prompt (or None to reuse the prompts)")
    for i, p in enumerate([*prompts, *(theta_prompts or [])]):
        if not isinstance(p, str) or not p:
            raise ConfigError(f"prompt {i} is empty or not a string: every prompt needs text")
