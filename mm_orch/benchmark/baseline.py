"""The baseline gate: compare every comparable metric of a report to a previous one, direction-aware.

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
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.config import GateSettings

log = logging.getLogger(__name__)

Direction = Literal["higher", "lower"]
Status = Literal["regression", "improvement", "ok", "noise"]

_DIST_KEYS = ("ttft_ms", "tpot_ms", "e2e_latency_ms", "itl_ms")
_DIST_STATS = ("median", "p95")
_SCENARIO_KEYS = ("ttft_ms", "tpot_ms", "e2e_latency_ms", "tokens_per_second")
_MEMORY_KEYS = ("model_load_gb", "inference_delta_gb", "peak_gb", "kv_cache_gb")
# Environment fields that make numbers incomparable (refused) and those that are only worth a note.
HARD_ENV = ("model_name", "engine", "device", "dtype", "load_format", "gpu", "gpu_driver", "cuda_version",
            "torch_version", "transformers_version", "vllm_version")
SOFT_ENV = ("cpu", "cpu_count", "python_version", "mm_orch_version")
_HUGE_PCT = 1e6


class MetricDelta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    direction: Direction
    baseline: float
    current: float
    change_pct: float | None = Field(description="(current - baseline) / baseline, in percent")
    worse_pct: float = Field(description="How much worse than the better value, in percent (<0: better)")
    tolerance_pct: float
    status: Status
    current_range: tuple[float, float] | None = Field(None, description="min, max over --repeat runs")
    baseline_range: tuple[float, float] | None = None


class BaselineResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passed: bool
    baseline_path: str
    baseline_timestamp: str | None = None
    deltas: list[MetricDelta] = []
    not_compared: dict[str, str] = Field({}, description="metric -> why it was not compared")
    env_differences: list[str] = []
    env_mismatch_allowed: bool = False
    statistic: str = Field("median", description="what was compared: the median or the best of --repeat runs")

    @property
    def regressions(self) -> list[MetricDelta]:
        return [d for d in self.deltas if d.status == "regression"]

    @property
    def improvements(self) -> list[MetricDelta]:
        return [d for d in self.deltas if d.status == "improvement"]


def direction(metric: str) -> Direction | None:
    """Which way is better for a dotted metric key; None when it is not a performance number."""
    leaf = metric.rsplit(".", 1)[-1]
    if metric.startswith("latency.distributions."):
        leaf = metric.split(".")[2]
    if leaf.endswith(("_tps", "_rps", "tokens_per_second", "_efficiency")):
        return "higher"
    if leaf.endswith(("_ms", "_gb")):
        return "lower"
    return None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def comparable_metrics(report: dict[str, Any]) -> dict[str, float | None]:
    """The report's performance numbers as dotted keys (None: present but not measured)."""
    out: dict[str, float | None] = {}
    lat = report.get("latency") or {}
    for k in ("ttft_ms", "tpot_ms", "e2e_latency_ms", "tokens_per_second"):
        if k in lat:
            out[f"latency.{k}"] = _num(lat[k])
    for k, dist in (lat.get("distributions") or {}).items():
        if k in _DIST_KEYS:
            for stat in _DIST_STATS:
                out[f"latency.distributions.{k}.{stat}"] = _num((dist or {}).get(stat))
    for sc in lat.get("scenarios") or []:
        for k in _SCENARIO_KEYS:
            out[f"latency.scenarios.{sc['name']}.{k}"] = _num(sc.get(k))
    mem = report.get("memory") or {}
    for k in _MEMORY_KEYS:
        if k in mem:
            out[f"memory.{k}"] = _num(mem[k])
    for k, v in (report.get("throughput") or {}).items():
        if direction(k) is not None and not isinstance(v, bool | list | dict):
            out[f"throughput.{k}"] = _num(v)
    return out


def non_numeric_metrics(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """Metrics present with a value that is neither a number nor null (a corrupt or hand-edited report)."""
    from mm_orch.benchmark.reporter import flatten

    keys = comparable_metrics(report).keys()
    flat = flatten({k: report.get(k) for k in ("latency", "memory", "throughput")})
    return [(k, flat[k]) for k in keys if k in flat and flat[k] is not None
            and (isinstance(flat[k], bool) or not isinstance(flat[k], int | float))]


def _env(report: dict[str, Any]) -> dict[str, Any]:
    info = report.get("system_info") or {}
    model = report.get("model_info") or {}
    return {"model_name": report.get("model_name"), "engine": report.get("engine"),
            "device": model.get("device"), "dtype": model.get("dtype"), "load_format": model.get("load_format"),
            **{k: info.get(k) for k in (*HARD_ENV[5:], *SOFT_ENV)}}


def env_differences(baseline: dict[str, Any], current: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(hard, soft) differences as 'key: baseline -> current'; a field unknown on either side is skipped."""
    b, c = _env(baseline), _env(current)
    diff = {k: f"{k}: {b[k]} -> {c[k]}" for k in b if b[k] is not None and c[k] is not None and b[k] != c[k]}
    for k in ("gpu", "vllm_version"):  # one side on a GPU / with vLLM and the other without also counts
        if (b[k] is None) != (c[k] is None) and b.get("torch_version") and c.get("torch_version"):
            diff[k] = f"{k}: {b[k] or 'none'} -> {c[k] or 'none'}"
    # 2.13.0+cpu vs 2.13.0: the same release, another wheel build; the device fields catch CPU vs CUDA
    local_only = [k for k in diff if k.endswith("_version") and str(b[k]).split("+")[0] == str(c[k]).split("+")[0]]
    if "vllm" not in (b["engine"], c["engine"]):  # vLLM installed or not does not change another engine
        local_only += [k for k in ("vllm_version",) if k in diff]
    soft = [diff.pop(k) for k in local_only]
    return [diff[k] for k in HARD_ENV if k in diff], soft + [diff[k] for k in SOFT_ENV if k in diff]


def settings_differences(baseline: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Benchmark settings that differ (e.g. another output length): the numbers may not be comparable."""
    from mm_orch.benchmark.reporter import flatten

    b = flatten((baseline.get("config") or {}).get("benchmark") or {})
    c = flatten((current.get("config") or {}).get("benchmark") or {})
    if not b or not c:
        return []
    keys = sorted(k for k in b.keys() | c.keys() if b.get(k) != c.get(k) and not k.startswith("report."))
    return [f"benchmark.{k}: {b.get(k)} -> {c.get(k)}" for k in keys]


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


def _range(report: dict[str, Any], metric: str) -> tuple[float, float] | None:
    spread = ((report.get("repeat") or {}).get("metrics") or {}).get(metric)
    return (spread["min"], spread["max"]) if spread else None


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


def _values(report: dict[str, Any], gate: GateSettings) -> dict[str, float | None]:
    """The report's metrics; with statistic 'best', each metric's best run where --repeat recorded them."""
    values = comparable_metrics(report)
    spread = (report.get("repeat") or {}).get("metrics") or {}
    if gate.statistic == "best":
        for metric, s in spread.items():
            if metric in values:
                values[metric] = s["max"] if direction(metric) == "higher" else s["min"]
    return values


def compare_to_baseline(current: dict[str, Any], baseline: dict[str, Any], gate: GateSettings,
                        baseline_path: str = "", allow_env_mismatch: bool = False) -> BaselineResult:
    """Every metric present and measured in both reports is compared; the rest is listed as not compared."""
    hard, soft = env_differences(baseline, current)
    result = BaselineResult(passed=True, baseline_path=str(baseline_path),
                            baseline_timestamp=baseline.get("timestamp"),
                            env_differences=hard + soft + settings_differences(baseline, current),
                            env_mismatch_allowed=allow_env_mismatch,
                            statistic=gate.statistic)
    base_m, now_m = _values(baseline, gate), _values(current, gate)
    for metric in sorted(base_m.keys() | now_m.keys()):
        b, c, better = base_m.get(metric), now_m.get(metric), direction(metric)
        if any(fnmatch.fnmatchcase(metric, p) for p in gate.ignore):
            result.not_compared[metric] = "ignored by gate.ignore"
        elif metric not in base_m or metric not in now_m:
            result.not_compared[metric] = "only in the " + ("current run" if metric in now_m else "baseline")
        elif b is None or c is None:
            result.not_compared[metric] = "not measured in the " + ("baseline" if b is None else "current run")
        else:
            tol = tolerance_for(metric, gate)
            worse = _worse_pct(b, c, better)
            base_range = _range(baseline, metric) if gate.statistic == "median" else None
            status = _status(worse, tol, c, better, base_range)
            if status == "regression" and metric.startswith("memory.") and abs(c - b) <= gate.memory_noise_gb:
                status = "noise"
            result.deltas.append(MetricDelta(
                metric=metric, direction=better, baseline=b, current=c,
                change_pct=(c - b) / b * 100.0 if b else None, worse_pct=worse, tolerance_pct=tol,
                status=status, current_range=_range(current, metric), baseline_range=base_range))
    result.passed = not result.regressions
    log.info("baseline %s: %d compared, %d regressions", baseline_path, len(result.deltas),
             len(result.regressions))
    return result
