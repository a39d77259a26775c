"""The job service's Ray executor: a queued job becomes a Ray task; its report comes back to this server.

The server writes the report under its data dir and moves the job to succeeded (or failed with the
task's error), exactly as a local worker does; the SQLite store never leaves this machine.
"""

from __future__ import annotations

import logging
from typing import Any

from mm_orch.executors.ray_cluster import RayCluster
from mm_orch.jobs.spec import JobSpec
from mm_orch.jobs.store import JobRow, JobStore, report_path

log = logging.getLogger(__name__)


class RayRun:
    """One job's task."""

    pid = None

    def __init__(self, cluster: RayCluster, ref: Any, store: JobStore, row: JobRow):
        self.cluster, self.ref, self.store, self.row = cluster, ref, store, row

    def wait(self, timeout: float) -> bool:
        return bool(self.cluster.wait([self.ref], timeout))

    def kill(self) -> None:
        self.cluster.cancel(self.ref)

    def outcome(self) -> str | None:
        """Write the report and finish the job; else the reason it failed."""
        from mm_orch.config import Config
        from mm_orch.report.model import Report
        from mm_orch.run.session import SessionOptions, finish

        out = self.cluster.outcome(self.ref)
        if out.error is not None or out.report is None:
            return out.error or "the Ray task returned no report"
        path = report_path(self.store.data_dir, self.row.id)
        report = Report.model_validate(out.report)
        opts = SessionOptions(model_name=report.model_name, report_path=path)  # its Markdown and plots beside it
        finish(Config.model_validate(self.row.config), opts, report, None)
        if self.store.finish(self.row.id, "succeeded", result_path=str(path)):
            log.info("job %s: report from Ray node %s", self.row.id, out.node)
        return None


class RayExecutor:
    name = "ray"

    def __init__(self, store: JobStore, cluster: RayCluster):
        self.store, self.cluster = store, cluster

    def gpu_ids(self) -> None:
        """Ray places GPUs itself: no pool here."""
        return None

    def capacity(self) -> int:
        return self.cluster.gpu_capacity()

    def default_slots(self) -> int:
        return self.cluster.default_slots()

    def start(self, row: JobRow, devices: list[str]) -> RayRun:
        spec = JobSpec(model_name=row.model_name, tests=row.test_types, config=row.config, gpus=row.gpus or 0)
        return RayRun(self.cluster, self.cluster.submit(spec), self.store, row)

    def close(self) -> None:
        self.cluster.close()
