"""--repeat N: N measured runs folded into one report of medians that carries the run-to-run spread."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable

from mm_orch.report import catalogue
from mm_orch.report.model import MetricSpread, RepeatSection, Report
from mm_orch.report.samples import merge_samples

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
    out.samples = merge_samples([r.samples for r in reports])  # per-request samples of every run, pooled
    out.repeat = RepeatSection(
        n=len(reports), metrics=spread, first_run_only=first_only, timestamps=[r.timestamp for r in reports],
        note="catalogue metrics (headline means, scenario means, tokens/s, distribution medians and p95) are "
             "medians over the runs; other distribution fields, histograms and memory are the first run's")
    return out


def run_repeated(run_once: Callable[[], Report], n: int) -> Report:
    """Call run_once() n times (each a full measured run) and merge; n == 1 returns the run unchanged.

    Ctrl-C after at least one run finished raises BenchmarkInterrupted with the finished runs merged (their
    repeat summary, requested = n) and marked incomplete: a long --repeat never loses what it measured."""
    from mm_orch.errors import BenchmarkInterrupted

    if n < 1:
        raise ValueError("repeat must be >= 1")
    reports: list[Report] = []
    for i in range(n):
        log.info("repeat %d/%d", i + 1, n)
        try:
            reports.append(run_once())
        except (KeyboardInterrupt, BenchmarkInterrupted) as e:
            if not reports or n == 1:  # nothing whole to keep: the run's own partial report, if any
                raise
            raise interrupted_repeats(reports, n) from e
    return reports[0] if n == 1 else merge_repeats(reports)


def interrupted_repeats(reports: list[Report], n: int) -> Exception:
    """The BenchmarkInterrupted of a --repeat stopped after len(reports) of n runs: the finished runs merged."""
    from mm_orch.errors import BenchmarkInterrupted

    merged = merge_repeats(reports)
    assert merged.repeat is not None
    merged.repeat.requested = n
    merged.incomplete = True
    merged.finished_tests = list(merged.config.tests) if merged.config else []
    merged.missing_tests = []
    done = len(reports)
    finished = [f"repeat {k} of {n}" for k in range(1, done + 1)]
    missing = [f"repeat {k}" for k in range(done + 1, n + 1)]
    return BenchmarkInterrupted(merged, finished, missing)
