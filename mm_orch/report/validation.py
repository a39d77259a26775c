"""The target check's result (Report.validation): what was checked, missed and skipped."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TargetCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field(description="Catalogue key the target bounds.")
    actual: float = Field(description="The measured value.")
    target: float = Field(description="The bound.")
    comparison: str = Field(description=">= (higher is better) or <= (lower is better).")
    target_name: str = Field(description="The target's name in the config.")
    unit: str = Field("", description="Unit of actual and target (from the catalogue).")
    passed: bool = Field(description="actual satisfies the bound.")


class TargetSkip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field(description="Catalogue key the target bounds.")
    target_name: str = Field(description="The target's name in the config.")
    reason: str = Field(description="Why it was not checked.")


class ValidationResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passed: bool = Field(description="No checked target was missed.")
    model_name: str = Field(description="Model whose targets were checked.")
    checked: list[TargetCheck] = Field(default_factory=list, description="Targets checked.")
    failures: list[TargetCheck] = Field(default_factory=list, description="Targets missed.")
    skipped: list[TargetSkip] = Field(default_factory=list, description="Targets whose metric was not measured.")
