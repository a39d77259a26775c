"""--repeat N: N measured runs folded into one report of medians that carries the run-to-run spread."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable

from mm_orch.report import catalogue
from mm_orch.report.model import MetricSpread, RepeatSection, Report

log = logging.getLogger(__name__)


def merge_repeats(reports: list[Report]) -> Report:
    """The first report with every catalogue metric replaced by its median over the runs, plus
    report.repeat (n, spread per metric). Metrics marked first_run_only (memory, measured cold) keep the
    first run's value; the rest of each distribution is the first run's."""
    if not reports:
        raise ValueError("merge_repeats needs at least one report")
    out = reports[0].model_copy(deep=True)
    per_run = [catalogue.values(r) for r in reports]
    spread: dict[str, MetricSpread] = {}
    first_only = sorted({s.metric.section for s in catalogue.slots(out).values() if s.metric.first_run_only})
    for key, slot in catalogue.slots(out).items():
        if slot.metric.first_run_only:
            continue
        values = [v for m in per_run if (v := m.get(key)) is not None]
        if not values:
            continue
        median = statistics.median(values)
        spread[key] = MetricSpread(min=min(values), median=median, max=max(values), values=values)
        slot.set(median)
    out.repeat = RepeatSection(
        n=len(reports), metrics=spread, first_run_only=first_only, timestamps=[r.timestamp for r in reports],
        note="catalogue metrics (headline means, scenario means, tokens/s, distribution medians and p95) are "
             "medians over the runs; other distribution fields, histograms and memory are the first run's")
    return out


def run_repeated(run_once: Callable[[], Report], n: int) -> Report:
    """Call run_once() n times (each a full measured run) and merge; n == 1 returns the run unchanged."""
    if n < 1:
        raise ValueError("repeat must be >= 1")
    reports = []
    for i in range(n):
        log.info("repeat %d/%d", i + 1, n)
        reports.append(run_once())
    return reports[0] if n == 1 else merge_repeats(reports)
