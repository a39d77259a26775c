"""Per-model targets: which report metric each target bounds, and the check itself."""

from __future__ import annotations

from typing import Any

from mm_orch.config import Targets
from mm_orch.report.validation import TargetCheck, TargetSkip, ValidationResult

# target name -> catalogue key; the comparison follows the metric's direction (higher: >=, lower: <=)
TARGET_METRICS: dict[str, str] = {
    "min_tokens_per_second": "latency.tokens_per_second",
    "max_ttft_ms": "latency.ttft_ms",
    "max_tpot_ms": "latency.tpot_ms",
    "max_e2e_latency_ms": "latency.e2e_latency_ms",
    "max_memory_gb": "memory.peak_gb",
    "min_single_request_tps": "throughput.single_request_tps",
}


def validate_targets(model_name: str, results: Any, targets: Targets | dict | None) -> ValidationResult:
    """Check a Report against one model's targets. A metric that was not measured is skipped, not failed."""
    from mm_orch.report import catalogue

    out = ValidationResult(passed=True, model_name=model_name)
    if targets is None:
        return out
    t = targets if isinstance(targets, Targets) else Targets.model_validate(targets)
    cells = catalogue.slots(results)
    for name, bound in t.model_dump(exclude_none=True).items():
        key = TARGET_METRICS[name]
        spec = catalogue.metric(key)
        actual = cells[key].value if key in cells else None
        if actual is None:
            out.skipped.append(TargetSkip(metric=key, target_name=name, reason="not measured in this run"))
            continue
        higher = spec.direction == "higher"
        ok = actual >= bound if higher else actual <= bound
        check = TargetCheck(metric=key, actual=actual, target=float(bound), comparison=">=" if higher else "<=",
                            target_name=name, unit=spec.unit, passed=ok)
        out.checked.append(check)
        if not ok:
            out.failures.append(check)
    out.passed = not out.failures
    return out


FAILURE_TARGET = "max_failure_rate"


def check_failure_rate(report: Any, max_pct: float | None) -> None:
    """With max_pct (benchmark.max_failure_rate / --max-failure-rate) set, add its check to report.validation:
    the worst phase's share of failed requests, in percent, must be <= max_pct. Without it, nothing is added
    (failed requests stay a warning)."""
    from mm_orch.report.failures import failed_phases

    if max_pct is None:
        return
    if report.validation is None:
        report.validation = ValidationResult(passed=True, model_name=report.model_name)
    phases = failed_phases(report)
    worst = max(phases, key=lambda f: f["failed"] / (f["failed"] + f["completed"]), default=None)
    rate = 100 * worst["failed"] / (worst["failed"] + worst["completed"]) if worst else 0.0
    where = f"{worst['phase']}: {worst['failed']} of {worst['failed'] + worst['completed']} failed" if worst else \
        "no request failed"
    check = TargetCheck(metric=f"failure rate ({where})", actual=rate, target=float(max_pct), comparison="<=",
                        target_name=FAILURE_TARGET, unit="%", passed=rate <= max_pct)
    report.validation.checked.append(check)
    if not check.passed:
        report.validation.failures.append(check)
        report.validation.passed = False
