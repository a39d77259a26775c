"""Each engine's plug-in answers what the engine can do; nothing outside engines/ compares an engine's name."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

import tests.engines.tick_engine  # noqa: F401  - registers the 'tick' engine, as any plug-in module does
from mm_orch.config import Config, apply_overrides
from mm_orch.engines.base import CommonSettings
from mm_orch.engines.registry import capabilities, plugins
from mm_orch.errors import ConfigError
from mm_orch.executors.devices import job_gpus

ROOT = Path(__file__).resolve().parents[2]


def cfg(engine: str, **sections) -> Config:
    return apply_overrides(Config(), {"engine": {"name": engine, **sections}})


def gpus(c: Config) -> int:
    return capabilities(c.engine.name).gpus(c.engine.section(c.engine.name), c.engine.device)


def test_gpus_a_run_needs():
    assert gpus(cfg("vllm", device="cuda", vllm={"tensor_parallel_size": 2, "pipeline_parallel_size": 2})) == 4
    assert gpus(cfg("vllm", device="cpu", vllm={"tensor_parallel_size": 2})) == 0
    assert gpus(cfg("hf", device="cuda")) == gpus(cfg("dual")) == gpus(cfg("tick")) == 1  # tick: the defaults
    assert gpus(cfg("hf", device="cpu")) == 0
    openai = cfg("openai", device="cuda")
    assert capabilities("openai").remote and gpus(openai) == 0
    assert job_gpus(None, openai, 8, "here") == 0 and job_gpus(0, openai, 8, "here") == 0  # no local GPU needed
    with pytest.raises(ConfigError, match="gpus: 0 GPUs for a job with engine.device cuda"):
        job_gpus(0, cfg("hf", device="cuda"), 8, "here")


def test_only_the_openai_engine_is_remote_and_calls_out():
    assert [n for n, p in plugins().items() if p.capabilities.remote] == ["openai"]
    openai = cfg("openai", openai={"base_url": "http://10.0.0.1:8000/v1/"})
    assert capabilities("openai").outbound_urls(openai.engine.openai) == {"base_url": "http://10.0.0.1:8000/v1"}
    assert capabilities("openai").model_fields == ("tokenizer",)
    assert all(not capabilities(n).outbound_urls(Config().engine.section(n)) for n in ("hf", "vllm", "dual", "tick"))


def test_context_limits_beside_the_models_own():
    def context_of(model: str) -> int | None:
        return {"gpt2": 1024}.get(model)

    vllm = cfg("vllm", vllm={"max_model_len": 512})
    assert capabilities("vllm").context_limits(vllm.engine.vllm, context_of) == [512]
    dual = cfg("dual", dual={"theta_model": "gpt2"})
    assert capabilities("dual").context_limits(dual.engine.dual, context_of) == [1024]
    assert capabilities("hf").context_limits(Config().engine.hf, context_of) == []


def test_load_mode_of_each_engine():
    from mm_orch.engines.hf.engine import HFEngine
    from mm_orch.engines.vllm.engine import VLLMEngine

    assert capabilities("openai").load_mode(SimpleNamespace(supports_concurrency=True)) == "async_http"
    assert capabilities("vllm").load_mode(VLLMEngine("tiny-qwen2")) == "threads"
    assert capabilities("hf").load_mode(HFEngine("tiny-qwen2")) == "serialized"
    assert capabilities("tick").load_mode(tests.engines.tick_engine.TickEngine("m", None)) == "serialized"


@pytest.mark.parametrize("engine", ["vllm", "dual", "openai", "tick"])
def test_beams_and_quantization_only_where_supported(engine):
    with pytest.raises(ConfigError, match=f"benchmark.generation.num_beams: beam search runs on the hf engine only, "
                                          f"not '{engine}'"):
        apply_overrides(Config(), {"engine": {"name": engine}, "benchmark": {"generation": {"num_beams": 2}}})
    with pytest.raises(ConfigError, match=f"hf.quantization: only the hf engine quantizes weights, not '{engine}'"):
        cfg(engine, hf={"quantization": "4bit"})
    beams = apply_overrides(Config(), {"engine": {"name": "hf", "hf": {"quantization": "8bit"}},
                                       "benchmark": {"generation": {"num_beams": 2}}})
    assert beams.benchmark.generation.num_beams == 2 and beams.engine.hf.quantization == "8bit"


def test_the_library_whose_version_the_gate_compares():
    assert capabilities("vllm").library_version == "vllm_version"
    assert {n: p.capabilities.library_version for n, p in plugins().items() if p.capabilities.library_version} == {
        "vllm": "vllm_version"}
    assert capabilities("an engine not installed here").library_version is None  # the defaults


def test_engines_are_built_from_their_settings():
    from mm_orch.engines.hf.engine import HFEngine
    from mm_orch.engines.openai.engine import OpenAIEngine
    from mm_orch.engines.optimal_sampling.engine import DualEngine
    from mm_orch.engines.vllm.engine import VLLMEngine

    c = apply_overrides(Config(), {"engine": {"device": "cpu", "dtype": "float32", "seed": 7,
                                              "hf": {"decode_loop": "generate", "quantization": "4bit"},
                                              "openai": {"base_url": "http://h:1/v1/", "tokenizer": "gpt2"},
                                              "dual": {"theta_model": "gpt2", "sync_every": 4}}})
    assert CommonSettings.of(c.engine) == CommonSettings(device="cpu", dtype="float32", load_format="auto", seed=7)
    hf = HFEngine.from_config("tiny-qwen2", c)
    assert (hf.decode_loop, hf.model_config.quantization, hf.model_config.device, hf.seed) == ("generate", "4bit",
                                                                                               "cpu", 7)
    oa = OpenAIEngine.from_config("m", c)
    assert (oa.base_url, oa.settings.served_model, oa.tokenizer_name) == ("http://h:1/v1", "m", "gpt2")
    dual = DualEngine.from_config("tiny-qwen2", c)
    assert (dual.theta_model, dual.options["sync_every"], dual.options["dtype"], dual.seed) == ("gpt2", 4,
                                                                                                "float32", 7)
    assert (VLLMEngine.from_config("tiny-qwen2", c).requested_device, VLLMEngine("x").llm_kwargs["max_model_len"]) == (
        "cpu", None)


def _compared_names(path: Path, names: set[str]) -> list[str]:
    def strings(node: ast.AST) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return set().union(*map(strings, node.elts))
        return set()

    return [f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Compare) and any(strings(o) & names for o in (node.left, *node.comparators))]


def test_no_engine_name_is_compared_outside_engines():
    names = set(plugins())
    found = [hit for path in sorted((ROOT / "mm_orch").rglob("*.py")) if "engines" not in path.parts
             for hit in _compared_names(path, names)]
    assert found == []
