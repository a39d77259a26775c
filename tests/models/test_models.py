import hashlib
import json

import pytest

from mm_orch.errors import ConfigError, ModelNotFoundError
from mm_orch.models import ensure_local_model, resolve_model, tiny


def _digest(folder):
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())}


def test_tiny_model_builds_deterministically(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    tiny.build_tiny_model("tiny-qwen2", a)
    tiny.build_tiny_model("tiny-qwen2", b)
    assert _digest(a) == _digest(b)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(_digest(a))


def test_tiny_model_loads_offline_with_transformers():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = ensure_local_model("tiny-qwen2")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    cfg = model.config
    assert cfg.hidden_size // cfg.num_attention_heads == 32  # a head_dim vLLM's CPU backend accepts
    ids = tok.encode("What is the capital of France?", add_special_tokens=False)
    assert tok.decode(ids) == "What is the capital of France?"
    assert len(tok) <= cfg.vocab_size
    small = json.loads((ensure_local_model("tiny-qwen2-small") / "config.json").read_text())
    assert small["vocab_size"] == cfg.vocab_size and small["hidden_size"] < cfg.hidden_size


def test_dummy_folder_has_registered_architecture_and_no_weights():
    path = ensure_local_model("qwen2.5-3b", load_format="dummy")
    arch = json.loads((path / "config.json").read_text())
    assert (arch["hidden_size"], arch["num_hidden_layers"], arch["num_key_value_heads"]) == (2048, 36, 2)
    assert not list(path.glob("*.safetensors")) and (path / "tokenizer.json").exists()


def test_offline_auto_load_suggests_dummy():
    with pytest.raises(ModelNotFoundError, match="use --load-format dummy"):
        ensure_local_model("qwen2.5-0.5b", load_format="auto")


def test_unknown_model_and_local_path(tmp_path):
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'.*tiny-qwen2"):
        resolve_model("nope")
    (tmp_path / "config.json").write_text("{}")
    assert ensure_local_model(str(tmp_path)) == tmp_path
    with pytest.raises(ConfigError, match="unknown load format 'x'"):
        ensure_local_model("tiny-qwen2", load_format="x")


def test_quantization_errors_name_the_problem(monkeypatch):
    import importlib.util

    from mm_orch.models import ModelConfig, ModelManager

    with pytest.raises(ConfigError, match="unknown quantization '3bit'"):
        ModelConfig("tiny-qwen2", quantization="3bit")
    real_find_spec = importlib.util.find_spec  # bitsandbytes is installed here: hide it to see the message
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a))
    with pytest.raises(ConfigError, match=r"quantization '8bit' needs bitsandbytes \(pip install 'mm_orch\[quant\]'\)"):
        ModelManager().load(ModelConfig("tiny-qwen2", quantization="8bit", device="cpu"))


@pytest.mark.parametrize("quantization", ["8bit", "4bit"])
def test_quantized_weights_are_smaller_and_still_generate_on_cpu(quantization):
    import bitsandbytes as bnb

    from mm_orch.engines.base import CommonSettings, GenerationRequest
    from mm_orch.engines.hf.engine import HFEngine
    from mm_orch.engines.hf.settings import HFEngineSettings

    full = HFEngine("tiny-qwen2", CommonSettings(device="cpu"))
    full_info = full.load()
    full_bytes = full_info.weights_bytes
    full.close()
    engine = HFEngine("tiny-qwen2", CommonSettings(device="cpu"), HFEngineSettings(quantization=quantization))
    info = engine.load()
    layer = engine.loaded.model.model.layers[0].mlp.up_proj
    assert isinstance(layer, bnb.nn.Linear8bitLt if quantization == "8bit" else bnb.nn.Linear4bit)
    # the embeddings stay in float32; the linear layers shrink 4x (int8) or 8x (nf4)
    assert info.weights_bytes < (0.5 if quantization == "8bit" else 0.3) * full_bytes
    assert info.extra["quantization"] == quantization and info.num_parameters == full_info.num_parameters
    rec = engine.stream(GenerationRequest(prompt="Hello there", max_new_tokens=8))
    assert rec.success and rec.output_tokens == 8 and len(rec.token_times_ns) == 8
    engine.close()


def test_dummy_weights_can_be_quantized_offline():
    """The guide's quantization comparison, offline: random gpt2 weights are saved, then loaded quantized."""
    from mm_orch.benchmark.memory import MemoryBenchmark
    from mm_orch.models import ModelConfig, ModelManager

    manager, bench = ModelManager(), MemoryBenchmark()
    weights = {}
    for q in (None, "4bit"):
        r = bench.measure_model_load(manager, ModelConfig("gpt2", quantization=q, load_format="dummy", device="cpu"))
        weights[q] = r.weights_gb
        manager.unload()
    assert weights[None] == pytest.approx(124_439_808 * 4 / 2**30, rel=1e-3)  # gpt2's parameters in float32
    assert weights["4bit"] < 0.5 * weights[None]
