"""The samples behind the gated figures (report.samples): what the regression verdict resamples.

A verdict from one best number cannot tell a 10-25 % regression from noise; a verdict from distributions can
(gate/verdict.py). So a report keeps, compactly:

* `latency`: per measured request of the latency headline (the test prompts), pooled over --repeat runs:
  TTFT, TPOT, E2E, per-request tokens/s (wall clock), output tokens, and where the engine runs in this
  process on the CPU, the process CPU time of the request and CPU ms per output token, with the step
  reference (benchmark/step_reference.py) timed between the requests;
* `machine_reference`: the machine-speed reference (gate/machine_reference.py) timed before the tests,
  between them and after, pooled over --repeat runs.

Per-run values of every catalogue metric with --repeat are in `report.repeat.metrics.<key>.values`; the gate
reads them there, not twice. Lists are capped at SAMPLE_CAP entries (evenly thinned beyond, `dropped` counts
what went) and floats are rounded to 5 significant digits, so a report stays small (~30 KB at the cap).
Reports written before samples existed have none: the gate falls back to the single-value comparison and
says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

SAMPLE_CAP = 1000
DIGITS = 5


def _round(v: float | None) -> float | None:
    """`DIGITS` significant digits; None for None and non-finite values (JSON has no NaN)."""
    if v is None or not math.isfinite(v):
        return None
    if v == 0:
        return 0.0
    return round(v, DIGITS - 1 - math.floor(math.log10(abs(v))))


def thin(values: Sequence, cap: int = SAMPLE_CAP) -> list:
    """At most `cap` values, evenly spaced over the sequence (order kept)."""
    n = len(values)
    if n <= cap:
        return list(values)
    return [values[int(i * n / cap)] for i in range(cap)]


class _Samples(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestSamples(_Samples):
    """Per measured request of the latency headline, in the order measured; lists are of equal length."""

    ttft_ms: list[float | None] = Field(description="Time to first token, ms.")
    tpot_ms: list[float | None] = Field(description="Time per output token after the first, ms (null: < 2 tokens).")
    e2e_latency_ms: list[float | None] = Field(description="Request start to last token, ms.")
    request_tokens_per_second: list[float | None] = Field(description="Output tokens / own E2E.")
    output_tokens: list[int] = Field(description="Output tokens of the request.")
    cpu_ms: list[float | None] | None = Field(
        None, description="Process CPU time (user + system, all threads) spent during the request, ms; null "
        "when the engine does not run in this process on the CPU.")
    cpu_ms_per_token: list[float | None] | None = Field(None, description="cpu_ms / output tokens.")
    step_reference_cpu_ms: list[float | None] | None = Field(
        None, description="CPU ms of the step reference, the mean of its samples just before and just after the "
        "request: what the same kind of work cost at that moment.")
    step_reference_id: str | None = Field(None, description="Workload id of the step reference.")
    run: list[int] | None = Field(None, description="The measured run (--repeat) of each request, from 0: the gate "
                                  "resamples runs as well as requests (null: one run).")
    dropped: int = Field(0, ge=0, description="Requests measured but not kept (beyond the cap).")

    # rounded when built and when written, so a report read back equals the one that was written
    @field_validator("ttft_ms", "tpot_ms", "e2e_latency_ms", "request_tokens_per_second", "cpu_ms",
                     "cpu_ms_per_token", "step_reference_cpu_ms")
    @classmethod
    def _rounded(cls, v: list[float | None] | None) -> list[float | None] | None:
        return None if v is None else [_round(x) for x in v]

    @field_serializer("ttft_ms", "tpot_ms", "e2e_latency_ms", "request_tokens_per_second", "cpu_ms",
                      "cpu_ms_per_token", "step_reference_cpu_ms")
    def _compact(self, v: list[float | None] | None) -> list[float | None] | None:
        return None if v is None else [_round(x) for x in v]

    def __len__(self) -> int:
        return len(self.output_tokens)

    def run_labels(self, runs: int = 1) -> list[int]:
        """The run of each request: `run`, else (a report written before it) `runs` equal consecutive chunks
        when they divide evenly and nothing was thinned out, else all 0."""
        if self.run is not None:
            return list(self.run)
        n = len(self)
        if runs > 1 and n % runs == 0 and not self.dropped:
            return [i // (n // runs) for i in range(n)]
        return [0] * n

    def cpu_per_token_vs_reference(self) -> list[float | None] | None:
        """CPU ms per output token / step-reference CPU ms, per request (the figure contention moves least)."""
        if self.cpu_ms_per_token is None or self.step_reference_cpu_ms is None:
            return None
        return [c / r if c is not None and r else None
                for c, r in zip(self.cpu_ms_per_token, self.step_reference_cpu_ms, strict=True)]

    def cpu_share(self) -> float | None:
        """Median process CPU / E2E wall of the requests: ~1 when the engine works in this process."""
        if self.cpu_ms is None:
            return None
        shares = sorted(c / e for c, e in zip(self.cpu_ms, self.e2e_latency_ms, strict=True) if c and e)
        return shares[len(shares) // 2] if shares else None


class ReferenceSamples(_Samples):
    """Timed samples of gate/machine_reference.py's fixed workload (one thread): wall and process CPU, ms."""

    workload_id: str = Field(description="Workload id (version and sizes): only equal ids are compared.")
    version: int = Field(description="Workload version.")
    samples_ms: list[float] = Field(description="Wall ms per sample, in the order taken.")
    cpu_samples_ms: list[float] = Field(description="Process-CPU ms per sample.")
    when: list[str] = Field([], description="When each sample was taken: before, after_<test>, after.")
    machine: str = Field("", description="Architecture, OS, CPU count and Python of the machine.")

    @field_validator("samples_ms", "cpu_samples_ms")
    @classmethod
    def _rounded(cls, v: list[float]) -> list[float]:
        return [_round(x) for x in v]

    @field_serializer("samples_ms", "cpu_samples_ms")
    def _compact(self, v: list[float]) -> list[float | None]:
        return [_round(x) for x in v]


class SamplesSection(_Samples):
    """What the regression verdict resamples (module docstring); absent from reports written before it."""

    cap: int = Field(SAMPLE_CAP, description="Most values kept per list.")
    latency: RequestSamples | None = Field(None, description="Per request of the latency headline.")
    machine_reference: ReferenceSamples | None = Field(None, description="The machine-speed reference, timed "
                                                       "before, between and after the tests.")
    runs: int = Field(1, ge=1, description="Measured runs pooled here (--repeat).")


def merge_request_samples(parts: Sequence[RequestSamples | None], cap: int = SAMPLE_CAP) -> RequestSamples | None:
    """One RequestSamples of several runs' (in order), thinned to the cap; optional lists only if every run has
    them."""
    got = [p for p in parts if p is not None]
    if not got:
        return None
    out: dict = {}
    n = sum(len(p) for p in got)
    for name in ("ttft_ms", "tpot_ms", "e2e_latency_ms", "request_tokens_per_second", "output_tokens"):
        out[name] = thin([x for p in got for x in getattr(p, name)], cap)
    for name in ("cpu_ms", "cpu_ms_per_token", "step_reference_cpu_ms"):
        lists = [getattr(p, name) for p in got]
        out[name] = None if any(v is None for v in lists) else thin([x for v in lists for x in v], cap)
    ids = {p.step_reference_id for p in got}
    out["step_reference_id"] = ids.pop() if len(ids) == 1 else None
    labels: list[int] = []
    for p in got:  # each part's runs numbered after the previous parts'
        offset = max(labels) + 1 if labels else 0
        labels += [offset + r for r in p.run_labels()]
    out["run"] = thin(labels, cap)
    if out["step_reference_id"] is None:
        out["step_reference_cpu_ms"] = None
    out["dropped"] = sum(p.dropped for p in got) + max(0, n - cap)
    return RequestSamples(**out)


def merge_reference_samples(parts: Sequence[ReferenceSamples | None]) -> ReferenceSamples | None:
    got = [p for p in parts if p is not None]
    if not got or len({(p.workload_id, p.version) for p in got}) != 1:
        return None
    return ReferenceSamples(workload_id=got[0].workload_id, version=got[0].version,
                            samples_ms=[x for p in got for x in p.samples_ms],
                            cpu_samples_ms=[x for p in got for x in p.cpu_samples_ms],
                            when=[w for i, p in enumerate(got) for w in (f"run{i + 1}:{x}" for x in p.when)],
                            machine=got[0].machine)


def merge_samples(parts: Sequence[SamplesSection | None]) -> SamplesSection | None:
    """The samples of --repeat runs pooled into one section."""
    got = [p for p in parts if p is not None]
    if not got:
        return None
    cap = got[0].cap
    return SamplesSection(cap=cap, latency=merge_request_samples([p.latency for p in got], cap),
                          machine_reference=merge_reference_samples([p.machine_reference for p in got]),
                          runs=sum(p.runs for p in got))
