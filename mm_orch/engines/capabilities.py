"""What an engine can do: the questions the rest of mm_orch asks an engine's plug-in instead of its name.

Each engine package registers a Capabilities (a subclass where it differs from these defaults) with its
plug-in: register_engine(..., capabilities=VLLMCapabilities()). The defaults fit an in-process engine on
one device, so a plug-in that says nothing (tests/engines/tick_engine.py) gets them. The answers come from
the engine's own settings (engine.<name>) and the common engine settings, never from a loaded engine,
except load_mode, which the open-loop test asks of the engine it was handed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

LoadMode = Literal["async_http", "threads", "serialized"]


class Capabilities:
    remote: bool = False  # the model is served elsewhere: no local weights, memory or GPU; any served name
    beam_search: bool = False  # benchmark.generation.num_beams > 1 runs on it
    library_version: str | None = None  # system_info field of the engine's own library (e.g. vllm_version): the
    # gate refuses two reports that differ in it only when one of them ran this engine
    model_fields: tuple[str, ...] = ()  # settings naming a model folder: over HTTP a registered alias only
    http_settings: type[BaseModel] | None = None  # the part of engine.<name> a job sent over HTTP may set;
    # None = the whole section

    def gpus(self, settings: Any, device: str) -> int:
        """GPUs one run needs on a machine that has some; device is engine.device (auto, cpu, cuda)."""
        return 0 if self.remote or device == "cpu" else 1

    def context_limits(self, settings: Any, context_of: Callable[[str], int | None]) -> list[int | None]:
        """Limits on a sequence's length besides the benchmarked model's own context (None: not known);
        context_of(model) reads the context of another registered model without loading it."""
        return []

    def load_mode(self, engine: Any) -> LoadMode:
        """How the open-loop test drives the engine: over HTTP from an event loop, on threads, or one by one."""
        return "threads" if engine.supports_concurrency else "serialized"

    def outbound_urls(self, settings: Any) -> dict[str, str]:
        """The URLs a run sends requests to, by setting name (the API allows only api.allowed_base_urls)."""
        return {}

    def metrics_url(self, settings: Any) -> str | None:
        """The Prometheus /metrics of the server this engine sends requests to (--server-metrics' default);
        None for an in-process engine."""
        return None

    def validate(self, settings: Any, running: str) -> None:
        """Checks of this engine's section, asked of every registered engine whichever runs (running names
        the engine that does); a ValueError carries the message."""
        return None
