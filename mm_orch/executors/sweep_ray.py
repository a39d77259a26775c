"""--sweep --executor ray: the cells of a sweep as Ray tasks, all submitted at once, collected in grid order.

A sweep's cells are independent sessions of one model on one engine, the jobs a cluster should spread. Every
cell's config is checked before anything is submitted (studies/sweep.run_sweep does that); each cell is one
JobSpec run by RayCluster as a task in a fresh worker (GPUs declared per cell, as for --model/--engine jobs); the
reports come back as JSON and are written here (session.finish), so the sweep report links them as a local sweep
would. A failed task is a failed cell (kept with its error); Ctrl-C stops waiting, cancels what is still running
and keeps the cells that finished. The search probes of --request-rate max-slo stay in one task: each probe's
rate depends on the verdicts before it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mm_orch.config import Config
from mm_orch.errors import ConfigError, EngineError
from mm_orch.jobs.spec import JobSpec

log = logging.getLogger(__name__)


class RayCells:
    """submit(configs) sends every cell; run(cell_cfg) waits for that cell and writes its report (a CellRun)."""

    def __init__(self, cluster: Any, model_name: str, tests: Sequence[str], prompts: list[str] | None,
                 gpus: int | None, cell_opts: Any, console: Any = None) -> None:
        self.cluster, self.model_name, self.tests, self.prompts = cluster, model_name, list(tests), prompts
        self.gpus, self.cell_opts, self.console = gpus, cell_opts, console
        self.refs: dict[int, Any] = {}
        self.done: set[int] = set()

    def submit(self, configs: Sequence[Config]) -> None:
        from mm_orch.executors.devices import job_gpus

        capacity = self.cluster.gpu_capacity()
        where = f"the Ray cluster at {self.cluster.address}"
        specs = [JobSpec(model_name=self.model_name, tests=self.tests, config=c.model_dump(mode="json"),
                         prompts=self.prompts, gpus=job_gpus(self.gpus, c, capacity, where, field="--gpus"))
                 for c in configs]  # every cell checked before the first is sent
        for c, spec in zip(configs, specs, strict=True):
            self.refs[id(c)] = self.cluster.submit(spec)
        if self.console is not None:
            self.console.print(f"{len(specs)} sweep cell(s) submitted to Ray at {self.cluster.address} "
                               f"{self.cluster.resources()}", soft_wrap=True, highlight=False)

    def run(self, cell_cfg: Config) -> Any:
        from mm_orch.report.model import Report
        from mm_orch.run.session import finish
        from mm_orch.studies.sweep import CellRun

        ref = self.refs[id(cell_cfg)]
        while not self.cluster.wait([ref], timeout=0.5):
            pass  # short waits: Ctrl-C is heard between them
        self.done.add(id(cell_cfg))
        out = self.cluster.outcome(ref)
        if out.error is not None:
            if out.exit_code == 2:
                raise ConfigError(out.error)
            raise EngineError(cell_cfg.engine.name, f"{out.error} (on {out.node or 'a Ray node'})")
        report = Report.model_validate(out.report)
        path = finish(cell_cfg, self.cell_opts, report, None).path
        return CellRun(report, str(path))

    def cancel_rest(self) -> None:
        """Cancel the tasks not collected yet (Ctrl-C, or an error that ends the sweep)."""
        for key, ref in self.refs.items():
            if key not in self.done:
                try:
                    self.cluster.cancel(ref)
                except Exception as e:  # a task that finished meanwhile
                    log.debug("cancel: %s", e)
