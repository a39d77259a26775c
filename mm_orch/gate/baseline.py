"""The baseline gate: compare every comparable metric of a report to a previous one, direction-aware.

Each metric is compared once as one value per side (`deltas`, below); the verdict (PASS / FAIL /
INCONCLUSIVE) then comes from the samples of both reports (gate/regression.py), and from these single values
only where there are no samples (memory; a baseline written before samples existed).

"Worse" is measured against the better of the two values, so one tolerance means the same slowdown for
latency and for throughput: 100 -> 150 ms is 50 % worse, and 150 -> 100 tokens/s is also 50 % worse.
With --repeat the baseline carries its own run-to-run spread; a median that is worse than the tolerance
but no worse than the baseline's own worst run is reported as noise, not as a regression. On a machine
shared with other jobs, gate.statistic "best" compares each side's best run instead (contention only
ever slows a run down, so the best run is the one closest to the machine's real speed).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from typing import Any

from mm_orch.config import GateSettings
from mm_orch.engines.registry import capabilities, plugins
from mm_orch.report import catalogue
from mm_orch.report.gate_results import BaselineResult, Direction, MetricDelta, Status
from mm_orch.report.model import Report, RunConfig

log = logging.getLogger(__name__)

__all__ = ["BaselineResult", "MetricDelta", "compare_to_baseline", "comparable_metrics", "env_differences",
           "workload_differences"]
# Environment fields that make numbers incomparable (refused) and those that are only worth a note.
HARD_ENV = ("model_name", "engine", "device", "dtype", "load_format", "gpu", "gpu_driver", "cuda_version",
            "torch_version", "transformers_version", "vllm_version")
SOFT_ENV = ("cpu", "cpu_count", "python_version", "mm_orch_version")
VERSION_FIELDS = ("cuda_version", "torch_version", "transformers_version", "vllm_version", "python_version",
                  "mm_orch_version")
_HUGE_PCT = 1e6


def comparable_metrics(report: Report) -> dict[str, float | None]:
    """The report's catalogue metrics as concrete keys (None: present but not measured)."""
    return catalogue.values(report)


def _env(report: Report) -> dict[str, Any]:
    info = report.system_info.model_dump() if report.system_info else {}
    model = report.model_info
    return {"model_name": report.model_name, "engine": report.engine,
            "device": model.device if model else None, "dtype": model.dtype if model else None,
            "load_format": model.load_format if model else None,
            **{k: info.get(k) for k in (*HARD_ENV[5:], *SOFT_ENV)}}


def _same_release(a: Any, b: Any) -> bool:
    """2.13.0+cpu vs 2.13.0: the same release, another wheel build; the device fields catch CPU vs CUDA."""
    return str(a).split("+")[0] == str(b).split("+")[0]


def env_differences(baseline: Report, current: Report, fields: Sequence[str] | None = None
                    ) -> tuple[list[str], list[str]]:
    """(hard, soft) differences as 'key: baseline -> current' (of `fields` only, if given); a field unknown
    on either side is skipped."""
    b, c = _env(baseline), _env(current)
    if fields is not None:
        b, c = ({k: v for k, v in d.items() if k in fields or k == "engine"} for d in (b, c))
    diff = {k: f"{k}: {b[k]} -> {c[k]}" for k in b if b[k] is not None and c[k] is not None and b[k] != c[k]}
    for k in ("gpu", "vllm_version"):  # one side on a GPU / with vLLM and the other without also counts
        if k in b and (b[k] is None) != (c[k] is None) and b.get("torch_version") and c.get("torch_version"):
            diff[k] = f"{k}: {b[k] or 'none'} -> {c[k] or 'none'}"
    local_only = [k for k in diff if k in VERSION_FIELDS and _same_release(b[k], c[k])]
    # an engine's own library (vLLM) installed or not, or in another version, does not change another engine
    libraries = sorted({p.capabilities.library_version for p in plugins().values()} - {None})
    ran = {capabilities(b["engine"]).library_version, capabilities(c["engine"]).library_version}
    local_only += [k for k in libraries if k in diff and k not in ran]
    soft = [diff.pop(k) for k in dict.fromkeys(local_only)]
    return [diff[k] for k in HARD_ENV if k in diff], soft + [diff[k] for k in SOFT_ENV if k in diff]


def workload(config: RunConfig | None) -> dict[str, Any]:
    """What was measured, as dot-keys: benchmark settings (not where reports go) and the prompts."""
    from mm_orch.report.flat import flatten

    if config is None:
        return {}
    bench = config.benchmark.model_dump(exclude={"report", "telemetry"})  # watching the run changes no workload
    studies = {"studies": config.studies.model_dump(mode="json")} if config.studies is not None else {}
    return flatten({"benchmark": bench} | studies) | {"prompts": config.prompts}


def workload_differences(baseline: Report, current: Report) -> list[str]:
    """Benchmark settings or prompts that differ: the two reports measured different workloads."""
    b, c = workload(baseline.config), workload(current.config)
    if not b or not c:
        return []
    return [f"{k}: {b.get(k)} -> {c.get(k)}" for k in sorted(b.keys() | c.keys()) if b.get(k) != c.get(k)]


def tolerance_for(metric: str, gate: GateSettings) -> float:
    for pattern, pct in gate.tolerances.items():
        if fnmatch.fnmatchcase(metric, pattern):
            return pct
    return gate.tolerance_pct


def _worse_pct(base: float, now: float, better: Direction) -> float:
    """Percent worse than the better of the two values; negative when now is better."""
    worse, good = (now, base) if better == "lower" else (base, now)
    sign = 1.0 if (now > base) == (better == "lower") else -1.0
    lo, hi = min(worse, good), max(worse, good)
    if lo <= 0:  # a zero or negative value (an RSS delta can be): no ratio, call any change 'very much'
        return 0.0 if hi == lo else sign * _HUGE_PCT
    return sign * (hi / lo - 1.0) * 100.0


def _range(report: Report, metric: str) -> tuple[float, float] | None:
    spread = report.repeat.metrics.get(metric) if report.repeat else None
    return (spread.min, spread.max) if spread else None


def _status(worse: float, tol: float, now: float, better: Direction, base_range: tuple | None) -> Status:
    if worse < -tol:
        return "improvement"
    if worse <= tol:
        return "ok"
    if base_range is not None:  # no worse than the baseline's own worst run: noise
        worst = base_range[1] if better == "lower" else base_range[0]
        if (now <= worst) if better == "lower" else (now >= worst):
            return "noise"
    return "regression"


def _values(report: Report, gate: GateSettings) -> dict[str, tuple[Direction, float | None]]:
    """Each metric's direction and value; with statistic 'best', its best run where --repeat recorded them."""
    out = {k: (s.metric.direction, s.value) for k, s in catalogue.slots(report).items()}
    spread = report.repeat.metrics if report.repeat else {}
    if gate.statistic == "best":
        for key, s in spread.items():
            if key in out:
                better = out[key][0]
                out[key] = (better, s.max if better == "higher" else s.min)
    return out


def compare_to_baseline(current: Report, baseline: Report, gate: GateSettings, baseline_path: str = "",
                        allow_env_mismatch: bool = False) -> BaselineResult:
    """Every metric present and measured in both reports is compared; the rest is listed as not compared."""
    hard, soft = env_differences(baseline, current)
    result = BaselineResult(passed=True, baseline_path=str(baseline_path), baseline_timestamp=baseline.timestamp,
                            env_differences=hard + soft, env_mismatch_allowed=allow_env_mismatch,
                            workload_differences=workload_differences(baseline, current), statistic=gate.statistic)
    base_m, now_m = _values(baseline, gate), _values(current, gate)
    for key in sorted(base_m.keys() | now_m.keys()):
        better, b = base_m.get(key, (None, None))
        better, c = now_m.get(key, (better, None))
        if any(fnmatch.fnmatchcase(key, p) for p in gate.ignore):
            result.not_compared[key] = "ignored by gate.ignore"
        elif key not in base_m or key not in now_m:
            result.not_compared[key] = "only in the " + ("current run" if key in now_m else "baseline")
        elif b is None or c is None:
            result.not_compared[key] = "not measured in the " + ("baseline" if b is None else "current run")
        else:
            result.deltas.append(_delta(key, better, b, c, gate, baseline, current))
    result.passed = not result.regressions
    from mm_orch.gate.regression import apply_verdicts  # the verdict from samples (PASS / FAIL / INCONCLUSIVE)

    apply_verdicts(result, baseline, current, gate)
    log.info("baseline %s: %d compared, verdict %s", baseline_path, len(result.deltas), result.verdict)
    return result


def _delta(key: str, better: Direction, b: float, c: float, gate: GateSettings, baseline: Report,
           current: Report) -> MetricDelta:
    tol = tolerance_for(key, gate)
    worse = _worse_pct(b, c, better)
    base_range = _range(baseline, key) if gate.statistic == "median" else None
    status = _status(worse, tol, c, better, base_range)
    if status == "regression" and catalogue.slots(current)[key].metric.section == "memory" \
            and abs(c - b) <= gate.memory_noise_gb:
        status = "noise"
    return MetricDelta(metric=key, direction=better, baseline=b, current=c,
                       change_pct=(c - b) / b * 100.0 if b else None, worse_pct=worse, tolerance_pct=tol,
                       status=status, current_range=_range(current, key), baseline_range=base_range)
