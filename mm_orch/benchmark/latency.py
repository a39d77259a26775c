"""LatencyBenchmark: single requests, one at a time; TTFT, TPOT, ITL, E2E from per-token timestamps.

With `samples=True` (the headline) it also keeps every request's figures for the regression verdict
(report/samples.py) and, where `cpu_figures` is on (an engine that works in this process on the CPU), the
process CPU time of each request and the step reference (benchmark/step_reference.py) timed before the
first request and after each one. The CPU clock is read here, around engine.stream(): engines know nothing
of it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.benchmark.prompts import Prompt, make_request
from mm_orch.engines.base import Engine, now_ns
from mm_orch.errors import ConfigError
from mm_orch.report import metrics as m_
from mm_orch.report.metrics import Distribution, MetricsSummary, summarize
from mm_orch.report.samples import RequestSamples, thin


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
    samples: RequestSamples | None = None  # per request, when run(samples=True)

    @property
    def itl_ms(self) -> Distribution | None:
        return self.metrics.itl_ms


def _mean(d: Distribution | None) -> float | None:
    return d.mean if d else None


class LatencyBenchmark:
    def __init__(self, warmup_runs: int = 3, test_runs: int = 10, ignore_eos: bool = True,
                 progress: Progress | None = None, sampling: dict | None = None,
                 warmup_tokens: int | None = None, cpu_figures: bool = False) -> None:
        if warmup_runs < 0 or test_runs < 1:
            raise ConfigError(f"need warmup_runs >= 0 and test_runs >= 1, got {warmup_runs}, {test_runs}")
        self.warmup_runs, self.test_runs, self.ignore_eos = warmup_runs, test_runs, ignore_eos
        self.warmup_tokens = warmup_tokens  # a warm-up pays one-off costs (first shape, allocations), not length
        self.progress = progress or NullProgress()
        self.sampling = sampling or {}  # GenerationSettings.request_kwargs(); {} = greedy
        self.cpu_figures = cpu_figures  # the engine works in this process on the CPU: time its CPU too
        self._step_ref = None

    def run(self, engine: Engine, prompts: Sequence[Prompt], output_length: int = 100,
            warm_engine: bool = False, samples: bool = False) -> LatencyResult:
        """Each prompt test_runs times (after warmup_runs uncounted runs of the first prompt).

        warm_engine: the engine has already decoded this session, so a warm-up only needs to meet the
        new prompt length once (one output token) rather than decode again. samples: keep per-request
        figures (and CPU figures with cpu_figures) in result.samples.
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
        cpu: list[float] = []
        ref = self._reference() if samples and self.cpu_figures else None
        refs = [ref.sample()] if ref is not None else []  # (wall ms, CPU ms) before the first request
        t0 = now_ns()
        for _ in range(self.test_runs):
            for req in requests:
                c0 = time.process_time_ns()
                records.append(engine.stream(req))
                cpu.append((time.process_time_ns() - c0) / 1e6)
                if ref is not None:  # between requests: its time is not part of any request's
                    refs.append(ref.sample())
                self.progress.advance()
        # the phase's wall time (single-stream tokens/s may come from it) leaves the reference's out
        wall = (now_ns() - t0) / 1e9 - sum(w for w, _ in refs[1:]) / 1e3
        m = summarize(records, wall)
        return LatencyResult(
            ttft_ms=_mean(m.ttft_ms), tpot_ms=_mean(m.tpot_ms), e2e_latency_ms=_mean(m.e2e_latency_ms),
            tokens_per_second=_mean(m.request_tokens_per_second), output_length=output_length,
            input_tokens_mean=m.input_tokens / m.completed if m.completed else None,
            fixed_output_length=self.ignore_eos, warmup_runs=self.warmup_runs, test_runs=self.test_runs,
            metrics=m, samples=self._samples(records, cpu, refs, ref) if samples else None,
        )

    def _reference(self):
        if self._step_ref is None:
            from mm_orch.benchmark.step_reference import make_step_reference

            self._step_ref = make_step_reference() or False
            if self._step_ref:
                self._step_ref.sample()  # the first run pays allocations
        return self._step_ref or None

    def _samples(self, records: list, cpu: list[float], refs: list[tuple[float, float]], ref) -> RequestSamples:
        ok = [i for i, r in enumerate(records) if r.success]
        cpu_on = self.cpu_figures

        def pick(values: list) -> list:
            return thin([values[i] for i in ok])

        per_token = [c / r.output_tokens if r.output_tokens else None for c, r in zip(cpu, records, strict=True)]
        around = [(refs[i][1] + refs[i + 1][1]) / 2 for i in range(len(records))] if ref is not None else None
        return RequestSamples(
            ttft_ms=pick([m_.ttft_ms(r) for r in records]), tpot_ms=pick([m_.tpot_ms(r) for r in records]),
            e2e_latency_ms=pick([m_.e2e_ms(r) for r in records]),
            request_tokens_per_second=pick([m_.request_tokens_per_second(r) for r in records]),
            output_tokens=pick([r.output_tokens for r in records]),
            cpu_ms=pick(cpu) if cpu_on else None, cpu_ms_per_token=pick(per_token) if cpu_on else None,
            step_reference_cpu_ms=pick(around) if around is not None else None,
            step_reference_id=ref.id if ref is not None else None, dropped=max(0, len(ok) - len(pick(ok))))

    def steps(self, n_prompts: int) -> int:
        """Progress units one run() advances by."""
        return self.warmup_runs + self.test_runs * n_prompts
