"""Load a registered Qwen2 model into our compact layout, with its tokenizer and real vocabulary size."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mm_orch.engines.optimal_sampling import qwen2
from mm_orch.errors import ConfigError
from mm_orch.models.local import ensure_local_model, read_architecture
from mm_orch.models.manager import load_tokenizer, resolve_device, resolve_dtype
from mm_orch.models.registry import ModelSpec, resolve_model

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LoadedLM:
    name: str
    path: Path
    spec: ModelSpec
    weights: qwen2.Qwen2Weights
    tokenizer: Any
    vocab: int  # the real vocabulary: ids past it are embedding padding
    dummy: bool
    load_seconds: float
    gpu_bytes: int  # weights as resident on the device


def resolve_placement(device: str) -> str:
    """auto / cpu / cuda, or one GPU by index (cuda:1), checked against the visible devices."""
    if not device.startswith("cuda:"):
        return resolve_device(device)
    index = device.removeprefix("cuda:")
    count = torch.cuda.device_count()
    if not index.isdigit() or int(index) >= count:
        raise ConfigError(f"device '{device}': {count} CUDA device(s) visible (use cuda:0 .. cuda:{count - 1})"
                          if count else f"device '{device}': no CUDA device is visible to torch")
    return device


def load_lm(name: str, device: str = "auto", dtype: str = "auto", load_format: str = "auto", seed: int = 0,
            user_models: dict[str, Any] | None = None) -> LoadedLM:
    spec = resolve_model(name, user_models)
    dev = resolve_placement(device)
    dt = resolve_dtype(dtype, dev.split(":")[0])
    path = ensure_local_model(name, load_format, user_models)
    arch = read_architecture(path)
    dims = qwen2.Qwen2Dims.from_config(arch)
    max_pos = min(int(arch.get("max_position_embeddings", 32768)), 32768)
    t0 = time.perf_counter()
    dummy = not any(path.glob("*.safetensors"))
    if dummy:
        weights = qwen2.random_weights(dims, dev, dt, seed=seed, max_pos=max_pos)
    else:
        weights = qwen2.load_folder(path, dims, dev, dt, max_pos=max_pos)
    if dev.startswith("cuda"):
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - t0
    tok = load_tokenizer(path, spec.trust_remote_code)
    # dummy folders carry a small stand-in tokenizer: the registry knows the real vocabulary
    vocab = min(spec.real_vocab_size or len(tok), dims.vocab)
    log.info("loaded %s (%s weights) in %.1fs", name, "random" if dummy else "real", seconds)
    return LoadedLM(name, path, spec, weights, tok, vocab, dummy, seconds, weights.num_bytes())


def check_same_vocabulary(teacher: LoadedLM, theta: LoadedLM) -> int:
    """The shared real vocabulary size; ConfigError when the two tokenizers differ."""
    if teacher.vocab != theta.vocab or teacher.tokenizer.get_vocab() != theta.tokenizer.get_vocab():
        raise ConfigError(f"teacher '{teacher.name}' and theta '{theta.name}' have different tokenizers "
                          f"({teacher.vocab} vs {theta.vocab} tokens or different ids); optimal sampling "
                          "needs one shared token-id vocabulary")
    return teacher.vocab
