"""Request and response bodies of the HTTP API; every model forbids unknown fields."""

from __future__ import annotations

import math
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from mm_orch.config import (
    EngineSettings,
    LatencySettings,
    MemorySettings,
    Targets,
    TestPrompts,
    ThroughputSettings,
)
from mm_orch.engines.base import engine_names
from mm_orch.engines.optimal_sampling.settings import OptimalSamplingSettings
from mm_orch.engines.registry import plugins
from mm_orch.io import MAX_NESTING

TestType = Literal["latency", "memory", "throughput", "load"]  # load: the server config's benchmark.load


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobStatus(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


# JSON integers are unbounded in Python; no setting needs more than this, and floats cannot hold more.
MAX_INT = 2**53


def safe_text(value: str) -> str:
    """value with lone surrogates escaped (\\ud800): safe to put in a message, a log or the job store."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _problem(value: Any, loc: str, depth: int) -> str | None:
    where = loc or "<body>"
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) > MAX_INT:
        return f"{where}: integer with {len(str(abs(value)))} digits is out of range (|n| <= 2**53)"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}: {value} is not a finite number"
    if isinstance(value, str) and safe_text(value) != value:
        return f"{where}: a lone surrogate (\\ud800-\\udfff) is not text"
    if isinstance(value, dict | list) and depth > MAX_NESTING:
        return f"{'.'.join(where.split('.')[:4])}...: nested deeper than {MAX_NESTING} levels"
    return None


def _out_of_range(body: Any) -> str | None:
    """The first thing in a raw body that no setting can hold, as 'loc: why': a huge integer, NaN or infinity,
    a string or key with a lone surrogate (not UTF-8: every later step that encodes it would fail), nesting
    deeper than MAX_NESTING (what the readers of files accept). Iterative: any depth is one answer."""
    stack: list[tuple[Any, str, int]] = [(body, "", 1)]
    while stack:
        value, loc, depth = stack.pop()
        found = _problem(value, loc, depth)
        if found:
            return found
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        children = []
        for key, item in items:
            name = safe_text(str(key))
            child = f"{loc}.{name}" if loc else name
            if isinstance(key, str) and name != key:
                return f"{child}: a lone surrogate (\\ud800-\\udfff) in a key is not text"
            children.append((item, child, depth + 1))
        stack.extend(reversed(children))  # document order
    return None


def _http_engine_settings() -> type[EngineSettings]:
    """The engine section of a request: where an engine's plug-in narrows what a request may set of its
    section (capabilities.http_settings), that model replaces the section."""
    narrowed = {name: p.capabilities.http_settings for name, p in plugins().items() if p.capabilities.http_settings}
    return create_model("HttpEngineSettings", __base__=EngineSettings, __module__=__name__, **{
        name: (model, Field(model(), description=f"{name} engine settings a request may set."))
        for name, model in narrowed.items()})


HttpEngineSettings = _http_engine_settings()
HTTP_SECTIONS = tuple(n for n in HttpEngineSettings.model_fields if n not in EngineSettings.model_fields)


class BenchmarkOverrides(Body):
    latency: LatencySettings | None = Field(None, description="benchmark.latency settings to change.")
    memory: MemorySettings | None = Field(None, description="benchmark.memory settings to change.")
    throughput: ThroughputSettings | None = Field(None, description="benchmark.throughput settings to change.")


class Overrides(Body):
    """Config sections a request may change; only the keys given are merged. No section names a file."""

    benchmark: BenchmarkOverrides | None = Field(None, description="Benchmark settings (not the report folder).")
    engine: HttpEngineSettings | None = Field(None, description="Engine settings (name, device, dtype, ...).")
    test_prompts: TestPrompts | None = Field(None, description="Prompts replacing the config's test prompts.")
    optimal_sampling: OptimalSamplingSettings | None = Field(None, description="Dual engine settings.")
    targets: dict[str, Targets] | None = Field(None, description="Per-model targets checked in the report.")

    def as_dict(self) -> dict[str, Any]:
        """Only what the request set, nested, ready for apply_overrides; a null section means "not given"."""
        data = {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}
        if data.get("benchmark"):
            data["benchmark"] = {k: v for k, v in data["benchmark"].items() if v is not None}
        for name in HTTP_SECTIONS:  # in a narrowed section, null means "the server config's value"
            section = data.get("engine", {}).get(name)
            if section is not None:
                data["engine"][name] = {k: v for k, v in section.items() if v is not None}
        return data


class BenchmarkRequest(Body):
    model_name: str = Field(
        "tiny-qwen2", min_length=1, max_length=200,
        description="A registered model alias or one from the server config's models section "
                    "(file system paths are refused over HTTP).", examples=["tiny-qwen2", "gpt2"])
    test_types: list[TestType] = Field(
        ["latency", "memory", "throughput"], min_length=1, max_length=4,
        description="Tests to run, a subset of latency, memory, throughput, load (open loop, with the server "
                    "config's benchmark.load settings).")
    engine: str | None = Field(
        None, min_length=1, max_length=50, description="Engine name; default from the config.",
        json_schema_extra={"enum": [*engine_names(), None]})
    overrides: Overrides | None = Field(
        None, description="Settings merged into the server config and validated like the YAML; bounded by "
                          "the server config's api caps.",
        examples=[{"benchmark": {"latency": {"test_runs": 1, "warmup_runs": 0}}}])
    gpus: int | None = Field(
        None, ge=0, le=1024, description="GPUs the job holds (pinned through CUDA_VISIBLE_DEVICES); default: "
                                         "none on CPU, vLLM's tensor x pipeline parallel size, else one.")

    @model_validator(mode="before")
    @classmethod
    def _numbers_in_range(cls, data: Any) -> Any:
        problem = _out_of_range(data)
        if problem:
            raise ValueError(problem)
        return data

    @field_validator("test_types")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class JobCreated(Body):
    job_id: str = Field(description="Id of the new job; poll GET /api/benchmark/{job_id}.")
    status: JobStatus = Field(description="Always 'queued' on creation.")


class JobProgress(Body):
    phase: str | None = Field(None, description="What the job is doing now (loading, latency, ...).")
    completed: int = Field(0, description="Steps done in the current phase.")
    total: int | None = Field(None, description="Steps in the current phase; null when open-ended.")
    updated_at: datetime | None = Field(None, description="When the worker last reported progress (UTC).")


class JobSummary(Body):
    job_id: str = Field(description="Job id.")
    status: JobStatus = Field(description="queued, running, succeeded, failed or cancelled.")
    model_name: str = Field(description="Model the job benchmarks.")
    engine: str = Field(description="Engine the job runs on.")
    test_types: list[str] = Field(description="Tests the job runs.")
    created_at: datetime = Field(description="When the job was accepted (UTC).")
    started_at: datetime | None = Field(None, description="When the job started running (UTC).")
    finished_at: datetime | None = Field(None, description="When the job reached a final state (UTC).")
    error: str | None = Field(None, description="Why the job failed or was cancelled.")
    gpus: int = Field(0, description="GPUs the job holds while it runs.")
    devices: list[str] | None = Field(None, description="CUDA ids the job was pinned to (local executor).")


class JobView(JobSummary):
    progress: JobProgress | None = Field(None, description="Latest progress reported by the worker.")
    result: dict[str, Any] | None = Field(None, description="The benchmark report (same as the CLI's JSON) "
                                                            "once the job succeeded.")


class JobPage(Body):
    items: list[JobSummary] = Field(description="Jobs, newest first.")
    total: int = Field(description="Jobs matching the filter.")
    limit: int = Field(description="Page size used.")
    offset: int = Field(description="Jobs skipped before this page.")


class Health(Body):
    status: Literal["ok"] = Field("ok", description="Always 'ok' while the server answers.")
    version: str = Field(description="mm_orch version.")
    queued: int = Field(description="Jobs waiting to run.")
    running: int = Field(description="Jobs running (at most slots).")
    slots: int = Field(description="Jobs that can run at once (api.slots).")


class ErrorBody(Body):
    detail: str = Field(description="One line naming what was wrong.")
    errors: list[dict[str, Any]] | None = Field(None, description="Field errors (loc, msg), for 422.")
