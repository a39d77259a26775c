"""The baseline gate's result, as stored in a report (baseline_check) and printed by the CLI."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Direction = Literal["higher", "lower"]
Status = Literal["regression", "improvement", "ok", "noise"]


class MetricDelta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field(description="Catalogue key of the metric.")
    direction: Direction = Field(description="Which way is better (from the catalogue).")
    baseline: float = Field(description="The baseline's value.")
    current: float = Field(description="This run's value.")
    change_pct: float | None = Field(description="(current - baseline) / baseline, in percent")
    worse_pct: float = Field(description="How much worse than the better value, in percent (<0: better)")
    tolerance_pct: float = Field(description="Percent worse allowed for this metric.")
    status: Status = Field(description="regression, improvement, ok, or noise (within the baseline's spread).")
    current_range: tuple[float, float] | None = Field(None, description="min, max over --repeat runs")
    baseline_range: tuple[float, float] | None = Field(None, description="min, max over the baseline's runs")


class BaselineResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passed: bool = Field(description="No metric regressed beyond its tolerance.")
    baseline_path: str = Field(description="The baseline report compared with.")
    baseline_timestamp: str | None = Field(None, description="When the baseline was measured.")
    deltas: list[MetricDelta] = Field([], description="Every metric compared.")
    not_compared: dict[str, str] = Field({}, description="metric -> why it was not compared")
    env_differences: list[str] = Field([], description="Environment fields that differ (allowed ones).")
    env_mismatch_allowed: bool = Field(False, description="--allow-env-mismatch was given.")
    workload_differences: list[str] = Field([], description="Benchmark settings that differ "
                                            "(--allow-workload-mismatch).")
    statistic: str = Field("median", description="what was compared: the median or the best of --repeat runs")

    @property
    def regressions(self) -> list[MetricDelta]:
        return [d for d in self.deltas if d.status == "regression"]

    @property
    def improvements(self) -> list[MetricDelta]:
        return [d for d in self.deltas if d.status == "improvement"]
