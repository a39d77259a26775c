"""Pydantic models of config/benchmark.yaml. Unknown keys are errors; messages name file, key and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from mm_orch.errors import ConfigError
from mm_orch.io import MAX_CONFIG_BYTES, read_user_file, yaml_loads
from mm_orch.settings.generation import GenerationSettings
from mm_orch.settings.open_loop import SloSearchSettings, SteadySettings, TraceSettings
from mm_orch.settings.schedule import ScheduleSpec
from mm_orch.settings.strict import Strict
from mm_orch.settings.studies import StudySettings
from mm_orch.settings.telemetry import TelemetrySettings

# A source checkout's config/benchmark.yaml (the file users edit); installed, the copy inside the package.
_CHECKOUT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "benchmark.yaml"
PACKAGED_CONFIG_PATH = Path(__file__).resolve().parent / "defaults" / "benchmark.yaml"
DEFAULT_CONFIG_PATH = _CHECKOUT_CONFIG if _CHECKOUT_CONFIG.is_file() else PACKAGED_CONFIG_PATH
TEST_TYPES = ("latency", "memory", "throughput")  # what a plain --benchmark runs
ALL_TEST_TYPES = (*TEST_TYPES, "load")  # load (open loop) runs when asked for


class LatencySettings(Strict):
    warmup_runs: StrictInt = Field(3, ge=0, description="Runs per scenario that are not counted.")
    warmup_tokens: StrictInt | None = Field(None, ge=1, description="Output tokens of each warm-up run; None = the "
                                      "scenario's own (what per-shape compiled engines, --static-cache, need).")
    test_runs: StrictInt = Field(10, ge=1, description="Measured runs per scenario.")
    output_length: StrictInt = Field(100, ge=1, description="Output tokens for the test-prompt scenario.")
    input_lengths: list[StrictInt] = Field([128, 512], description="Synthetic prompt lengths (tokens).")
    output_lengths: list[StrictInt] = Field([64, 128], description="Fixed output lengths (tokens).")
    ignore_eos: bool = Field(True, description="Fix the output length (min_new_tokens = max_new_tokens).")

    @field_validator("input_lengths", "output_lengths")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(x < 1 for x in v):
            raise ValueError("lengths must be >= 1")
        return v


class MemorySettings(Strict):
    measure_peak: bool = True
    measure_kv_cache: bool = True
    gc_before_measure: bool = True
    output_length: StrictInt = Field(100, ge=1, description="Output tokens of the measured inference.")


class ThroughputSettings(Strict):
    concurrent_requests: list[StrictInt] = Field([1, 2, 4], description="Client concurrency levels.")
    tokens_per_request: StrictInt = Field(100, ge=1)
    duration_seconds: float = Field(60.0, ge=0.01, description="Wall time of each measured phase (at least 10 ms: "
                                    "shorter measures the clock, not the engine).")
    batch_sizes: list[StrictInt] = Field([1, 2, 4, 8])
    min_requests: StrictInt = Field(1, ge=1, description="Each phase completes at least this many requests.")
    input_length: StrictInt | None = Field(None, ge=1, description="Synthetic prompts of exactly this many tokens (8 "
                                     "distinct); None = the config's test prompts (or --prompts).")

    @field_validator("concurrent_requests", "batch_sizes")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(x < 1 for x in v):
            raise ValueError("must be a non-empty list of integers >= 1")
        return v


class LoadSettings(ScheduleSpec):
    """The open-loop `load` test (--tests load): a seeded arrival schedule, optionally capped in concurrency."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    max_concurrency: StrictInt | None = Field(None, ge=1, description="Most requests in flight; None = no cap.")
    warmup_requests: StrictInt = Field(2, ge=0, description="Requests sent one by one before the schedule, not "
                                       "counted.")
    workers: StrictInt | None = Field(None, ge=1, le=64, description="Client processes, each with its own event loop "
                                "(openai engine); None = 1, or more when the calibrated ceiling of one loop is "
                                "below request_rate.")
    input_length: StrictInt | None = Field(None, ge=1, description="Synthetic prompts of exactly this many tokens "
                                           "(one per request); None = the config's test prompts (or --prompts), "
                                           "cycled.")
    output_length: StrictInt = Field(64, ge=1, description="Fixed output tokens per request (ignore_eos from latency).")
    # saturation (--request-rate sweep): studies/saturation.py
    saturation: bool = Field(False, description="Saturation curve instead of one rate: a burst (request_rate inf) "
                             "finds the most requests/s, then one open-loop run per rate from sweep_low_fraction x "
                             "that maximum up to it.")
    sweep_points: StrictInt = Field(6, ge=2, le=50, description="Saturation: open-loop rates measured (the low "
                                    "rate and the maximum included).")
    sweep_low_fraction: float = Field(0.1, gt=0, lt=1, description="Saturation: the lowest rate, as a fraction of "
                                      "the measured maximum.")
    knee_ttft_factor: float = Field(2.0, gt=1, description="Saturation: the knee is the highest rate whose tail TTFT "
                                    "(from arrival) stays within this factor of the lowest rate's (and every "
                                    "rate's below it).")
    exact_rate: bool = Field(True, description="Stretch the drawn gaps so that the schedule's rate (first to last "
                             "due) is exactly request_rate, the arrivals' shape kept (default: a run asked for 50 "
                             "req/s offers 50, not one Poisson draw's 42 or 57).")
    # issue 23: the SLO on every open-loop run, the max-rate search, the steady window, trace replay
    slo_percentile: float = Field(99.0, gt=0, lt=100, description="The SLO holds when at least this percent of "
                                  "requests meet every objective (p99 TTFT <= X); the max-rate search judges by it.")
    max_rate_at_slo: bool = Field(False, description="--request-rate max-slo: search the highest rate that meets "
                                  "studies.slo at slo_percentile (settings in slo_search).")
    slo_search: SloSearchSettings = Field(default_factory=SloSearchSettings)
    steady: SteadySettings = Field(default_factory=SteadySettings, description="Warm-up and cool-down trimming.")
    trace: TraceSettings | None = Field(None, description="Replay a trace's arrival times and lengths instead of "
                                        "the drawn schedule (--trace).")

    @model_validator(mode="after")
    def _one_mode(self) -> LoadSettings:
        modes = [n for n, on in (("saturation (--request-rate sweep)", self.saturation),
                                 ("max_rate_at_slo (--request-rate max-slo)", self.max_rate_at_slo),
                                 ("trace (--trace)", self.trace is not None)) if on]
        if len(modes) > 1:
            raise ValueError(f"{modes[0]} and {modes[1]} both set the rate: choose one")
        return self


class ReportSettings(Strict):
    output_dir: str = "data/benchmarks"
    format: Literal["json", "csv"] = "json"
    include_system_info: bool = True
    save_requests: bool | str = Field(False, description="Every open-loop request as one JSONL line (due, sent, "
                                      "first token, ITL, end, tokens and their source, success, error): true = "
                                      "<report stem>_requests.jsonl beside the report, or a path (--save-requests).")
    label: str | None = Field(None, min_length=1, max_length=200, description="The run's name (--label), recorded in "
                              "the report: --compare and sweeps name columns by it.")


class BenchmarkSettings(Strict):
    latency: LatencySettings = LatencySettings()
    memory: MemorySettings = MemorySettings()
    throughput: ThroughputSettings = ThroughputSettings()
    load: LoadSettings = LoadSettings()
    report: ReportSettings = ReportSettings()
    generation: GenerationSettings = GenerationSettings()
    telemetry: TelemetrySettings = TelemetrySettings()  # server metrics and GPU telemetry beside the client's
    max_failure_rate: float | None = Field(None, ge=0, le=100, description="Percent of a phase's requests that "
                                           "may fail before the run fails (exit 1, in the report's validation and "
                                           "JUnit); None: a failed request is a warning, all failed is exit 3.")


class Targets(Strict):
    """Per-model performance targets; a target left out is not checked. Every bound is > 0: a time, a size or
    a rate of 0 or below can never be met (max_*) or is always met (min_*), so it checks nothing."""

    min_tokens_per_second: float | None = Field(None, gt=0, description="latency.tokens_per_second >= this")
    max_ttft_ms: float | None = Field(None, gt=0, description="latency.ttft_ms <= this")
    max_tpot_ms: float | None = Field(None, gt=0, description="latency.tpot_ms <= this")
    max_e2e_latency_ms: float | None = Field(None, gt=0, description="latency.e2e_latency_ms <= this")
    max_memory_gb: float | None = Field(None, gt=0, description="memory.peak_gb <= this")
    min_single_request_tps: float | None = Field(None, gt=0, description="throughput.single_request_tps >= this")


class EngineSettings(BaseModel):
    """The engine section: common settings, then one sub-section per registered engine (engine.<name>),
    each validated by the settings model its engine module registered (mm_orch.engines.registry)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    name: str = Field("hf", description="Engine registry name (hf, vllm, dual, openai, or a plug-in).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the model runs.")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field("auto", description="Weights dtype.")
    load_format: Literal["auto", "dummy"] = Field("auto", description="auto: real weights; dummy: random.")
    seed: StrictInt = Field(0, description="Seed of synthetic prompts and sampling.")

    @model_validator(mode="before")
    @classmethod
    def _engine_sections(cls, data: Any) -> Any:
        from mm_orch.engines.registry import plugins

        if not isinstance(data, dict):
            return data
        known = plugins()
        out = dict(data)
        if isinstance(out.get("name"), str) and out["name"] not in known:
            unknown = PydanticCustomError("unknown_engine", "unknown engine '{name}' (choose from {choices})",
                                          {"name": out["name"], "choices": ", ".join(known)})
            raise ValidationError.from_exception_data("EngineSettings", [
                {"type": unknown, "loc": ("name",), "input": out["name"]}])
        for key, value in data.items():
            if key in cls.model_fields:
                continue
            if key not in known:
                raise ValidationError.from_exception_data("EngineSettings", [
                    {"type": "extra_forbidden", "loc": (key,), "input": value}])
            out[key] = _validate_section(key, known[key].settings, value)
        return out

    def __getattr__(self, name: str) -> Any:
        """engine.<name> of a registered engine not given in the config: its defaults (not stored, so a
        partial override, e.g. from the HTTP API, never carries every engine's defaults along)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            from mm_orch.engines.registry import plugins

            plugin = plugins().get(name)
            if plugin is None:
                raise
            return plugin.settings()

    @model_validator(mode="after")
    def _engine_checks(self) -> EngineSettings:
        """Each engine's own checks of its section, e.g. hf.quantization refused when another engine runs."""
        from mm_orch.engines.registry import plugins

        for name, found in plugins().items():
            found.capabilities.validate(self.section(name), self.name)
        return self

    def section(self, name: str) -> BaseModel:
        """The settings of one registered engine (its defaults where the config does not set them)."""
        return getattr(self, name)

    def running(self) -> dict[str, Any]:
        """The common settings and the running engine's own section (what a report records)."""
        common = {k: getattr(self, k) for k in type(self).model_fields}
        return common | {self.name: self.section(self.name).model_dump()}


def _validate_section(name: str, model: type[BaseModel], value: Any) -> BaseModel:
    """An engine's section through its model; errors keep their full path (engine.<name>.<key>)."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value if value is not None else {})
    except ValidationError as e:
        raise ValidationError.from_exception_data("EngineSettings", [
            {"type": x["type"], "loc": (name, *x["loc"]), "input": x["input"], "ctx": x.get("ctx", {})}
            for x in e.errors()]) from None


class ModelEntry(Strict):
    """A model added by the user: a hub id or a local Hugging Face folder."""

    hf_id: str | None = None
    path: str | None = None
    description: str = ""


class TestPrompts(Strict):
    short: list[str] = ["What is the capital of France?"]
    medium: list[str] = []
    long: list[str] = []

    @field_validator("short", "medium", "long")
    @classmethod
    def _not_blank(cls, v: list[str]) -> list[str]:
        blank = [i for i, p in enumerate(v) if not p.strip()]
        if blank:
            raise ValueError(f"prompt {blank[0]} is empty; every test prompt needs text")
        return v

    def all(self) -> list[str]:
        return [*self.short, *self.medium, *self.long]


class GateSettings(Strict):
    """The baseline gate (--baseline): how much worse each metric may get before the run fails."""

    tolerance_pct: float = Field(10.0, ge=0, description="Default: percent worse allowed (--tolerance overrides).")
    tolerances: dict[str, float] = Field({}, description="Metric pattern (fnmatch on dotted keys, e.g. "
                                         "'memory.*') -> percent worse allowed; the first match wins.")
    busy_tolerances: dict[str, float] = Field(
        {}, description="Like tolerances, consulted first when either run had a busy machine: contention moves "
        "even the robust figures a little, which the samples' interval cannot show (a bias, not noise).")
    ignore: list[str] = Field([], description="Metric patterns never compared.")
    report_only: list[str] = Field([], description="Metric patterns compared and shown with their verdict, but not "
                                   "counted in the overall verdict (figures too noisy to gate on this machine).")
    memory_noise_gb: float = Field(0.0, ge=0, description="A memory metric that moved by at most this many GiB "
                                   "is noise, whatever the percent: on CPU, RSS moves by a few MiB with the "
                                   "allocator's state and one-off first-use costs.")
    statistic: Literal["median", "best"] = Field("median", description="With --repeat: compare medians, or "
                                                 "each side's best run (contention only ever slows a run down).")
    on_inconclusive: Literal["pass", "fail", "warn"] | None = Field(
        None, description="Exit code of an INCONCLUSIVE verdict: null = 4 (its own code), pass = 0, fail = 1, warn = "
        "0 with a warning (--on-inconclusive overrides).")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Confidence of the verdict's interval: FAIL needs the "
                              "whole interval beyond the tolerance, PASS the whole interval within it.")
    figure: Literal["auto", "wall", "cpu"] = Field(
        "auto", description="Which speed figure decides: auto = wall time when both runs had the machine to "
        "themselves, CPU ms per token over the step reference when either was busy or the machines differ in "
        "speed (in-process CPU engines); wall or cpu forces one.")
    max_machine_ratio: float = Field(1.5, ge=1, description="A run whose machine-speed reference is this many times "
                                     "slower or faster than the baseline's is not compared on speed "
                                     "(INCONCLUSIVE, with the line saying why).")

    @field_validator("tolerances", "busy_tolerances")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        if any(x < 0 for x in v.values()):
            raise ValueError("tolerances must be >= 0")
        return v


class ApiSettings(Strict):
    """The HTTP job service (--serve): queue bound, request size and caps on a job's effective settings."""

    max_queue: StrictInt = Field(16, ge=1, description="Most jobs waiting to run; a submission beyond it gets 429.")
    max_body_bytes: StrictInt = Field(65536, ge=256, description="Largest request body in bytes; more gets 413.")
    max_output_length: StrictInt = Field(2048, ge=1, description="Cap on every output length (latency, memory, "
                                   "throughput tokens_per_request).")
    max_input_length: StrictInt = Field(8192, ge=1, description="Cap on latency.input_lengths (tokens).")
    max_test_runs: StrictInt = Field(100, ge=1, description="Cap on latency.test_runs, warmup_runs "
                               "and throughput.min_requests.")
    max_duration_seconds: float = Field(300.0, gt=0, description="Cap on throughput.duration_seconds.")
    max_concurrency: StrictInt = Field(64, ge=1, description="Cap on throughput.concurrent_requests and batch_sizes.")
    max_list_length: StrictInt = Field(16, ge=1, description="Cap on the length of every list setting (scenario grid).")
    max_prompts: StrictInt = Field(64, ge=1, description="Cap on the number of test prompts of a job.")
    max_prompt_chars: StrictInt = Field(20000, ge=1, description="Cap on the length of one test prompt (characters).")
    job_timeout_seconds: float = Field(3600.0, gt=0, description="A job running longer is killed and failed.")
    allowed_base_urls: list[str] = Field([], description="OpenAI-compatible servers (engine.openai.base_url) a job "
                                         "may call; empty = the openai engine is refused over HTTP.")

    @field_validator("allowed_base_urls")
    @classmethod
    def _http_urls(cls, v: list[str]) -> list[str]:
        bad = [u for u in v if not u.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"'{bad[0]}' is not an http:// or https:// URL")
        return [u.rstrip("/") for u in v]

    slots: StrictInt | None = Field(None, ge=1, le=1024, description="Jobs running at once; null: one per visible GPU "
                              "(one on a CPU-only machine; with --executor ray, the cluster's GPUs or nodes).")


class Config(Strict):
    benchmark: BenchmarkSettings = BenchmarkSettings()
    engine: EngineSettings = EngineSettings()
    models: dict[str, ModelEntry] = {}
    targets: dict[str, Targets] = {}
    test_prompts: TestPrompts = TestPrompts()
    api: ApiSettings = ApiSettings()
    gate: GateSettings = GateSettings()
    studies: StudySettings = StudySettings()  # workload, accuracy, context length, SLOs

    @model_validator(mode="after")
    def _targets_name_models(self) -> Config:
        """A target key must be a model the config knows (a registered alias or one of models:): any other key
        ("", "/etc", a typo of an alias) would never be checked, silently."""
        from mm_orch.models.registry import BUILTIN

        for key, bounds in self.targets.items():
            if key not in BUILTIN and key not in self.models:
                shown = key if key.isprintable() and 0 < len(key) <= 60 else repr(key[:60]) + "..." * (len(key) > 60)
                unknown = PydanticCustomError(
                    "unknown_target_model", "not a model this config knows (a registered alias such as tiny-qwen2, "
                    "or a key of models:): a target for it would never be checked")
                raise ValidationError.from_exception_data("Config", [
                    {"type": unknown, "loc": ("targets", shown), "input": bounds.model_dump()}])
        return self

    @model_validator(mode="after")
    def _beams_where_supported(self) -> Config:
        from mm_orch.engines.registry import capabilities, plugins

        if self.benchmark.generation.num_beams > 1 and not capabilities(self.engine.name).beam_search:
            able = " and ".join(n for n, p in plugins().items() if p.capabilities.beam_search)
            raise ValueError(f"benchmark.generation.num_beams: beam search runs on the {able} engine only, "
                             f"not '{self.engine.name}'")
        return self

    @model_validator(mode="before")
    @classmethod
    def _legacy_dual_section(cls, data: Any) -> Any:
        """The dual engine's settings were a top-level `optimal_sampling:` section; now engine.dual."""
        if isinstance(data, dict) and "optimal_sampling" in data:
            data = dict(data)
            legacy = data.pop("optimal_sampling")
            engine = dict(data.get("engine") or {})
            if legacy is not None:
                current = engine.get("dual")
                current = current.model_dump() if isinstance(current, BaseModel) else dict(current or {})
                engine["dual"] = current | (legacy.model_dump() if isinstance(legacy, BaseModel) else legacy)
            data["engine"] = engine
        return data

    @property
    def optimal_sampling(self) -> Any:
        """The dual engine's settings (engine.dual); the old name, kept for callers."""
        return self.engine.section("dual")


def _yaml_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line of a key path in YAML text, for error messages."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(key)]
            if not match:
                break
            line = match[0][0].start_mark.line + 1
            node = match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def format_validation_error(err: ValidationError, source: str, text: str | None = None) -> str:
    """One line naming the source, the key path, the problem and (for YAML) the line."""
    first = err.errors()[0]
    loc = tuple(first["loc"])
    key = ".".join(str(p) for p in loc) or "<root>"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif "input" in first and not isinstance(first["input"], dict | list):
        msg = f"{msg}, got {first['input']!r}"
    where = source
    if text is not None:
        line = _yaml_line(text, loc)
        if line:
            where = f"{source}:{line}"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{where}: {key}: {msg}{more}"


def _read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    text = read_user_file(path, "config file", MAX_CONFIG_BYTES)
    try:
        data = yaml_loads(text, str(path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data, text


def deep_merge(base: dict, upd: dict) -> dict:
    """base with upd laid over it, nested dicts merged key by key (the config layers and CLI overrides)."""
    out = dict(base)
    for k, v in upd.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_set(item: str) -> dict[str, Any]:
    """--set a.b.c=value -> {"a": {"b": {"c": value}}}; the value is read as YAML (numbers, lists, true...)."""
    key, sep, raw = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise ConfigError(f"--set {item}: expected KEY.PATH=VALUE, e.g. benchmark.latency.test_runs=3")
    try:
        value = yaml_loads(raw, f"--set {key.strip()}", lines=False) if raw.strip() else ""
    except yaml.YAMLError:
        raise ConfigError(f"--set {item}: the value is not valid YAML") from None
    for p in reversed(parts):
        value = {p.strip(): value}
    return value


def load_config(path: str | Path | None = None, sets: list[str] | tuple[str, ...] = ()) -> Config:
    """The packaged defaults, then the YAML at `path` layered over them (a key it leaves out keeps its
    default), then each --set; every layer is validated and an error names the layer (file and line, or
    the --set item). Any problem raises ConfigError with a one-line message."""
    layers = [DEFAULT_CONFIG_PATH]
    if path is not None and Path(path).resolve() != DEFAULT_CONFIG_PATH.resolve():
        layers.append(Path(path))
    data: dict[str, Any] = {}
    for layer in layers:
        raw, text = _read_yaml(layer)
        data = _validated(deep_merge(data, raw), str(layer), text)
    for item in sets:
        data = _validated(deep_merge(data, parse_set(item)), f"--set {item}")
    return Config.model_validate(data)


def _validated(data: dict[str, Any], source: str, text: str | None = None) -> dict[str, Any]:
    try:
        Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source, text)) from None
    return data


def apply_overrides(cfg: Config, overrides: dict[str, Any], source: str = "overrides") -> Config:
    """Deep-merge a dict of overrides (HTTP body, CLI) into a config, validating the result."""
    try:
        return Config.model_validate(deep_merge(cfg.model_dump(), overrides))
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None
