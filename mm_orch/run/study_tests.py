"""The study tests run_benchmark() runs beside latency/memory/throughput: each returns its typed Report section."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mm_orch.benchmark.progress import Progress
from mm_orch.engines.base import Engine, ModelInfo


def _workload(engine: Engine, cfg: Any, info: ModelInfo, progress: Progress) -> Any:
    from mm_orch.studies.workload_run import run_workload

    return run_workload(engine, cfg.studies.workload, cfg.engine.seed, cfg.benchmark.latency.ignore_eos,
                        cfg.studies.slo, progress)


def _accuracy(engine: Engine, cfg: Any, info: ModelInfo, progress: Progress) -> Any:
    from mm_orch.studies.accuracy import run_accuracy

    return run_accuracy(engine, cfg.studies.accuracy, progress)


def _context_length(engine: Engine, cfg: Any, info: ModelInfo, progress: Progress) -> Any:
    from mm_orch.studies.context_length import run_context_length

    return run_context_length(engine, info, cfg.studies.context_length, cfg.engine.seed, progress)


# test name -> runner; the section of the Report has the same name
STUDY_RUNNERS: dict[str, Callable[[Engine, Any, ModelInfo, Progress], Any]] = {
    "workload": _workload, "accuracy": _accuracy, "context_length": _context_length}
