"""The embedded offline models: a real byte-level BPE tokenizer and Qwen2 weights, built deterministically.

Nothing here touches the network. Weights come from a seeded generator per tensor name and are written
with sorted keys, so the same versions of torch and safetensors give the same bytes every time.
"""

from __future__ import annotations

import json
import zlib
from importlib import resources
from pathlib import Path
from typing import Any

BUILD_VERSION = 1  # bump when the recipe changes, so caches rebuild
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# hidden 128 / 4 heads -> head_dim 32 and hidden 64 / 2 heads -> 32: both valid for vLLM's CPU backend.
TINY_SHAPES: dict[str, dict[str, int]] = {
    "tiny-qwen2": {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4,
                   "num_attention_heads": 4, "num_key_value_heads": 2},
    "tiny-qwen2-small": {"hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2,
                         "num_attention_heads": 2, "num_key_value_heads": 1},
}
TOKENIZER_VOCAB = 1024
INIT_STD = 0.08  # larger than usual so the random model's next-token distributions are not flat


def build_tokenizer_files(out: Path) -> int:
    """Train a byte-level BPE on the embedded corpus; write tokenizer files; return len(tokenizer)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = resources.files("mm_orch.models").joinpath("tiny_corpus.txt").read_text(encoding="utf-8")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus.splitlines(), trainer=trainer)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
        "bos_token": None, "unk_token": None, "model_max_length": 4096, "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
    }, indent=2, sort_keys=True))
    return tok.get_vocab_size()


def tiny_architecture(alias: str, vocab: int, eos_id: int, pad_id: int) -> dict[str, Any]:
    shape = TINY_SHAPES[alias]
    return {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", **shape,
        "vocab_size": vocab, "max_position_embeddings": 4096, "rope_theta": 10000.0,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "hidden_act": "silu",
        "bos_token_id": pad_id, "eos_token_id": eos_id, "pad_token_id": pad_id,
        "torch_dtype": "float32", "use_sliding_window": False, "attention_dropout": 0.0,
        "initializer_range": INIT_STD,
    }


def _weights(arch: dict[str, Any]) -> dict[str, Any]:
    """Seeded tensors for a tied Qwen2 model; one generator per tensor name keeps them independent."""
    import torch

    h, i, v = arch["hidden_size"], arch["intermediate_size"], arch["vocab_size"]
    hd = h // arch["num_attention_heads"]
    kv = arch["num_key_value_heads"] * hd
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,)}
    for n in range(arch["num_hidden_layers"]):
        p = f"model.layers.{n}."
        shapes |= {
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (h, h), p + "self_attn.q_proj.bias": (h,),
            p + "self_attn.k_proj.weight": (kv, h), p + "self_attn.k_proj.bias": (kv,),
            p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.v_proj.bias": (kv,),
            p + "self_attn.o_proj.weight": (h, h),
            p + "mlp.gate_proj.weight": (i, h), p + "mlp.up_proj.weight": (i, h),
            p + "mlp.down_proj.weight": (h, i),
        }
    out = {}
    for name in sorted(shapes):
        if name.endswith("norm.weight"):
            out[name] = torch.ones(shapes[name])
            continue
        g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        std = INIT_STD if name.endswith("weight") else INIT_STD / 4
        out[name] = torch.randn(shapes[name], generator=g) * std
    return out


def build_tiny_model(alias: str, out: Path) -> None:
    """Write a complete Hugging Face folder (config, safetensors, tokenizer) for a tiny alias into out."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    n_tokens = build_tokenizer_files(out)
    vocab = (n_tokens + 63) // 64 * 64  # pad the embedding like real checkpoints do
    tok = json.loads((out / "tokenizer.json").read_text())
    ids = {t["content"]: t["id"] for t in tok["added_tokens"]}
    arch = tiny_architecture(alias, vocab, ids["<|im_end|>"], ids["<|endoftext|>"])
    (out / "config.json").write_text(json.dumps(arch, indent=2, sort_keys=True))
    (out / "generation_config.json").write_text(json.dumps(
        {"eos_token_id": arch["eos_token_id"], "pad_token_id": arch["pad_token_id"], "do_sample": False},
        indent=2, sort_keys=True))
    save_file(_weights(arch), str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "mm_orch_build.json").write_text(json.dumps({"alias": alias, "build_version": BUILD_VERSION}))
