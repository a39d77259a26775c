"""A request body -> the effective config of a job, or a ConfigError naming the culprit.

The request schema admits only config sections that never name a file (no models, no report folder);
the merged config is validated like the YAML (apply_overrides) and bounded by the config's api caps.
Model names must be registered aliases.
"""

from __future__ import annotations

from mm_orch.api.schemas import BenchmarkRequest
from mm_orch.config import ApiSettings, Config, apply_overrides
from mm_orch.engines.base import engine_names
from mm_orch.engines.registry import capabilities, plugins
from mm_orch.errors import ConfigError, ModelNotFoundError
from mm_orch.models.registry import BUILTIN
from mm_orch.run.preflight import check_before_load


def check_model(name: str, cfg: Config, field: str) -> None:
    """Only registered aliases: a path in a request body must never reach the file system."""
    if name in BUILTIN or name in cfg.models:
        return
    known = ", ".join(sorted({*BUILTIN, *cfg.models}))
    raise ModelNotFoundError(f"{field}: unknown model '{name}': the API accepts registered aliases and the "
                             f"server config's models section ({known}), never file system paths")


def _num(value: float) -> str:
    """A number for a message; never float() an int (a huge one overflows)."""
    if isinstance(value, int):
        digits = str(value)
        return digits if len(digits) <= 20 else f"an integer of {len(digits)} digits"
    return f"{value:g}"


def _cap(field: str, value: float, cap: float, cap_name: str) -> None:
    if value > cap:
        raise ConfigError(f"{field}: {_num(value)} exceeds the server's cap api.{cap_name}={_num(cap)}")


def check_engine_reach(cfg: Config, base: Config, overrides: dict) -> None:
    """What a job's engine may reach: a model named in its settings only by a registered alias, and servers
    (a remote engine sends requests and the server's API key there) only at URLs the operator allowed."""
    engine = overrides.get("engine") or {}
    for name, found in plugins().items():
        for field in found.capabilities.model_fields:
            value = (engine.get(name) or {}).get(field)
            if value is not None:  # a folder path here would reach the file system
                check_model(value, base, f"overrides.engine.{name}.{field}")
    name = cfg.engine.name
    urls = capabilities(name).outbound_urls(cfg.engine.section(name))
    if not urls:
        return
    allowed = base.api.allowed_base_urls
    if not allowed:
        raise ConfigError(f"engine: the {name} engine is off over HTTP: the server config's api.allowed_base_urls "
                          "is empty (an operator lists the OpenAI-compatible servers jobs may call)")
    for field, url in urls.items():
        if url not in allowed:
            raise ConfigError(f"overrides.engine.{name}.{field}: '{url}' is not in the server config's "
                              f"api.allowed_base_urls ({', '.join(allowed)})")


def check_seed(cfg: Config) -> None:
    if not 0 <= cfg.engine.seed < 2**32:  # numpy and torch both take it; a negative seed fails in numpy
        raise ConfigError(f"overrides.engine.seed: {_num(cfg.engine.seed)} is out of range (0 to 2**32-1)")


def check_caps(cfg: Config, caps: ApiSettings) -> None:
    lat, mem, thr = cfg.benchmark.latency, cfg.benchmark.memory, cfg.benchmark.throughput
    out, runs = caps.max_output_length, caps.max_test_runs
    for field, value, cap, name in (
        ("latency.output_length", lat.output_length, out, "max_output_length"),
        ("latency.output_lengths", max(lat.output_lengths, default=0), out, "max_output_length"),
        ("memory.output_length", mem.output_length, out, "max_output_length"),
        ("throughput.tokens_per_request", thr.tokens_per_request, out, "max_output_length"),
        ("latency.input_lengths", max(lat.input_lengths, default=0), caps.max_input_length, "max_input_length"),
        ("latency.test_runs", lat.test_runs, runs, "max_test_runs"),
        ("latency.warmup_runs", lat.warmup_runs, runs, "max_test_runs"),
        ("throughput.min_requests", thr.min_requests, runs, "max_test_runs"),
        ("throughput.duration_seconds", thr.duration_seconds, caps.max_duration_seconds, "max_duration_seconds"),
        ("throughput.concurrent_requests", max(thr.concurrent_requests), caps.max_concurrency, "max_concurrency"),
        ("throughput.batch_sizes", max(thr.batch_sizes), caps.max_concurrency, "max_concurrency"),
    ):
        _cap(f"overrides.benchmark.{field}", value, cap, name)
    for field, items in (("latency.input_lengths", lat.input_lengths), ("latency.output_lengths", lat.output_lengths),
                         ("throughput.concurrent_requests", thr.concurrent_requests),
                         ("throughput.batch_sizes", thr.batch_sizes)):
        _cap(f"overrides.benchmark.{field} (length)", len(items), caps.max_list_length, "max_list_length")
    prompts = cfg.test_prompts.all()
    _cap("overrides.test_prompts (count)", len(prompts), caps.max_prompts, "max_prompts")
    _cap("overrides.test_prompts (characters of one prompt)", max(map(len, prompts), default=0),
         caps.max_prompt_chars, "max_prompt_chars")


def build_job_config(req: BenchmarkRequest, base: Config) -> Config:
    """The config the job will run with; raises ConfigError / ModelNotFoundError naming the bad field."""
    check_model(req.model_name, base, "model_name")
    overrides = req.overrides.as_dict() if req.overrides else {}
    if req.engine is not None:
        if req.engine not in engine_names():
            raise ConfigError(f"engine: unknown engine '{req.engine}' (choose from {', '.join(engine_names())})")
        engine = overrides.get("engine")
        overrides["engine"] = {**(engine if isinstance(engine, dict) else {}), "name": req.engine}
    cfg = apply_overrides(base, overrides, source="overrides")
    if cfg.engine.name not in engine_names():
        raise ConfigError(f"overrides.engine.name: unknown engine '{cfg.engine.name}' "
                          f"(choose from {', '.join(engine_names())})")
    check_model(cfg.optimal_sampling.theta_model, base, "overrides.optimal_sampling.theta_model")
    check_engine_reach(cfg, base, overrides)
    check_seed(cfg)
    check_caps(cfg, base.api)
    if not cfg.test_prompts.all():
        raise ConfigError("overrides.test_prompts: no prompts left (short, medium and long are all empty)")
    check_before_load(cfg, req.model_name, req.test_types)
    return cfg
