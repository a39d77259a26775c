"""Pydantic models of config/benchmark.yaml. Unknown keys are errors; messages name file, key and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mm_orch.benchmark.generation import GenerationSettings
from mm_orch.errors import ConfigError
from mm_orch.io import read_user_file
from mm_orch.studies.settings import StudySettings

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "benchmark.yaml"
TEST_TYPES = ("latency", "memory", "throughput")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LatencySettings(Strict):
    warmup_runs: int = Field(3, ge=0, description="Runs per scenario that are not counted.")
    test_runs: int = Field(10, ge=1, description="Measured runs per scenario.")
    output_length: int = Field(100, ge=1, description="Output tokens for the test-prompt scenario.")
    input_lengths: list[int] = Field([128, 512], description="Synthetic prompt lengths (tokens).")
    output_lengths: list[int] = Field([64, 128], description="Fixed output lengths (tokens).")
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
    output_length: int = Field(100, ge=1, description="Output tokens of the measured inference.")


class ThroughputSettings(Strict):
    concurrent_requests: list[int] = Field([1, 2, 4], description="Client concurrency levels.")
    tokens_per_request: int = Field(100, ge=1)
    duration_seconds: float = Field(60.0, gt=0, description="Wall time of each measured phase.")
    batch_sizes: list[int] = Field([1, 2, 4, 8])
    min_requests: int = Field(1, ge=1, description="Each phase completes at least this many requests.")

    @field_validator("concurrent_requests", "batch_sizes")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(x < 1 for x in v):
            raise ValueError("must be a non-empty list of integers >= 1")
        return v


class ReportSettings(Strict):
    output_dir: str = "data/benchmarks"
    format: Literal["json", "csv"] = "json"
    include_system_info: bool = True


class BenchmarkSettings(Strict):
    latency: LatencySettings = LatencySettings()
    memory: MemorySettings = MemorySettings()
    throughput: ThroughputSettings = ThroughputSettings()
    report: ReportSettings = ReportSettings()
    generation: GenerationSettings = GenerationSettings()


class Targets(Strict):
    """Per-model performance targets; a target left out is not checked."""

    min_tokens_per_second: float | None = Field(None, description="latency.tokens_per_second >= this")
    max_ttft_ms: float | None = Field(None, description="latency.ttft_ms <= this")
    max_tpot_ms: float | None = Field(None, description="latency.tpot_ms <= this")
    max_e2e_latency_ms: float | None = Field(None, description="latency.e2e_latency_ms <= this")
    max_memory_gb: float | None = Field(None, description="memory.peak_gb <= this")
    min_single_request_tps: float | None = Field(None, description="throughput.single_request_tps >= this")


class HFEngineSettings(Strict):
    attn_implementation: str | None = Field(None, description="sdpa | eager | flash_attention_2; None = default")
    static_cache: bool = Field(False, description="Static KV cache + torch.compile (CUDA graphs) decode.")
    quantization: Literal["8bit", "4bit"] | None = Field(
        None, description="bitsandbytes weights: 8bit (LLM.int8()) or 4bit (NF4), CUDA or CPU; mm_orch[quant].")


class VLLMEngineSettings(Strict):
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="Share of GPU memory vLLM preallocates "
                                          "for weights, activations and KV cache.")
    max_model_len: int | None = Field(None, ge=1, description="Context length; None = the model's own.")
    enforce_eager: bool = Field(False, description="No CUDA graphs (faster start, slower decode).")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs a layer is split over (vLLM's executor).")
    pipeline_parallel_size: int = Field(1, ge=1, description="GPUs the layers are staged over.")
    enable_prefix_caching: bool = Field(True, description="Reuse KV blocks of shared prompt prefixes.")
    max_num_seqs: int | None = Field(None, ge=1, description="Most requests per step; None = vLLM's default.")
    cpu_kvcache_space_gb: int = Field(1, ge=1, description="KV cache on CPU in GiB (VLLM_CPU_KVCACHE_SPACE).")
    multiprocessing: bool | None = Field(None, description="Engine core in a child process "
                                         "(VLLM_ENABLE_V1_MULTIPROCESSING). None = auto: off on CPU (3x faster "
                                         "start), on with CUDA (host work overlaps the GPU: +5-48% tokens/s).")


class OpenAIEngineSettings(Strict):
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible API root (…/v1).")
    served_model: str | None = Field(None, description="Model name the server expects; None = --model.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key, if any.")
    timeout_s: float = Field(600.0, gt=0, description="Per-request timeout in seconds.")
    tokenizer: str | None = Field(None, description="Local model alias/folder whose tokenizer builds exact-length "
                                  "prompts; None = --model.")


class EngineSettings(Strict):
    name: str = Field("hf", description="Engine registry name: hf, vllm, dual, openai.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    load_format: Literal["auto", "dummy"] = "auto"
    seed: int = 0
    hf: HFEngineSettings = HFEngineSettings()
    vllm: VLLMEngineSettings = VLLMEngineSettings()
    openai: OpenAIEngineSettings = OpenAIEngineSettings()

    @model_validator(mode="after")
    def _quantization_is_hf_only(self) -> EngineSettings:
        if self.hf.quantization and self.name != "hf":
            raise ValueError(f"hf.quantization: only the hf engine quantizes weights, not '{self.name}'")
        return self


class ModelEntry(Strict):
    """A model added by the user: a hub id or a local Hugging Face folder."""

    hf_id: str | None = None
    path: str | None = None
    description: str = ""


class TestPrompts(Strict):
    short: list[str] = ["What is the capital of France?"]
    medium: list[str] = []
    long: list[str] = []

    def all(self) -> list[str]:
        return [*self.short, *self.medium, *self.long]


class OptimalSamplingSettings(Strict):
    """The dual engine (--engine dual): the teacher is --model, the theta (student) model is set here."""

    theta_model: str = Field("tiny-qwen2-small", description="Theta (student) model; must share the tokenizer.")
    alpha_method: Literal["fixed", "kl_symmetry", "ess_balance", "entropy"] = Field(
        "kl_symmetry", description="How the teacher weight alpha of q ∝ theta^(1-a) teacher^a is chosen.")
    fixed_alpha: float = Field(0.5, ge=0.0, le=1.0, description="alpha for alpha_method=fixed.")
    iterations: int = Field(20, ge=1, le=64, description="Bisection steps of the alpha solver (20: 1e-6).")
    teacher_system_prompt: str | None = Field(None, description="System prompt of the teacher only.")
    theta_system_prompt: str | None = Field(None, description="System prompt of the theta model only.")
    enable_chat_template: bool = Field(False, description="Wrap each model's prompt in its chat template.")
    mode: Literal["optimal_sampling", "teacher_only", "theta_only"] = Field(
        "optimal_sampling", description="teacher_only / theta_only: alpha 1 / 0 through the same path.")
    sync_every: int = Field(32, ge=1, description="Decode steps between host syncs (EOS check, timestamps).")
    cuda_graphs: bool = Field(True, description="Capture the decode step as CUDA graphs (CUDA only).")
    compile: bool = Field(True, description="torch.compile the alpha/sampling head (CUDA only).")
    track_alpha_stats: bool = Field(True, description="Log KL*, KLs, entropies and ESS per token.")


class GateSettings(Strict):
    """The baseline gate (--baseline): how much worse each metric may get before the run fails."""

    tolerance_pct: float = Field(10.0, ge=0, description="Default: percent worse allowed (--tolerance overrides).")
    tolerances: dict[str, float] = Field({}, description="Metric pattern (fnmatch on dotted keys, e.g. "
                                         "'memory.*') -> percent worse allowed; the first match wins.")
    ignore: list[str] = Field([], description="Metric patterns never compared.")
    memory_noise_gb: float = Field(0.0, ge=0, description="A memory metric that moved by at most this many GiB "
                                   "is noise, whatever the percent: on CPU, RSS moves by a few MiB with the "
                                   "allocator's state and one-off first-use costs.")
    statistic: Literal["median", "best"] = Field("median", description="With --repeat: compare medians, or "
                                                 "each side's best run (contention only ever slows a run down).")

    @field_validator("tolerances")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        if any(x < 0 for x in v.values()):
            raise ValueError("tolerances must be >= 0")
        return v


class ApiSettings(Strict):
    """The HTTP job service (--serve): queue bound, request size and caps on a job's effective settings."""

    max_queue: int = Field(16, ge=1, description="Most jobs waiting to run; a submission beyond it gets 429.")
    max_body_bytes: int = Field(65536, ge=256, description="Largest request body in bytes; more gets 413.")
    max_output_length: int = Field(2048, ge=1, description="Cap on every output length (latency, memory, "
                                   "throughput tokens_per_request).")
    max_input_length: int = Field(8192, ge=1, description="Cap on latency.input_lengths (tokens).")
    max_test_runs: int = Field(100, ge=1, description="Cap on latency.test_runs, warmup_runs "
                               "and throughput.min_requests.")
    max_duration_seconds: float = Field(300.0, gt=0, description="Cap on throughput.duration_seconds.")
    max_concurrency: int = Field(64, ge=1, description="Cap on throughput.concurrent_requests and batch_sizes.")
    max_list_length: int = Field(16, ge=1, description="Cap on the length of every list setting (scenario grid).")
    max_prompts: int = Field(64, ge=1, description="Cap on the number of test prompts of a job.")
    max_prompt_chars: int = Field(20000, ge=1, description="Cap on the length of one test prompt (characters).")
    job_timeout_seconds: float = Field(3600.0, gt=0, description="A job running longer is killed and failed.")


class Config(Strict):
    benchmark: BenchmarkSettings = BenchmarkSettings()
    engine: EngineSettings = EngineSettings()
    models: dict[str, ModelEntry] = {}
    targets: dict[str, Targets] = {}
    test_prompts: TestPrompts = TestPrompts()
    optimal_sampling: OptimalSamplingSettings = OptimalSamplingSettings()
    api: ApiSettings = ApiSettings()
    gate: GateSettings = GateSettings()
    studies: StudySettings = StudySettings()  # issue 12: workload, accuracy, context length, SLOs

    @model_validator(mode="after")
    def _beams_are_hf_only(self) -> Config:
        if self.benchmark.generation.num_beams > 1 and self.engine.name != "hf":
            raise ValueError(f"benchmark.generation.num_beams: beam search runs on the hf engine only, "
                             f"not '{self.engine.name}'")
        return self


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
    elif "input" in first and not isinstance(first["input"], dict | list):
        msg = f"{msg}, got {first['input']!r}"
    where = source
    if text is not None:
        line = _yaml_line(text, loc)
        if line:
            where = f"{source}:{line}"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{where}: {key}: {msg}{more}"


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a YAML config; any problem raises ConfigError with a one-line message."""
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    text = read_user_file(path, "config file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, str(path), text)) from None


def apply_overrides(cfg: Config, overrides: dict[str, Any], source: str = "overrides") -> Config:
    """Deep-merge a dict of overrides (HTTP body, CLI) into a config, validating the result."""

    def merge(base: dict, upd: dict) -> dict:
        out = dict(base)
        for k, v in upd.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    try:
        return Config.model_validate(merge(cfg.model_dump(), overrides))
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None
