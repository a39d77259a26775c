"""The Engine contract and the engine registry.

Engines know nothing of benchmarks: they load a model, generate, report raw per-token host timestamps
from one monotonic clock (time.perf_counter_ns) and memory snapshots. Metrics are derived elsewhere.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mm_orch.errors import ConfigError, EngineError
from mm_orch.monitor.snapshot import MemorySnapshot  # noqa: F401  - engines return it; it lives in monitor/

now_ns = time.perf_counter_ns  # the one clock every engine and benchmark uses


@dataclass(slots=True)
class GenerationRequest:
    """One request. Give either prompt (text) or prompt_token_ids (exact-length synthetic prompts)."""

    prompt: str | None = None
    prompt_token_ids: list[int] | None = None
    max_new_tokens: int = 64
    ignore_eos: bool = True  # fixed output length unless a workload says otherwise
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    num_beams: int = 1  # beam search (hf only); > 1 means no per-token streaming

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.prompt_token_ids is None):
            raise ConfigError("a request needs exactly one of prompt or prompt_token_ids")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


def batch_settings(requests: list[GenerationRequest]) -> GenerationRequest:
    """The batch's first request, once every request is checked to share its length and sampling settings."""

    def key(r: GenerationRequest) -> tuple:
        return r.max_new_tokens, r.ignore_eos, r.temperature, r.top_p, r.top_k, r.num_beams

    first = requests[0]
    if any(key(r) != key(first) for r in requests):
        raise ConfigError("a batch must share max_new_tokens, ignore_eos and sampling settings")
    return first


@dataclass(slots=True)
class RequestRecord:
    """Raw outcome of one request: timestamps (perf_counter_ns) and token counts. A failure is data."""

    start_ns: int
    end_ns: int = 0
    token_times_ns: list[int] = field(default_factory=list)  # arrival of each output token
    input_tokens: int = 0
    output_tokens: int = 0
    output_token_ids: list[int] = field(default_factory=list)
    text: str | None = None
    success: bool = True
    error: str | None = None
    # True when tokens arrive in chunks (e.g. a whole batch at once): per-token times are then shared.
    batched: bool = False


def fail_records(records: list[RequestRecord], e: BaseException) -> list[RequestRecord]:
    """Mark each record failed with the exception's first line (a failed request is data, not a crash)."""
    msg = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    for rec in records:
        rec.success, rec.error, rec.end_ns = False, msg, now_ns()
    return records


@dataclass(frozen=True, slots=True)
class CommonSettings:
    """The settings of the config's engine section that every engine reads; an engine is built from these,
    its own settings model (engine.<name>) and the user's models."""

    device: str = "auto"  # auto, cpu, cuda
    dtype: str = "auto"
    load_format: str = "auto"  # auto: real weights; dummy: random
    seed: int = 0

    @classmethod
    def of(cls, engine: Any) -> CommonSettings:
        """From a validated config.EngineSettings."""
        return cls(engine.device, engine.dtype, engine.load_format, engine.seed)


@dataclass(slots=True)
class ModelInfo:
    """What benchmarks may know of the loaded model (for KV-cache size and reports)."""

    name: str
    path: str | None
    num_layers: int | None
    num_kv_heads: int | None
    head_dim: int | None
    dtype: str
    dtype_bytes: int
    device: str
    load_format: str
    num_parameters: int | None = None
    vocab_size: int | None = None
    load_seconds: float | None = None
    weights_bytes: int | None = None  # parameters as stored (quantized weights are smaller than count x dtype)
    max_context: int | None = None  # most tokens (prompt + output) one sequence may hold
    kv_bytes_per_token: int | None = None  # set where the layout formula falls short (two models' caches)
    extra: dict[str, Any] = field(default_factory=dict)


TokenCallback = Callable[[int, int], None]  # (token_id, arrival_ns)


class Engine(ABC):
    """Load once, then generate batches or stream single requests; close() frees everything."""

    name: ClassVar[str] = "base"
    supports_concurrency: ClassVar[bool] = False  # True when concurrent stream() calls truly overlap

    @classmethod
    def from_config(cls, model_name: str, cfg: Any) -> Engine:
        """Build from a validated mm_orch.config.Config: the common engine settings, the engine's own section
        (engine.<name>) and the models section, for an engine taking (model_name, common, settings, user_models);
        an engine built otherwise says how in its own from_config."""
        return cls(model_name, CommonSettings.of(cfg.engine), cfg.engine.section(cls.name),
                   user_models=dict(cfg.models))

    def prepare(self) -> None:
        """Fetch or build the model folder and import the engine's libraries, allocating no weights.

        Optional before load(): a caller that reads memory around load() then sees the model's own
        memory, not the one-off cost of importing Transformers or vLLM (for a tiny model ten times larger).
        """
        return None

    @abstractmethod
    def load(self) -> ModelInfo: ...

    @abstractmethod
    def generate(self, requests: list[GenerationRequest]) -> list[RequestRecord]:
        """Run the requests as one batch; returns one record per request, in order."""

    @abstractmethod
    def stream(self, request: GenerationRequest, on_token: TokenCallback | None = None) -> RequestRecord:
        """Run one request, timestamping each output token as it reaches the host."""

    @abstractmethod
    def memory_snapshot(self) -> MemorySnapshot: ...

    def reset_peak_memory(self) -> None:
        """Start a new peak-memory window (no-op where the engine cannot)."""
        return None

    def stats(self) -> dict[str, Any]:
        """Engine-specific counters gathered over the run (e.g. prefix-cache hits); copied into the report."""
        return {}

    def scheduler_stats(self) -> dict[str, Any] | None:
        """The engine's own scheduler now, where it has one and reading it costs microseconds: {"running",
        "waiting" (requests), "kv_cache_usage" (0-1, or None), "source" (a phrase)}; None where it has none.
        Optional; called from a sampling thread while requests run."""
        return None

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of a text, without special tokens."""

    @abstractmethod
    def vocab_token_ids(self) -> list[int]:
        """Ids of ordinary (non-special) tokens, for synthetic prompts of exact length."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def require_loaded(engine: Engine, obj: Any) -> Any:
    """obj, the engine's loaded model or runtime; a clear error when load() has not run."""
    if obj is None:
        raise EngineError(engine.name, "load() was not called")
    return obj


def engine_names() -> list[str]:
    from mm_orch.engines.registry import plugins

    return list(plugins())


def engine_class(name: str) -> type[Engine]:
    from mm_orch.engines.registry import plugin

    return plugin(name).engine_class()


def create_engine(name: str, **options: Any) -> Engine:
    """Instantiate a registered engine; options are the engine's own keyword arguments."""
    return engine_class(name)(**options)
