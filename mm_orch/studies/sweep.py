"""Sweeps: --sweep key=v1,v2 (repeatable) runs the benchmark once per cell of the grid of all combinations.

Each key maps to the config paths it sets; every cell's config is validated before anything runs, so a bad
value stops the sweep at once (exit 2). A cell whose engine fails is kept as a point with its error.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mm_orch.errors import BenchmarkInterrupted, ConfigError, EngineError
from mm_orch.report.model import Report
from mm_orch.report.sweep import SweepMetric, SweepPoint, SweepResult

log = logging.getLogger(__name__)

# sweep key -> the config paths it sets (a list value means "a one-element list of the value")
SWEEP_KEYS: dict[str, tuple[str, ...]] = {
    "temperature": ("benchmark.generation.temperature",),
    "top_k": ("benchmark.generation.top_k",),
    "top_p": ("benchmark.generation.top_p",),
    "num_beams": ("benchmark.generation.num_beams",),
    "max_new_tokens": ("benchmark.latency.output_length", "benchmark.throughput.tokens_per_request",
                       "benchmark.memory.output_length"),
    "batch_size": ("[benchmark.throughput.batch_sizes]",),
    "concurrency": ("[benchmark.throughput.concurrent_requests]", "studies.workload.concurrency"),
    "engine": ("engine.name",),
    "dtype": ("engine.dtype",),
    "quantization": ("engine.hf.quantization",),
    "request_rate": ("benchmark.load.request_rate",),  # each cell runs the open-loop load test at that rate
}
NEEDS_TEST = {"request_rate": "load"}  # a key that means nothing without this test


@dataclass(slots=True)
class CellRun:
    """What running one cell gave: its typed report and, if written, where."""

    report: Report
    path: str | None = None


def _value(text: str) -> Any:
    t = text.strip()
    if t.lower() in ("none", "null", "off"):
        return None
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def parse_sweep(items: Sequence[str]) -> dict[str, list[Any]]:
    """['temperature=0,0.7', 'top_k=1,50'] -> {'temperature': [0, 0.7], 'top_k': [1, 50]}."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or key not in SWEEP_KEYS:
            raise ConfigError(f"--sweep {item!r}: expected KEY=V1,V2,... with KEY one of {', '.join(SWEEP_KEYS)}")
        vals = [_value(v) for v in values.split(",") if v.strip()]
        if not vals or key in out:
            raise ConfigError(f"--sweep {item!r}: {'no values' if not vals else 'key given twice'}")
        out[key] = vals
    return out


def check_tests(parameters: dict[str, list[Any]], tests: Sequence[str]) -> None:
    """A swept key whose test is not run (request_rate without --tests load) is an error, not a flat sweep."""
    for key, test in NEEDS_TEST.items():
        if key in parameters and test not in tests:
            raise ConfigError(f"--sweep {key}=...: the {key} is the {test} test's; add --tests {test}")


def cell_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """A nested override dict setting every config path of each swept key."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        for path in SWEEP_KEYS[key]:
            as_list = path.startswith("[")
            *parents, leaf = path.strip("[]").split(".")
            node = out
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = [value] if as_list else value
    return out


def grid(parameters: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(parameters)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*parameters.values())]


WEIGHTS = SweepMetric(label="weights as stored", unit="bytes", direction="lower")


def point_metrics(report: Report) -> tuple[dict[str, float | None], dict[str, SweepMetric]]:
    """The catalogue's headline (summary) metrics of one cell's typed report, with their descriptions.

    A throughput metric the cell measured at one level only (a swept batch_size or concurrency) is keyed
    with N for the level, so the cells line up in one column; several levels keep their own keys.
    """
    from mm_orch.report import catalogue

    values: dict[str, float | None] = {}
    described: dict[str, SweepMetric] = {}
    for metric in catalogue.CATALOGUE:
        if not metric.summary:
            continue
        slots = list(metric.slots(report, metric))
        for s in slots:
            key, label = s.key, s.label
            if set(s.names) == {"level"} and len(slots) == 1:
                key, label = metric.key.format(level="N"), metric.label.format(level="N")
            if s.value is not None:
                values[key] = s.value
                described[key] = SweepMetric(label=label, unit=metric.unit, direction=metric.direction)
    if report.model_info is not None and report.model_info.weights_bytes is not None:
        values["model_info.weights_bytes"] = float(report.model_info.weights_bytes)
        described["model_info.weights_bytes"] = WEIGHTS
    return values, described


def run_sweep(cfg: Any, parameters: dict[str, list[Any]], run: Callable[[Any], CellRun | Report],
              model_name: str, tests: list[str], submit: Callable[[list[Any]], None] | None = None,
              label: str | None = None) -> SweepResult:
    """run(cell_config) -> the cell's report (or CellRun), once per cell; every cell's config is checked
    before the first runs. submit, if given, gets every cell's config first (--executor ray sends them all
    at once; run then collects each)."""
    from datetime import datetime, timezone

    from mm_orch.config import apply_overrides

    cells = grid(parameters)
    configs = [apply_overrides(cfg, cell_overrides(c), source=f"--sweep {c}") for c in cells]
    if submit is not None:
        submit(configs)
    points, system_info = [], None
    described: dict[str, SweepMetric] = {}

    def result(**more: Any) -> SweepResult:
        return SweepResult(model_name=model_name, engine=cfg.engine.name, parameters=parameters, tests=tests,
                           metrics=dict(sorted(described.items())), points=points, system_info=system_info,
                           timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"), label=label,
                           **more)

    for i, (cell, cell_cfg) in enumerate(zip(cells, configs, strict=True), 1):
        log.info("sweep cell %d/%d: %s", i, len(cells), cell)
        try:
            got = run(cell_cfg)
        except EngineError as e:  # a failed cell is data; the sweep goes on
            points.append(SweepPoint(params=cell, metrics={}, error=str(e)))
            continue
        except (KeyboardInterrupt, BenchmarkInterrupted) as e:  # Ctrl-C: the cells that finished are kept
            cut = e.report if isinstance(e, BenchmarkInterrupted) and isinstance(e.report, Report) else None
            if cut is not None:  # the interrupted cell's own partial report (written by its session)
                values, found = point_metrics(cut)
                described |= found
                path = getattr(e, "path", None)
                points.append(SweepPoint(params=cell, metrics=values, report=str(path) if path else None,
                                         error="interrupted (Ctrl-C): the tests that finished are in its report"))
            missing = cells[i:] if cut is not None else cells[i - 1:]
            raise BenchmarkInterrupted(result(incomplete=True, missing_cells=missing),
                                       [f"{i - 1} of {len(cells)} sweep cells"],
                                       [", ".join(f"{k}={v}" for k, v in c.items()) for c in missing] or ["none"]
                                       ) from None
        cell_run = got if isinstance(got, CellRun) else CellRun(got)
        report = cell_run.report
        if system_info is None and report.system_info is not None:
            system_info = report.system_info.model_dump(mode="json")
        values, found = point_metrics(report)
        described |= found
        points.append(SweepPoint(params=cell, metrics=values, report=cell_run.path))
    return result()
