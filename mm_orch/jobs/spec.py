"""JobSpec: one benchmark job as data (what crosses to a Ray worker), and run_job_spec(), the work itself."""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str = Field(description="Model alias (or, from the CLI, a local folder).")
    tests: list[str] = Field(description="latency, memory, throughput.")
    config: dict[str, Any] = Field(description="The job's effective config (Config.model_dump(mode='json')).")
    prompts: list[str] | None = Field(None, description="Prompts replacing the config's test prompts.")
    gpus: int = Field(0, ge=0, description="GPUs the job holds (Ray: num_gpus).")

    @property
    def engine(self) -> str:
        return str(self.config.get("engine", {}).get("name", "?"))

    @property
    def label(self) -> str:
        return f"{self.model_name} on {self.engine}"


class JobOutcome(BaseModel):
    """What a remote job sends back: a report, or the error that a local run would have raised."""

    model_config = ConfigDict(extra="forbid")

    report: dict[str, Any] | None = None
    error: str | None = None
    exit_code: int = 0
    node: str | None = Field(None, description="Host that ran the job.")


def run_job_spec(spec: JobSpec) -> JobOutcome:
    """Run one job in this process; project errors come back as data, with their exit code."""
    import socket

    from mm_orch.benchmark.progress import NullProgress
    from mm_orch.benchmark.reporter import report_json
    from mm_orch.config import Config
    from mm_orch.errors import MmOrchError
    from mm_orch.run.session import SessionOptions, measure

    node = socket.gethostname()
    try:  # measured and checked against targets here; the caller writes it (session.finish)
        opts = SessionOptions(model_name=spec.model_name, tests=spec.tests, prompts=spec.prompts)
        report = measure(Config.model_validate(spec.config), opts, NullProgress())
    except MmOrchError as e:
        log.error("job %s failed: %s", spec.label, e)
        return JobOutcome(error=str(e), exit_code=e.exit_code, node=node)
    # as the JSON report file holds it, so it crosses to the caller intact and is read back through the model
    return JobOutcome(report=json.loads(report_json(report)), node=node)
