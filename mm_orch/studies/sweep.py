"""Sweeps: --sweep key=v1,v2 (repeatable) runs the benchmark once per cell of the grid of all combinations.

Each key maps to the config paths it sets; every cell's config is validated before anything runs, so a bad
value stops the sweep at once (exit 2). A cell whose engine fails is kept as a point with its error.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.errors import ConfigError, EngineError

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
}
NOT_YET = {"request_rate": "request_rate needs the open-loop load test (issue 11), not merged yet"}


class SweepPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[str, Any] = Field(description="The swept parameters' values in this cell.")
    metrics: dict[str, float | None] = Field(description="Headline metrics of the cell (see SweepResult.metrics).")
    error: str | None = Field(None, description="Why the cell has no results, if it failed.")


class SweepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_name: str
    engine: str = Field(description="The configured engine (a swept engine is in each point's params).")
    parameters: dict[str, list[Any]] = Field(description="Swept keys and their values, in grid order.")
    tests: list[str]
    metrics: dict[str, str] = Field(description="Metric key -> unit and direction, for every point.")
    points: list[SweepPoint]
    system_info: dict[str, Any] | None = None
    timestamp: str


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
        if key in NOT_YET:
            raise ConfigError(f"--sweep {item!r}: {NOT_YET[key]}")
        if not sep or key not in SWEEP_KEYS:
            raise ConfigError(f"--sweep {item!r}: expected KEY=V1,V2,... with KEY one of {', '.join(SWEEP_KEYS)}")
        vals = [_value(v) for v in values.split(",") if v.strip()]
        if not vals or key in out:
            raise ConfigError(f"--sweep {item!r}: {'no values' if not vals else 'key given twice'}")
        out[key] = vals
    return out


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


# The headline metric of each section: (key, path in the report, unit and direction)
METRICS: tuple[tuple[str, tuple[Any, ...], str], ...] = (
    ("ttft_ms", ("latency", "ttft_ms"), "ms, lower is better"),
    ("tpot_ms", ("latency", "tpot_ms"), "ms, lower is better"),
    ("e2e_latency_ms", ("latency", "e2e_latency_ms"), "ms, lower is better"),
    ("tokens_per_second", ("latency", "tokens_per_second"), "output tok/s per request, higher is better"),
    ("peak_memory_gb", ("memory", "peak_gb"), "GiB, lower is better"),
    ("model_load_gb", ("memory", "model_load_gb"), "GiB, lower is better"),
    ("weights_bytes", ("model_info", "weights_bytes"), "bytes of parameters as stored, lower is better"),
    ("single_request_tps", ("throughput", "single_request_tps"), "output tok/s, higher is better"),
    ("workload_output_tps", ("workload", "metrics", "output_tokens_per_second"), "output tok/s, higher is better"),
    ("workload_goodput_rps", ("workload", "goodput", "goodput_rps"), "req/s meeting the SLOs, higher is better"),
    ("accuracy", ("accuracy", "runs", 0, "overall", "accuracy"), "share correct, higher is better"),
    ("context_ttft_max_ms", ("context_length", "points", -1, "ttft_ms"), "ms at the longest context, lower is "
     "better"),
)


def _dig(report: dict[str, Any], path: tuple[Any, ...]) -> float | None:
    node: Any = report
    for p in path:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            return None
        if node is None:
            return None
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def _throughput_levels(report: dict[str, Any], cfg: Any) -> dict[str, float]:
    """Output tok/s of each batch size and concurrency the cell ran.

    Read from the MuAI keys of today's report (batch_<N>_tps, concurrent_<N>_tps); once the typed report
    (issue 10) lands, its throughput points (mode, level) replace this lookup.
    """
    section = report.get("throughput") or {}
    t = cfg.benchmark.throughput
    out = {}
    for mode, levels in (("batch", t.batch_sizes), ("concurrent", t.concurrent_requests)):
        for n in levels:  # one level per cell (a swept batch_size): one name, so the cells line up
            value = section.get(f"{mode}_{n}_tps")
            if isinstance(value, int | float):
                out[f"{mode}_tps" if len(levels) == 1 else f"{mode}_{n}_tps"] = float(value)
    return out


def point_metrics(report: dict[str, Any], cfg: Any) -> dict[str, float | None]:
    found = {key: _dig(report, path) for key, path, _ in METRICS}
    return {k: v for k, v in found.items() if v is not None} | _throughput_levels(report, cfg)


def run_sweep(cfg: Any, parameters: dict[str, list[Any]], run: Callable[[Any], dict[str, Any]],
              model_name: str, tests: list[str]) -> SweepResult:
    """run(cell_config) -> report, once per cell; every cell's config is checked before the first runs."""
    from datetime import datetime, timezone

    from mm_orch.config import apply_overrides

    cells = grid(parameters)
    configs = [apply_overrides(cfg, cell_overrides(c), source=f"--sweep {c}") for c in cells]
    points, system_info = [], None
    for i, (cell, cell_cfg) in enumerate(zip(cells, configs, strict=True), 1):
        log.info("sweep cell %d/%d: %s", i, len(cells), cell)
        try:
            report = run(cell_cfg)
        except EngineError as e:  # a failed cell is data; the sweep goes on
            points.append(SweepPoint(params=cell, metrics={}, error=str(e)))
            continue
        system_info = system_info or report.get("system_info")
        points.append(SweepPoint(params=cell, metrics=point_metrics(report, cell_cfg)))
    units = {key: unit for key, _, unit in METRICS}
    seen = {k for p in points for k in p.metrics}
    return SweepResult(model_name=model_name, engine=cfg.engine.name, parameters=parameters, tests=tests,
                       metrics={k: units.get(k, "output tok/s, higher is better") for k in sorted(seen)},
                       points=points, system_info=system_info,
                       timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"))
