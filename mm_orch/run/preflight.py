"""Does every prompt plus its output fit the model's context? Checked before the run, never found by a slow one.

Before the model loads: the context comes from the registered config (max_position_embeddings / n_positions;
an engine's own limits when lower, e.g. vLLM's max_model_len, as its plug-in says), synthetic prompts have exact
lengths, and text prompts are counted with the model's tokenizer when its folder is already local (tokenizers
only: no torch, so the API server can do it).
After the model loads and before anything is measured: every text prompt is counted with the engine's own
tokenizer against the context the engine reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mm_orch.engines.registry import capabilities
from mm_orch.errors import ConfigError
from mm_orch.io import json_loads

log = logging.getLogger(__name__)

Counter = Callable[[str], int]


@dataclass(slots=True)
class Need:
    what: str  # names the prompt or the setting
    prompt_tokens: int
    output_tokens: int


# No tokenizer in use has a token of more than 1,024 characters (the longest in common vocabularies are runs of
# spaces or dashes, well under 256): a text longer than (context + 1) x this cannot fit, whatever the tokenizer,
# and is refused without tokenizing it (a 50 MB prompt took the tokenizer over 100 s).
MAX_CHARS_PER_TOKEN = 1024


class AtLeast(int):
    """A token count known only from below (a text too long to be worth tokenizing); prints as 'at least N'."""

    def __format__(self, spec: str) -> str:
        return f"at least {int(self):{spec}}"


def bounded(count: Counter | None, context: int | None) -> Counter | None:
    """count, except that a text too long for any tokenizer to fit in context tokens is not tokenized: its
    count is AtLeast(characters / MAX_CHARS_PER_TOKEN), already more than the context."""
    if count is None or not context:
        return count
    limit = (context + 1) * MAX_CHARS_PER_TOKEN

    def capped(text: str) -> int:
        return AtLeast(-(-len(text) // MAX_CHARS_PER_TOKEN)) if len(text) > limit else count(text)

    return capped


def _preview(text: str) -> str:
    flat = " ".join(text[:200].split())
    return repr(flat[:40] + ("..." if len(flat) > 40 else ""))


def needs(cfg: Any, tests: Sequence[str], prompts: Sequence[str], count: Counter | None,
          prompt_source: str = "test_prompts") -> list[Need]:
    """What each test will ask of the context: (prompt tokens, output tokens) per prompt or synthetic length."""
    lat, mem, thr = cfg.benchmark.latency, cfg.benchmark.memory, cfg.benchmark.throughput
    out: list[Need] = []
    if "latency" in tests and lat.input_lengths and lat.output_lengths:
        out.append(Need("benchmark.latency.input_lengths", max(lat.input_lengths), max(lat.output_lengths)))
    if "memory" in tests:
        n_in = max(lat.input_lengths or [128])
        out.append(Need(f"the memory test's prompt (benchmark.latency.input_lengths {n_in})", n_in, mem.output_length))
    if "throughput" in tests and thr.input_length:
        out.append(Need("benchmark.throughput.input_length", thr.input_length, thr.tokens_per_request))
    load = cfg.benchmark.load
    if "load" in tests and load.input_length:
        out.append(Need("benchmark.load.input_length", load.input_length, load.output_length))
    text_out = max([lat.output_length] * ("latency" in tests) + [thr.tokens_per_request] * ("throughput" in tests),
                   default=0)
    if count is not None and text_out:
        for i, p in enumerate(prompts):
            out.append(Need(f"{prompt_source} prompt {i} {_preview(p)}", count(p), text_out))
    from mm_orch.studies.fit_needs import study_needs  # workload, accuracy, context-length prompts

    out += [Need(*n) for n in study_needs(cfg, tests, count)]
    return out


def check_fit(items: Sequence[Need], context: int | None, model: str) -> None:
    if not context:
        return
    for n in items:
        if n.prompt_tokens + n.output_tokens > context:
            raise ConfigError(f"{n.what}: {n.prompt_tokens} prompt + {n.output_tokens} output tokens exceed "
                              f"{model}'s context of {context} tokens")


def _arch_context(arch: dict[str, Any]) -> int | None:
    return arch.get("max_position_embeddings") or arch.get("n_positions")


def registered_context(model: str, user_models: dict[str, Any]) -> int | None:
    """The context of a model from its registered (or local) config.json, without loading anything."""
    from mm_orch.models import tiny
    from mm_orch.models.registry import resolve_model

    spec = resolve_model(model, user_models)
    if spec.embedded:
        return _arch_context(tiny.tiny_architecture(spec.alias, 0, 0, 0))
    if spec.architecture:
        return _arch_context(spec.architecture)
    config = Path(spec.local_path).expanduser() / "config.json" if spec.local_path else None
    if config is not None and config.is_file() and config.stat().st_size < 2**20:
        try:
            arch = json_loads(config.read_text(encoding="utf-8"), str(config))  # nesting capped
            return _arch_context(arch) if isinstance(arch, dict) else None
        except (OSError, ValueError, ConfigError):  # unreadable here: the engine's own load will say
            return None
    return None


def _registered(model: str, cfg: Any) -> bool:
    from mm_orch.errors import ModelNotFoundError
    from mm_orch.models.registry import resolve_model

    try:
        resolve_model(model, cfg.models)
    except ModelNotFoundError:
        return False
    return True


def engine_context(cfg: Any, model: str) -> int | None:
    """The context a run of cfg's engine on `model` will have, as far as the configs tell."""
    def context_of(name: str) -> int | None:
        return registered_context(name, cfg.models)

    name = cfg.engine.name
    limits = [context_of(model), *capabilities(name).context_limits(cfg.engine.section(name), context_of)]
    known = [c for c in limits if c]
    return min(known) if known else None


def local_counter(model: str, cfg: Any) -> Counter | None:
    """Token counts from the model's tokenizer.json when its folder is already local; None otherwise."""
    from mm_orch.models import tiny
    from mm_orch.models.local import cache_dir
    from mm_orch.models.registry import resolve_model

    spec = resolve_model(model, cfg.models)
    if spec.embedded:
        folder = cache_dir() / "models" / f"{spec.alias}-v{tiny.BUILD_VERSION}"
    elif spec.local_path:
        folder = Path(spec.local_path).expanduser()
    elif cfg.engine.load_format == "dummy":
        folder = cache_dir() / "dummy" / f"{spec.alias}-v{tiny.BUILD_VERSION}"
    else:
        return None
    path = folder / "tokenizer.json"
    if not path.is_file():
        return None
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # an unreadable tokenizer: the check after loading still counts exactly
        log.debug("cannot read %s: %s", path, e)
        return None
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


def check_before_load(cfg: Any, model: str, tests: Sequence[str], prompts: Sequence[str] | None = None,
                      prompt_source: str = "test_prompts") -> None:
    """ConfigError naming the prompt and the numbers when something cannot fit; silent when unknown."""
    if capabilities(cfg.engine.name).remote and not _registered(model, cfg):
        return  # a name the remote server serves: its context is the server's (checked after loading, if known)
    context = engine_context(cfg, model)
    if not context:
        return
    texts = list(prompts) if prompts else cfg.test_prompts.all()
    check_fit(needs(cfg, tests, texts, bounded(local_counter(model, cfg), context), prompt_source), context, model)


def check_loaded(cfg: Any, tests: Sequence[str], prompts: Sequence[str], engine: Any, info: Any) -> None:
    """After loading, before measuring: exact counts with the engine's tokenizer, against its context."""

    def count(text: str) -> int:
        return len(engine.encode(text))

    try:
        count("probe")
    except Exception:  # e.g. an openai engine without a local tokenizer: only the synthetic lengths are known
        check_fit(needs(cfg, tests, prompts, None), info.max_context, info.name)
        return
    check_fit(needs(cfg, tests, prompts, bounded(count, info.max_context)), info.max_context, info.name)
