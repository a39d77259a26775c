"""benchmark.telemetry: what is watched beside the client's measurements (server metrics, GPU telemetry).

Nothing is scraped or sampled unless the engine or a setting asks: server_metrics and gpu_telemetry left at None
mean "auto" (server metrics when the engine talks to a server whose /metrics answers; GPU telemetry when the engine
runs on CUDA); true forces them on, false off.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from mm_orch.settings.strict import Strict


class TelemetrySettings(Strict):
    server_metrics: bool | None = Field(None, description="Scrape the server's Prometheus /metrics through the run: "
                                        "None = auto (on when the engine's server answers it), true, false.")
    server_metrics_url: str | None = Field(None, max_length=500, description="The /metrics URL; None = the engine's "
                                           "(the openai engine: its base URL's /metrics).")
    server_metrics_interval_s: float = Field(1.0, ge=0.05, le=3600, description="Seconds between scrapes (phase "
                                             "boundaries get a scrape of their own).")
    server_metrics_series: list[str] = Field([], max_length=100, description="More Prometheus family names to keep "
                                             "besides the known vLLM / SGLang / TGI series.")
    gpu_telemetry: bool | None = Field(None, description="Sample the GPUs through NVML (power, utilization, memory, "
                                       "SM clock, temperature, energy): None = auto (on when the engine runs on "
                                       "CUDA), true, false.")
    gpu_telemetry_hz: float = Field(20.0, ge=1, le=100, description="GPU samples per second.")

    @field_validator("server_metrics_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s):// URL, got {v!r}")
        return v
