"""The report, schema 2: pydantic models written to JSON and read back through themselves.

The MuAI guide's flat keys (latency.ttft_ms, throughput.concurrent_4_rps, memory.peak_gb, ...) are written
from the typed fields (computed fields, the throughput serializer) and dropped again when a report is read:
the typed fields are the only truth.

Adding a section (load, sweep, accuracy, context_length, ...): define its model in its own module of report/
(extra keys are errors, every field has a description), add it to Report as an optional field
`name: NewSection | None = None`, list its metrics in a catalogue/<part>.py and add that list to catalogue/__init__.py.
Old reports without the section stay valid.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field, model_serializer, model_validator

from mm_orch.config import BenchmarkSettings, Targets
from mm_orch.monitor.system_info import SystemInfo
from mm_orch.report.gate_results import BaselineResult
from mm_orch.report.goodput import GoodputResult
from mm_orch.report.load import LoadResult
from mm_orch.report.max_rate import MaxRateAtSloResult
from mm_orch.report.metrics import Distribution, Histogram, MetricsSummary
from mm_orch.report.samples import SamplesSection
from mm_orch.report.saturation import SaturationResult
from mm_orch.report.studies import AccuracyResult, ContextLengthResult, WorkloadResult
from mm_orch.report.telemetry import GpuTelemetrySection, RunTimeline, ServerMetricsSection
from mm_orch.report.validation import ValidationResult
from mm_orch.settings.studies import StudySettings

SCHEMA_VERSION = 2


class Section(BaseModel):
    """A report part: unknown keys are errors; computed (derived) keys are written, never read back."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_derived(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.model_computed_fields:
            data = {k: v for k, v in data.items() if k not in cls.model_computed_fields}
        return data


def _mean(d: Distribution | None) -> float | None:
    return d.mean if d is not None else None


class LatencyDistributions(Section):
    ttft_ms: Distribution | None = Field(None, description="Time to first token, ms.")
    tpot_ms: Distribution | None = Field(None, description="Time per output token after the first, ms.")
    e2e_latency_ms: Distribution | None = Field(None, description="Request start to last token, ms.")
    itl_ms: Distribution | None = Field(None, description="Inter-token latency (every gap), ms.")
    request_tokens_per_second: Distribution | None = Field(
        None, description="Per request: output tokens / its own E2E latency.")


class LatencyRun(Section):
    """One latency scenario: the same prompts, one request at a time, test_runs times."""

    name: str = Field(description="Scenario name: 'test_prompts' or in<input>_out<output>.")
    input_length: int | None = Field(None, description="Synthetic prompt length in tokens; null for text prompts.")
    output_length: int = Field(description="Output tokens asked for.")
    input_tokens_mean: float | None = Field(None, description="Mean prompt tokens of the completed requests.")
    fixed_output_length: bool = Field(True, description="EOS ignored: every request produced output_length tokens.")
    warmup_runs: int = Field(0, description="Uncounted runs before measuring.")
    test_runs: int = Field(1, description="Measured runs of each prompt.")
    completed: int = Field(description="Requests that succeeded.")
    failed: int = Field(0, description="Requests that failed.")
    errors: list[str] = Field([], description="Distinct error messages, at most 5.")
    wall_time_s: float | None = Field(None, description="Wall time of the measured runs, seconds.")
    chunked_token_arrival: bool = Field(False, description="Tokens arrived in chunks, so ITL is per step.")
    distributions: LatencyDistributions = Field(description="Per-request distributions.")
    itl_histogram: Histogram | None = Field(None, description="ITL counts in 30 log-spaced bins (ms edges).")

    @computed_field(description="Mean TTFT, ms (derived from distributions).")
    @property
    def ttft_ms(self) -> float | None:
        return _mean(self.distributions.ttft_ms)

    @computed_field(description="Mean TPOT, ms (derived).")
    @property
    def tpot_ms(self) -> float | None:
        return _mean(self.distributions.tpot_ms)

    @computed_field(description="Mean E2E latency, ms (derived).")
    @property
    def e2e_latency_ms(self) -> float | None:
        return _mean(self.distributions.e2e_latency_ms)

    @computed_field(description="Mean over requests of output tokens / own E2E (derived); not the "
                    "single-stream throughput (throughput.single_request_tps).")
    @property
    def tokens_per_second(self) -> float | None:
        return _mean(self.distributions.request_tokens_per_second)


class LatencySection(LatencyRun):
    """The headline scenario (the test prompts, at latency.*) and the synthetic length grid."""

    scenarios: list[LatencyRun] = Field([], description="The input_lengths x output_lengths grid.")


class MemoryFigure(Section):
    """One memory figure: a value with its source, or null with the reason."""

    value_gb: float | None = Field(description="GiB (2**30 bytes); null when not measured.")
    source: str | None = Field(None, description="Where the number comes from (psutil RSS, torch allocator, "
                               "NVML, model config).")
    reason: str | None = Field(None, description="Why value_gb is null.")

    @model_validator(mode="after")
    def _explained(self) -> MemoryFigure:
        if self.value_gb is None and not self.reason:
            raise ValueError("a null memory figure needs a reason")
        return self


class LoadMemory(Section):
    memory_gb: float | None = Field(description="Growth caused by loading, GiB; null when sources differ.")
    before_gb: float = Field(description="Reading before load(), GiB.")
    after_gb: float = Field(description="Reading after load(), GiB.")
    source: str = Field(description="Source of before/after.")
    load_seconds: float | None = Field(None, description="Wall time of load(), seconds.")
    weights_gb: float | None = Field(None, description="Parameter bytes of the model, GiB.")
    libraries_gb: float | None = Field(None, description="Growth from importing the engine's libraries, GiB.")
    note: str | None = Field(None, description="Why memory_gb is null, if it is.")


class InferenceMemory(Section):
    memory_delta_gb: float = Field(description="Peak during the request minus the reading before, GiB.")
    peak_memory_gb: float | None = Field(description="Peak during the request, GiB; null when measure_peak is off.")
    before_gb: float = Field(description="Reading before the request, GiB.")
    after_gb: float = Field(description="Reading after the request, GiB.")
    source: str = Field(description="Source of the readings.")
    input_tokens: int = Field(description="Prompt tokens of the measured request.")
    output_tokens: int = Field(description="Output tokens of the measured request.")
    kv_cache_gb: float | None = Field(None, description="KV cache of the request from the model config, GiB.")
    notes: list[str] = Field([], description="Sampling and source notes.")


class MemorySection(Section):
    model_load: MemoryFigure = Field(description="Growth across loading the model.")
    inference_delta: MemoryFigure = Field(description="Peak during one request minus the reading before.")
    peak: MemoryFigure = Field(description="Peak during one request.")
    kv_cache: MemoryFigure = Field(description="2 x layers x kv_heads x head_dim x dtype bytes x tokens.")
    run_peak: MemoryFigure | None = Field(None, description="CUDA: allocator peak over the whole run.")
    nvml_process: MemoryFigure | None = Field(None, description="CUDA: NVML's figure for this process.")
    load: LoadMemory | None = Field(None, description="Details of the load measurement.")
    inference: InferenceMemory | None = Field(None, description="Details of the inference measurement.")

    @computed_field(description="MuAI key: model_load.value_gb.")
    @property
    def model_load_gb(self) -> float | None:
        return self.model_load.value_gb

    @computed_field(description="MuAI key: inference_delta.value_gb.")
    @property
    def inference_delta_gb(self) -> float | None:
        return self.inference_delta.value_gb

    @computed_field(description="MuAI key: peak.value_gb.")
    @property
    def peak_gb(self) -> float | None:
        return self.peak.value_gb

    @computed_field(description="MuAI key: kv_cache.value_gb.")
    @property
    def kv_cache_gb(self) -> float | None:
        return self.kv_cache.value_gb


ThroughputMode = Literal["single", "concurrent", "batch"]


class ThroughputPoint(Section):
    """One throughput phase: a mode at a level (concurrency or batch size), run for duration_seconds."""

    mode: ThroughputMode = Field(description="single: one request at a time; concurrent: closed-loop clients; "
                                 "batch: generate() on a batch.")
    level: int = Field(ge=1, description="Concurrency (clients) or batch size; 1 for single.")
    requests_per_second: float | None = Field(description="Completed requests / wall time.")
    output_tokens_per_second: float | None = Field(description="Output tokens / wall time.")
    total_tokens_per_second: float | None = Field(description="(Input + output tokens) / wall time.")
    batch_efficiency: float | None = Field(None, description="batch: tokens/s at N / (N x tokens/s at batch 1).")
    serialized: bool = Field(False, description="The engine ran the clients' requests one at a time.")
    source: Literal["latency"] | None = Field(
        None, description="Set when the phase was not run for itself: 'latency' = the single-request figures "
        "are the latency test's headline requests (the same prompts, output length and sampling, one at a "
        "time), not measured a second time.")
    tokens_per_request: int = Field(description="Output tokens of each request.")
    metrics: MetricsSummary = Field(description="Every metric of the phase's requests.")
    goodput: GoodputResult | None = Field(None, description="Requests of the phase that met every SLO "
                                          "(studies.slo / --slo); null when no SLO was given.")


class ThroughputSection(Section):
    """Typed points; the MuAI flat keys (single_request_tps, concurrent_4_rps, batch_8_tps, ...) are
    written from them by the serializer and dropped on reading."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"patternProperties": {
        r"^(single_request_(tps|rps)|concurrent_[0-9]+_(rps|tps|serialized)|batch_[0-9]+_(tps|total_tps|efficiency))$":
            {"type": ["number", "boolean", "null"], "description": "MuAI guide key, written from the points; "
                                                                  "ignored when a report is read"}}})
    points: list[ThroughputPoint] = Field(description="One point per measured phase.")
    tokens_per_request: int = Field(description="Output tokens of each request.")

    @model_validator(mode="before")
    @classmethod
    def _drop_guide_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("points"), list):
            points = [ThroughputPoint.model_validate(p) for p in data["points"]]
            derived = guide_keys(points)
            data = {k: v for k, v in data.items() if k not in derived}
        return data

    @model_serializer(mode="wrap")
    def _with_guide_keys(self, handler: Any):  # no return annotation: the JSON schema stays the model's
        return guide_keys(self.points) | handler(self)


def guide_keys(points: list[ThroughputPoint]) -> dict[str, Any]:
    """The MuAI guide's flat throughput keys, written from the typed points (never parsed back)."""
    out: dict[str, Any] = {}
    for p in points:
        if p.mode == "single":
            out |= {"single_request_tps": p.output_tokens_per_second, "single_request_rps": p.requests_per_second}
        elif p.mode == "concurrent":
            out |= {f"concurrent_{p.level}_rps": p.requests_per_second,
                    f"concurrent_{p.level}_tps": p.output_tokens_per_second}
            if p.serialized:
                out[f"concurrent_{p.level}_serialized"] = True
        else:
            out |= {f"batch_{p.level}_tps": p.output_tokens_per_second,
                    f"batch_{p.level}_total_tps": p.total_tokens_per_second,
                    f"batch_{p.level}_efficiency": p.batch_efficiency}
    return out


class ModelInfoSection(Section):
    name: str = Field(description="Model alias or path as given.")
    path: str | None = Field(None, description="Folder or URL the model came from.")
    num_layers: int | None = Field(None, description="Transformer layers.")
    num_kv_heads: int | None = Field(None, description="Key/value heads per layer.")
    head_dim: int | None = Field(None, description="Size of one attention head.")
    dtype: str = Field(description="Weights dtype as run ('server' for a remote model).")
    dtype_bytes: int = Field(description="Bytes per weight element.")
    device: str = Field(description="cpu, cuda, or remote (a server's model).")
    load_format: str = Field(description="auto (real weights), dummy (random), or server.")
    num_parameters: int | None = Field(None, description="Parameter count.")
    vocab_size: int | None = Field(None, description="Vocabulary size.")
    load_seconds: float | None = Field(None, description="Wall time of load(), seconds.")
    weights_bytes: int | None = Field(None, description="Parameter bytes as stored.")
    max_context: int | None = Field(None, description="Most tokens one sequence may hold.")
    kv_bytes_per_token: int | None = Field(None, description="KV bytes per token where the layout formula "
                                           "falls short.")
    extra: dict[str, Any] = Field({}, description="Engine-specific facts (compile time, KV blocks, ...).")


class RunConfig(Section):
    """What ran: enough to rerun it and to tell whether two reports measured the same workload."""

    model_name: str = Field(description="Model alias or path.")
    tests: list[str] = Field(description="Tests run, in order.")
    engine: dict[str, Any] = Field(description="The engine section as validated by the engine registry "
                                   "(name, device, dtype, load_format, seed and the running engine's settings).")
    benchmark: BenchmarkSettings = Field(description="Benchmark settings.")
    prompts: list[str] = Field(description="The test prompts.")
    targets: Targets | None = Field(None, description="This model's targets, if any.")
    studies: StudySettings | None = Field(None, description="The studies' settings (workload, accuracy, "
                                          "context length, SLOs) when a study or an SLO was part of the run.")


class MetricSpread(Section):
    min: float = Field(description="Smallest value over the runs.")
    median: float = Field(description="Median over the runs (the value in the report).")
    max: float = Field(description="Largest value over the runs.")
    values: list[float] = Field(description="Each run's value, in order.")


class RepeatSection(Section):
    n: int = Field(ge=1, description="Measured runs folded into this report.")
    statistic: Literal["median"] = Field("median", description="What the report's metrics are over the runs.")
    metrics: dict[str, MetricSpread] = Field(description="Catalogue key -> spread over the runs.")
    first_run_only: list[str] = Field(description="Metric groups kept from the first (cold) run.")
    note: str = Field(description="What is a median and what is the first run's.")
    timestamps: list[str] = Field(description="Each run's timestamp.")
    requested: int | None = Field(None, description="--repeat N as asked; more than n when the run was "
                                  "interrupted (the report holds the n runs that finished).")


class Report(Section):
    """One benchmark run of one model on one engine."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"$id": "mm_orch report, schema 2"})
    SECTIONS: ClassVar[tuple[str, ...]] = ("latency", "memory", "throughput", "load")

    schema_version: Literal[2] = Field(SCHEMA_VERSION, description="2: the typed report.")
    model_name: str = Field(description="Model alias or path.")
    engine: str = Field(description="Engine registry name.")
    timestamp: str = Field(description="ISO 8601 UTC, when the report was assembled.")
    system_info: SystemInfo | None = Field(None, description="Hardware, versions and load; null when "
                                           "include_system_info is off.")
    config: RunConfig | None = Field(None, description="What ran.")
    model_info: ModelInfoSection | None = Field(None, description="The loaded model.")
    latency: LatencySection | None = Field(None, description="Latency test; null when not run.")
    memory: MemorySection | None = Field(None, description="Memory test; null when not run.")
    throughput: ThroughputSection | None = Field(None, description="Throughput test; null when not run.")
    load: LoadResult | None = Field(None, description="Open-loop load test (--tests load): a seeded arrival "
                                    "schedule, TTFT/TPOT/E2E from send and from arrival, schedule lag; null when "
                                    "not run.")
    workload: WorkloadResult | None = Field(None, description="Workload study (--workload / --dataset): metrics, "
                                            "goodput and prefix-cache hit rate; null when not run.")
    accuracy: AccuracyResult | None = Field(None, description="Accuracy study (--accuracy): score with a 95 % "
                                            "Wilson interval per engine mode; null when not run.")
    context_length: ContextLengthResult | None = Field(None, description="TTFT against context length "
                                                       "(--context-length); null when not run.")
    saturation: SaturationResult | None = Field(None, description="Saturation curve (--tests load --request-rate "
                                                "sweep): latency against achieved throughput, the knee marked; "
                                                "null when not run.")
    max_rate_at_slo: MaxRateAtSloResult | None = Field(None, description="The highest request rate meeting the SLO "
                                                       "at its percentile, with a confidence interval (--tests load "
                                                       "--request-rate max-slo --slo ...); null when not run.")
    server_metrics: ServerMetricsSection | None = Field(None, description="The inference server's own Prometheus "
                                                        "series through the run (--server-metrics; on by default "
                                                        "for the openai engine when its /metrics answers): queue, "
                                                        "KV cache, its latency histograms, per phase, and its token "
                                                        "counters against the client's; null when not scraped.")
    gpu_telemetry: GpuTelemetrySection | None = Field(None, description="NVML samples of the GPUs through the run "
                                                      "(--gpu-telemetry; on by default on CUDA): power, utilization, "
                                                      "memory, clocks, energy and J per output token per phase; "
                                                      "null when not sampled.")
    timeline: RunTimeline | None = Field(None, description="The run on one time axis (with server_metrics and "
                                         "gpu_telemetry): phases, requests in flight, TTFT per request, KV cache "
                                         "held, the engine's scheduler; null when no telemetry ran.")
    label: str | None = Field(None, description="The run's name (--label): --compare and the sweep name columns "
                              "by it.")
    engine_stats: dict[str, Any] = Field({}, description="Engine-specific counters (prefix cache, alpha...).")
    validation: ValidationResult | None = Field(None, description="Per-model target check.")
    baseline_check: BaselineResult | None = Field(None, description="Baseline gate result (--baseline).")
    samples: SamplesSection | None = Field(None, description="The samples the regression verdict resamples: per "
                                           "request of the latency headline (wall and CPU figures) and the "
                                           "machine-speed reference; absent from older reports.")
    repeat: RepeatSection | None = Field(None, description="--repeat: spread over the runs.")
    incomplete: bool = Field(False, description="True when the run was interrupted (Ctrl-C): only the tests "
                             "in finished_tests were measured.")
    finished_tests: list[str] | None = Field(None, description="Interrupted run: the tests that finished.")
    missing_tests: list[str] | None = Field(None, description="Interrupted run: the tests that did not run.")
    warnings: list[str] = Field([], description="What a reader should know: busy machine, failed requests, "
                                "missed targets.")
    _requests: Any = PrivateAttr(None)  # a load/requests_file.RequestLog for --save-requests; never serialized

    def set_requests(self, log: Any) -> None:
        """Keep the session's per-request rows (--save-requests) with the report until it is written."""
        self._requests = log

    @property
    def requests(self) -> Any:
        """The per-request rows kept for --save-requests (a RequestLog), or None."""
        return self._requests
