"""The endpoints: a thin layer over the job store, the scheduler and run_benchmark's report files."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from mm_orch import __version__
from mm_orch.api.scheduler import Scheduler
from mm_orch.api.schemas import (
    BenchmarkRequest,
    ErrorBody,
    Health,
    JobCreated,
    JobPage,
    JobProgress,
    JobStatus,
    JobSummary,
    JobView,
)
from mm_orch.api.submission import build_job_config
from mm_orch.config import Config
from mm_orch.errors import ConfigError
from mm_orch.jobs.store import JobRow, JobStore, QueueFull

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Service:
    config: Config
    store: JobStore
    scheduler: Scheduler


def service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(service)]


def _errors(*codes: int) -> dict[int | str, dict]:
    return {code: {"model": ErrorBody} for code in codes}


public = APIRouter(prefix="/api", tags=["health"])
# create_app() adds require_token to these when the server has a token (and only then does /docs show it)
jobs = APIRouter(prefix="/api", tags=["benchmarks"], responses=_errors(413, 422))


def _summary_fields(row: JobRow) -> dict:
    return {"job_id": row.id, "status": row.status, "model_name": row.model_name, "engine": row.engine,
            "test_types": row.test_types, "created_at": row.created_at, "started_at": row.started_at,
            "finished_at": row.finished_at, "error": row.error, "gpus": row.gpus, "devices": row.devices}


def _result(row: JobRow) -> dict | None:
    if row.status != JobStatus.succeeded or not row.result_path:
        return None
    try:
        return json.loads(Path(row.result_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        log.error("job %s: cannot read report %s: %s", row.id, row.result_path, e)
        return None


def _view(row: JobRow) -> JobView:
    progress = JobProgress.model_validate(row.progress) if row.progress else None
    return JobView(**_summary_fields(row), progress=progress, result=_result(row))


def _get(svc: Service, job_id: str) -> JobRow:
    row = svc.store.get(job_id)
    if row is None:
        raise HTTPException(404, f"no job with id '{job_id}'")
    return row


@jobs.post("/benchmark", status_code=202, response_model=JobCreated, responses=_errors(400, 429),
           summary="Queue a benchmark job")
def submit(req: BenchmarkRequest, svc: ServiceDep) -> JobCreated:
    try:
        cfg = build_job_config(req, svc.config)
        gpus = svc.scheduler.job_gpus(req.gpus, cfg)
    except ConfigError as e:
        raise HTTPException(422, str(e)) from None
    try:
        job_id = svc.store.submit(req.model_name, cfg.engine.name, req.test_types, cfg.model_dump(mode="json"),
                                  svc.config.api.max_queue, gpus)
    except QueueFull as e:
        raise HTTPException(429, str(e), headers={"Retry-After": "30"}) from None
    svc.scheduler.notify()
    log.info("job %s queued: %s on %s, %s", job_id, req.model_name, cfg.engine.name, ",".join(req.test_types))
    return JobCreated(job_id=job_id, status=JobStatus.queued)


@jobs.get("/benchmark/{job_id}", response_model=JobView, responses=_errors(404), summary="A job, with its report")
def get_job(job_id: str, svc: ServiceDep) -> JobView:
    return _view(_get(svc, job_id))


@jobs.delete("/benchmark/{job_id}", response_model=JobView, responses=_errors(404, 409),
             summary="Cancel a queued or running job")
def cancel_job(job_id: str, svc: ServiceDep) -> JobView:
    row = _get(svc, job_id)
    if not svc.scheduler.cancel(job_id):
        row = _get(svc, job_id)
        raise HTTPException(409, f"job '{job_id}' already {row.status}; only queued or running jobs can be cancelled")
    return _view(_get(svc, job_id))


@jobs.get("/benchmarks", response_model=JobPage, summary="Jobs, newest first (paginated)")
def list_jobs(svc: ServiceDep,
              limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
              offset: Annotated[int, Query(ge=0, le=10**9, description="Jobs to skip.")] = 0,
              status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None) -> JobPage:
    rows, total = svc.store.page(limit, offset, status.value if status else None)
    return JobPage(items=[JobSummary(**_summary_fields(r)) for r in rows], total=total, limit=limit, offset=offset)


@public.get("/health", response_model=Health, summary="Liveness and queue depth (no token needed)")
def health(svc: ServiceDep) -> Health:
    counts = svc.store.counts()
    return Health(version=__version__, queued=counts.get("queued", 0), running=counts.get("running", 0),
                  slots=svc.scheduler.slots)
