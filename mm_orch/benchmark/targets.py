"""Per-model targets: which report metric each target bounds, and the check itself."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.config import Targets

# target name -> (dotted report key, comparison)
TARGET_METRICS: dict[str, tuple[str, str]] = {
    "min_tokens_per_second": ("latency.tokens_per_second", ">="),
    "max_ttft_ms": ("latency.ttft_ms", "<="),
    "max_tpot_ms": ("latency.tpot_ms", "<="),
    "max_e2e_latency_ms": ("latency.e2e_latency_ms", "<="),
    "max_memory_gb": ("memory.peak_gb", "<="),
    "min_single_request_tps": ("throughput.single_request_tps", ">="),
}


class TargetCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    actual: float
    target: float
    comparison: str
    target_name: str
    passed: bool


class TargetSkip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    target_name: str
    reason: str


class ValidationResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passed: bool
    model_name: str
    checked: list[TargetCheck] = Field(default_factory=list)
    failures: list[TargetCheck] = Field(default_factory=list)
    skipped: list[TargetSkip] = Field(default_factory=list)


def lookup(results: Any, dotted: str) -> Any:
    """Read a dotted key from a report dict (or attribute chain)."""
    cur = results
    for part in dotted.split("."):
        if cur is None:
            return None
        cur = cur.get(part) if isinstance(cur, dict) else getattr(cur, part, None)
    return cur


def validate_targets(model_name: str, results: Any, targets: Targets | dict | None) -> ValidationResult:
    """Check a report against one model's targets. A metric that was not measured is skipped, not failed."""
    if targets is None:
        return ValidationResult(passed=True, model_name=model_name)
    t = targets if isinstance(targets, Targets) else Targets.model_validate(targets)
    out = ValidationResult(passed=True, model_name=model_name)
    for name, bound in t.model_dump(exclude_none=True).items():
        key, cmp = TARGET_METRICS[name]
        actual = lookup(results, key)
        if actual is None:
            out.skipped.append(TargetSkip(metric=key, target_name=name, reason="not measured in this run"))
            continue
        ok = actual >= bound if cmp == ">=" else actual <= bound
        check = TargetCheck(metric=key, actual=float(actual), target=float(bound), comparison=cmp,
                            target_name=name, passed=ok)
        out.checked.append(check)
        if not ok:
            out.failures.append(check)
    out.passed = not out.failures
    return out
