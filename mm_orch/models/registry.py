"""Registered model aliases: Hugging Face id and architecture (enough to build a dummy-weight model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mm_orch.errors import ModelNotFoundError


@dataclass(frozen=True, slots=True)
class ModelSpec:
    alias: str
    hf_id: str | None
    architecture: dict[str, Any]  # a Transformers config.json
    description: str = ""
    embedded: bool = False  # built offline by mm_orch (tiny models)
    local_path: str | None = None  # a user's local Hugging Face folder
    trust_remote_code: bool = False
    real_vocab_size: int | None = None  # len(tokenizer) of the real checkpoint, when known
    notes: tuple[str, ...] = field(default_factory=tuple)


def _qwen2(hidden: int, inter: int, layers: int, heads: int, kv: int, tie: bool, vocab: int = 151936,
           max_pos: int = 32768) -> dict[str, Any]:
    return {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "vocab_size": vocab, "max_position_embeddings": max_pos,
        "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": tie,
        "hidden_act": "silu", "bos_token_id": 151643, "eos_token_id": 151645,
        "torch_dtype": "bfloat16", "use_sliding_window": False, "attention_dropout": 0.0,
    }


def _gpt2(embd: int, layers: int, heads: int) -> dict[str, Any]:
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": embd, "n_layer": layers,
        "n_head": heads, "vocab_size": 50257, "n_positions": 1024, "n_ctx": 1024,
        "bos_token_id": 50256, "eos_token_id": 50256, "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5, "torch_dtype": "float32",
    }


QWEN25_VOCAB = 151665  # len(tokenizer) of every Qwen2.5 checkpoint

BUILTIN: dict[str, ModelSpec] = {
    s.alias: s
    for s in [
        ModelSpec("tiny-qwen2", None, {}, "Embedded default: Qwen2 architecture, hidden 128, 4 heads, "
                  "4 layers, random weights, offline BPE tokenizer", embedded=True),
        ModelSpec("tiny-qwen2-small", None, {}, "Embedded second model: same tokenizer, hidden 64, "
                  "2 heads, 2 layers", embedded=True),
        ModelSpec("gpt2", "openai-community/gpt2", _gpt2(768, 12, 12), "GPT-2 124M"),
        ModelSpec("gpt2-medium", "openai-community/gpt2-medium", _gpt2(1024, 24, 16), "GPT-2 355M"),
        ModelSpec("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B-Instruct", _qwen2(896, 4864, 24, 14, 2, True),
                  "Qwen2.5 0.5B Instruct", real_vocab_size=QWEN25_VOCAB),
        ModelSpec("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct", _qwen2(1536, 8960, 28, 12, 2, True),
                  "Qwen2.5 1.5B Instruct", real_vocab_size=QWEN25_VOCAB),
        ModelSpec("qwen2.5-3b", "Qwen/Qwen2.5-3B-Instruct", _qwen2(2048, 11008, 36, 16, 2, True),
                  "Qwen2.5 3B Instruct", real_vocab_size=QWEN25_VOCAB),
        ModelSpec("qwen2.5-7b", "Qwen/Qwen2.5-7B-Instruct",
                  _qwen2(3584, 18944, 28, 28, 4, False, vocab=152064), "Qwen2.5 7B Instruct",
                  real_vocab_size=QWEN25_VOCAB),
        ModelSpec("qwen2.5-14b", "Qwen/Qwen2.5-14B-Instruct",
                  _qwen2(5120, 13824, 48, 40, 8, False, vocab=152064), "Qwen2.5 14B Instruct",
                  real_vocab_size=QWEN25_VOCAB),
        ModelSpec("qwen2.5-32b", "Qwen/Qwen2.5-32B-Instruct",
                  _qwen2(5120, 27648, 64, 40, 8, False, vocab=152064), "Qwen2.5 32B Instruct (the optimal-sampling "
                  "seed's teacher; 65.5 GB of bf16 weights)", real_vocab_size=QWEN25_VOCAB),
        ModelSpec("qwen-7b-chat", "Qwen/Qwen-7B-Chat",
                  _qwen2(4096, 11008, 32, 32, 32, False, max_pos=8192), "Qwen (v1) 7B Chat",
                  trust_remote_code=True, real_vocab_size=151851,
                  notes=("dummy load uses the Qwen2 architecture with Qwen-7B's shapes; the real "
                         "checkpoint needs trust_remote_code",)),
    ]
}


def known_models(extra: dict[str, Any] | None = None) -> list[str]:
    return sorted({*BUILTIN, *(extra or {})})


def resolve_model(name: str, user_models: dict[str, Any] | None = None) -> ModelSpec:
    """Alias (built-in or from the config's models section) or a local Hugging Face folder -> spec."""
    user_models = user_models or {}
    if name in user_models:
        entry = user_models[name]
        hf_id, path = getattr(entry, "hf_id", None), getattr(entry, "path", None)
        if not hf_id and not path:
            raise ModelNotFoundError(f"model '{name}' in the config's models section needs hf_id or path")
        return ModelSpec(name, hf_id, {}, getattr(entry, "description", ""), local_path=path)
    if name in BUILTIN:
        return BUILTIN[name]
    p = Path(name).expanduser()
    if (p / "config.json").is_file():
        return ModelSpec(p.name, None, {}, f"local folder {p}", local_path=str(p.resolve()))
    hint = ", ".join(known_models(user_models))
    raise ModelNotFoundError(f"unknown model '{name}': not a registered alias ({hint}) "
                             "nor a local folder with config.json")
