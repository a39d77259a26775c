"""TTFT against context length: how long loading a history of N tokens takes, N doubling up to the limit."""

from __future__ import annotations

from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.benchmark.prompts import make_request, synthetic_prompt_ids
from mm_orch.engines.base import Engine, ModelInfo
from mm_orch.errors import ConfigError
from mm_orch.report.metrics import Distribution, distribution, tpot_ms, ttft_ms
from mm_orch.report.studies import ContextLengthResult, ContextPoint
from mm_orch.settings.studies import ContextLengthSettings


def context_lengths(start: int, limit: int) -> list[int]:
    """start, 2 start, 4 start, ... below limit, then limit itself."""
    if start > limit:
        raise ConfigError(f"studies.context_length.start ({start}) exceeds the longest prompt that fits ({limit})")
    out = []
    n = start
    while n < limit:
        out.append(n)
        n *= 2
    return out + [limit]


def _limit(s: ContextLengthSettings, info: ModelInfo) -> int:
    fits = info.max_context - s.output_length if info.max_context else None
    if s.max is None and fits is None:
        raise ConfigError(f"{info.name}: its context limit is unknown; set studies.context_length.max")
    if s.max is not None and fits is not None and s.max > fits:
        raise ConfigError(f"studies.context_length.max: {s.max} prompt + {s.output_length} output tokens exceed "
                          f"{info.name}'s context of {info.max_context} tokens")
    return s.max if s.max is not None else fits


def _mean(d: Distribution | None) -> float | None:
    return d.mean if d else None


def run_context_length(engine: Engine, info: ModelInfo, s: ContextLengthSettings, seed: int = 0,
                       progress: Progress | None = None) -> ContextLengthResult:
    progress = progress or NullProgress()
    limit = _limit(s, info)
    lengths = context_lengths(s.start, limit)
    vocab = engine.vocab_token_ids()
    progress.phase("context length", len(lengths) * (s.runs + 1))
    points = []
    for n in lengths:
        req = make_request(synthetic_prompt_ids(vocab, n, seed + n), s.output_length)
        engine.stream(req)  # warm-up: a new prompt length may allocate or compile
        records = [engine.stream(req) for _ in range(s.runs)]
        progress.advance(s.runs + 1)
        ok = [r for r in records if r.success]
        ttft = distribution(map(ttft_ms, ok))
        points.append(ContextPoint(
            context_tokens=n, ttft_ms=_mean(ttft), ttft=ttft, tpot_ms=_mean(distribution(map(tpot_ms, ok))),
            prefill_tokens_per_second=n / (ttft.mean / 1e3) if ttft and ttft.mean > 0 else None,
            failed=len(records) - len(ok), errors=sorted({str(r.error) for r in records if not r.success})[:3]))
    return ContextLengthResult(max_context=info.max_context, limit_used=limit, output_length=s.output_length,
                               runs=s.runs, points=points)
