"""The studies run_benchmark() adds to a report, each as one optional section built from its result model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mm_orch.benchmark.progress import Progress
from mm_orch.engines.base import Engine, ModelInfo


def run_studies(engine: Engine, cfg: Any, info: ModelInfo, tests: Sequence[str], progress: Progress
                ) -> dict[str, Any]:
    """Sections keyed by study name (workload, accuracy, context_length), JSON-ready."""
    st = cfg.studies
    ignore_eos = cfg.benchmark.latency.ignore_eos
    out: dict[str, Any] = {}
    if "workload" in tests:
        from mm_orch.studies.workload_run import run_workload

        out["workload"] = run_workload(engine, st.workload, cfg.engine.seed, ignore_eos, st.slo,
                                       progress).model_dump(mode="json")
    if "accuracy" in tests:
        from mm_orch.studies.accuracy import run_accuracy

        out["accuracy"] = run_accuracy(engine, st.accuracy, progress).model_dump(mode="json")
    if "context_length" in tests:
        from mm_orch.studies.context_length import run_context_length

        out["context_length"] = run_context_length(engine, info, st.context_length, cfg.engine.seed,
                                                   progress).model_dump(mode="json")
    return out
