"""LatencyBenchmark: single requests, one at a time; TTFT, TPOT, ITL, E2E from per-token timestamps."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.benchmark.prompts import Prompt, make_request
from mm_orch.engines.base import Engine, now_ns
from mm_orch.errors import ConfigError
from mm_orch.report.metrics import Distribution, MetricsSummary, summarize


class LatencyResult(BaseModel):
    """Headline means (the guide's names) plus the full distributions."""

    model_config = ConfigDict(extra="forbid")
    ttft_ms: float | None
    tpot_ms: float | None
    e2e_latency_ms: float | None
    tokens_per_second: float | None  # mean over requests of output tokens / own E2E
    output_length: int
    input_tokens_mean: float | None
    fixed_output_length: bool
    warmup_runs: int
    test_runs: int
    metrics: MetricsSummary

    @property
    def itl_ms(self) -> Distribution | None:
        return self.metrics.itl_ms


def _mean(d: Distribution | None) -> float | None:
    return d.mean if d else None


class LatencyBenchmark:
    def __init__(self, warmup_runs: int = 3, test_runs: int = 10, ignore_eos: bool = True,
                 progress: Progress | None = None, sampling: dict | None = None,
                 warmup_tokens: int | None = None) -> None:
        if warmup_runs < 0 or test_runs < 1:
            raise ConfigError(f"need warmup_runs >= 0 and test_runs >= 1, got {warmup_runs}, {test_runs}")
        self.warmup_runs, self.test_runs, self.ignore_eos = warmup_runs, test_runs, ignore_eos
        self.warmup_tokens = warmup_tokens  # a warm-up pays one-off costs (first shape, allocations), not length
        self.progress = progress or NullProgress()
        self.sampling = sampling or {}  # GenerationSettings.request_kwargs(); {} = greedy

    def run(self, engine: Engine, prompts: Sequence[Prompt], output_length: int = 100,
            warm_engine: bool = False) -> LatencyResult:
        """Each prompt test_runs times (after warmup_runs uncounted runs of the first prompt).

        warm_engine: the engine has already decoded this session, so a warm-up only needs to meet the
        new prompt length once (one output token) rather than decode again.
        """
        if not prompts:
            raise ConfigError("LatencyBenchmark.run needs at least one prompt")
        requests = [make_request(p, output_length, self.ignore_eos, **self.sampling) for p in prompts]
        # warmup_tokens None asks for full-length warm-ups (a compiled static cache meets its shapes there)
        tokens = 1 if warm_engine and self.warmup_tokens else min(output_length, self.warmup_tokens or output_length)
        warmup = make_request(prompts[0], tokens, self.ignore_eos, **self.sampling)
        for _ in range(self.warmup_runs):
            engine.stream(warmup)
            self.progress.advance()
        records = []
        t0 = now_ns()
        for _ in range(self.test_runs):
            for req in requests:
                records.append(engine.stream(req))
                self.progress.advance()
        m = summarize(records, (now_ns() - t0) / 1e9)
        return LatencyResult(
            ttft_ms=_mean(m.ttft_ms), tpot_ms=_mean(m.tpot_ms), e2e_latency_ms=_mean(m.e2e_latency_ms),
            tokens_per_second=_mean(m.request_tokens_per_second), output_length=output_length,
            input_tokens_mean=m.input_tokens / m.completed if m.completed else None,
            fixed_output_length=self.ignore_eos, warmup_runs=self.warmup_runs, test_runs=self.test_runs,
            metrics=m,
        )

    def steps(self, n_prompts: int) -> int:
        """Progress units one run() advances by."""
        return self.warmup_runs + self.test_runs * n_prompts
