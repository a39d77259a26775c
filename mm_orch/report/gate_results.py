"""The baseline gate's result, as stored in a report (baseline_check) and printed by the CLI.

Two layers: `deltas` compare each catalogue value once (one number per side, as before), and `verdicts` hold
the regression verdict per metric from its samples (gate/verdict.py: effect, interval, samples, detectable
%). `verdict` is the overall PASS / FAIL / INCONCLUSIVE; the HTML report reads it under that name.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Direction = Literal["higher", "lower"]
Status = Literal["regression", "improvement", "ok", "noise", "inconclusive", "not_gated"]
Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]
Figure = Literal["wall", "cpu", "memory", "other"]


class MetricDelta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field(description="Catalogue key of the metric.")
    direction: Direction = Field(description="Which way is better (from the catalogue).")
    baseline: float = Field(description="The baseline's value.")
    current: float = Field(description="This run's value.")
    change_pct: float | None = Field(description="(current - baseline) / baseline, in percent")
    worse_pct: float = Field(description="How much worse than the better value, in percent (<0: better)")
    tolerance_pct: float = Field(description="Percent worse allowed for this metric.")
    status: Status = Field(description="regression, improvement, ok, noise (within the baseline's spread), "
                           "inconclusive (its verdict), or not_gated (another figure decided, e.g. wall time on "
                           "a busy machine).")
    verdict: Verdict | None = Field(None, description="This metric's verdict where it was gated from samples.")
    current_range: tuple[float, float] | None = Field(None, description="min, max over --repeat runs")
    baseline_range: tuple[float, float] | None = Field(None, description="min, max over the baseline's runs")


class MetricVerdictRow(BaseModel):
    """One metric's regression verdict as stored (gate/verdict.py MetricVerdict, plus what decided)."""

    model_config = ConfigDict(extra="forbid")
    metric: str = Field(description="Catalogue key, or latency.cpu_ms_per_token / latency.cpu_per_token_vs_reference.")
    figure: Figure = Field(description="wall (time a user waits), cpu (CPU time), memory, or other.")
    gated: bool = Field(description="Counted in the overall verdict; false: reported only.")
    why_not_gated: str | None = Field(None, description="Why a reported row did not count.")
    direction: Literal["lower_is_better", "higher_is_better"] = Field(description="Which way is better.")
    statistic: str = Field(description="ratio of medians, median of paired ratios, or single value (no samples).")
    effect: float | None = Field(description="current / baseline of the statistic (1.10 = 10 % larger).")
    ci_low: float | None = Field(description="Lower end of the bootstrap interval of the effect.")
    ci_high: float | None = Field(description="Upper end.")
    confidence: float = Field(description="Two-sided confidence of the interval.")
    n_baseline: int = Field(description="Baseline samples (pairs when paired).")
    n_current: int = Field(description="Current samples.")
    tolerance_pct: float = Field(description="Percent worse allowed (as configured).")
    detectable_pct: float | None = Field(description="Smallest regression, in % worse, these samples would FAIL "
                                         "at this confidence and tolerance; null when nothing can be detected.")
    verdict: Verdict = Field(description="PASS, FAIL or INCONCLUSIVE.")
    reason: str = Field(description="The verdict in words.")


class BaselineResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passed: bool = Field(description="No gated metric failed (the verdict may still be INCONCLUSIVE).")
    baseline_path: str = Field(description="The baseline report compared with.")
    baseline_timestamp: str | None = Field(None, description="When the baseline was measured.")
    deltas: list[MetricDelta] = Field([], description="Every metric compared.")
    not_compared: dict[str, str] = Field({}, description="metric -> why it was not compared")
    env_differences: list[str] = Field([], description="Environment fields that differ (allowed ones).")
    env_mismatch_allowed: bool = Field(False, description="--allow-env-mismatch was given.")
    workload_differences: list[str] = Field([], description="Benchmark settings that differ "
                                            "(--allow-workload-mismatch).")
    statistic: str = Field("median", description="what was compared: the median or the best of --repeat runs")
    verdict: Verdict | None = Field(None, description="The gate's overall verdict: FAIL if any gated metric failed, "
                                    "else INCONCLUSIVE if any could not tell, else PASS; null in reports written "
                                    "before verdicts (read passed).")
    verdicts: list[MetricVerdictRow] = Field([], description="Per metric from its samples: effect, interval, "
                                             "samples, detectable %, verdict; gated or only reported.")
    figure: Literal["wall", "cpu"] | None = Field(None, description="The speed figure that decided: wall time, "
                                                  "or CPU ms per token over the step reference.")
    figure_reason: str | None = Field(None, description="Why that figure (the machine's state on both sides).")
    machine: str | None = Field(None, description="The machine-speed reference check, one line.")
    paired: bool = Field(False, description="A/B in one job (--ab): verdicts from paired rounds.")
    on_inconclusive: Literal["pass", "fail", "warn"] | None = Field(None, description="What INCONCLUSIVE exits "
                                                                    "with (null: 4).")
    notes: list[str] = Field([], description="What the reader must know: fallbacks, refusals, normalization.")

    @property
    def overall(self) -> Verdict:
        """The verdict; for a result written before verdicts, PASS or FAIL from passed."""
        return self.verdict or ("PASS" if self.passed else "FAIL")

    def exit_code(self) -> int:
        """0 PASS, 1 FAIL, 4 INCONCLUSIVE (or per on_inconclusive: pass/warn 0, fail 1)."""
        if self.overall == "PASS":
            return 0
        if self.overall == "FAIL":
            return 1
        return {"pass": 0, "warn": 0, "fail": 1}.get(self.on_inconclusive or "", 4)

    @property
    def gated(self) -> list[MetricVerdictRow]:
        return [v for v in self.verdicts if v.gated]

    @property
    def regressions(self) -> list[MetricDelta]:
        return [d for d in self.deltas if d.status == "regression"]

    @property
    def improvements(self) -> list[MetricDelta]:
        return [d for d in self.deltas if d.status == "improvement"]
