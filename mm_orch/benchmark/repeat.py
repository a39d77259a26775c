"""--repeat N: N measured runs folded into one report of medians that carries the run-to-run spread."""

from __future__ import annotations

import copy
import logging
import statistics
from collections.abc import Callable
from typing import Any

from mm_orch.benchmark.baseline import comparable_metrics

log = logging.getLogger(__name__)


def _set(report: dict[str, Any], metric: str, value: float) -> None:
    """Write a dotted metric key (as comparable_metrics names it) back into a report."""
    parts = metric.split(".")
    if parts[:2] == ["latency", "scenarios"]:
        scenario = next(s for s in report["latency"]["scenarios"] if s["name"] == parts[2])
        scenario[parts[3]] = value
        return
    cur = report
    for p in parts[:-1]:
        cur = cur[p]
    cur[parts[-1]] = value


# Runs after the first reuse memory the process already holds, so memory is measured cold, once.
COLD_ONLY = ("memory.",)


def merge_repeats(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The first report with every comparable metric replaced by its median over the runs, plus
    report["repeat"] = {n, metrics: {metric: {min, median, max, values}}}. Memory metrics keep the first
    (cold) run's value; distributions other than the compared statistics are those of the first run."""
    if not reports:
        raise ValueError("merge_repeats needs at least one report")
    out = copy.deepcopy(reports[0])
    per_run = [comparable_metrics(r) for r in reports]
    spread: dict[str, dict[str, Any]] = {}
    for metric in per_run[0]:
        if metric.startswith(COLD_ONLY):
            continue
        values = [m.get(metric) for m in per_run]
        values = [v for v in values if v is not None]
        if not values:
            continue
        median = statistics.median(values)
        spread[metric] = {"min": min(values), "median": median, "max": max(values), "values": values}
        _set(out, metric, median)
    out["repeat"] = {"n": len(reports), "statistic": "median", "metrics": spread,
                     "first_run_only": list(COLD_ONLY),
                     "note": "compared metrics (headline means, scenario means, tokens/s, distribution medians and "
                             "p95) are medians over the runs; other distribution fields, histograms and memory "
                             "are the first run's",
                     "timestamps": [r.get("timestamp") for r in reports]}
    return out


def run_repeated(run_once: Callable[[], dict[str, Any]], n: int) -> dict[str, Any]:
    """Call run_once() n times (each a full measured run) and merge; n == 1 returns the run unchanged."""
    if n < 1:
        raise ValueError("repeat must be >= 1")
    reports = []
    for i in range(n):
        log.info("repeat %d/%d", i + 1, n)
        reports.append(run_once())
    return reports[0] if n == 1 else merge_repeats(reports)
