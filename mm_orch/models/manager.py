"""ModelConfig and ModelManager (the MuAI guide's names): load a model and its tokenizer, offline-first."""

from __future__ import annotations

import importlib.util
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mm_orch.errors import ConfigError
from mm_orch.models.local import ensure_local_model, read_architecture
from mm_orch.models.registry import ModelSpec, resolve_model

Quantization = Literal["8bit", "4bit"] | None


@dataclass(slots=True)
class ModelConfig:
    model_name: str
    quantization: Quantization = None
    load_format: str = "auto"
    dtype: str = "auto"
    device: str = "auto"
    attn_implementation: str | None = None
    user_models: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.quantization not in (None, "8bit", "4bit"):
            raise ConfigError(f"unknown quantization '{self.quantization}' (choose from 8bit, 4bit or none)")


@dataclass(slots=True)
class LoadedModel:
    model: Any
    tokenizer: Any
    path: Path
    spec: ModelSpec
    device: str
    dtype: str
    load_format: str
    load_seconds: float
    architecture: dict[str, Any]


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is visible to torch")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device '{device}' (choose from auto, cpu, cuda)")
    return device


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise ConfigError(f"unknown dtype '{dtype}' (choose from auto, float32, float16, bfloat16)") from None


def _quantization_config(q: Quantization, device: str):
    """bitsandbytes through Transformers: LLM.int8() for 8bit, NF4 for 4bit; CUDA and (bitsandbytes >= 0.50) CPU."""
    if q is None:
        return None
    missing = [m for m in ("bitsandbytes", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"quantization '{q}' needs {' and '.join(missing)} (pip install 'mm_orch[quant]')")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_8bit=q == "8bit", load_in_4bit=q == "4bit")


def parameter_bytes(model: Any) -> int:
    """Parameters as stored: quantized weights take fewer bytes than their count times the dtype."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _from_pretrained(path: Path, **kwargs: Any):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path), **kwargs)


def _random_model(path: Path, device: str, kwargs: dict[str, Any]):
    """The folder's architecture with seeded random weights, built directly on the device."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    hf_cfg = AutoConfig.from_pretrained(str(path), trust_remote_code=kwargs["trust_remote_code"])
    torch.manual_seed(0)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(hf_cfg, **kwargs)


def _random_weights_folder(path: Path, dtype: Any, trust_remote_code: bool, out: Path) -> Path:
    """Random weights saved as a checkpoint, so quantization (applied while loading one) also works offline."""
    import shutil

    model = _random_model(path, "cpu", {"dtype": dtype, "trust_remote_code": trust_remote_code})
    model.save_pretrained(out)
    del model
    for f in path.iterdir():  # the stand-in tokenizer and generation config
        if f.is_file() and not (out / f.name).exists():
            shutil.copy2(f, out / f.name)
    return out


def load_tokenizer(path: Path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def ordinary_token_ids(tokenizer, limit: int | None = None) -> list[int]:
    """Ids of non-special tokens (below limit), for synthetic prompts of an exact length."""
    special = set(tokenizer.all_special_ids)
    n = len(tokenizer) if limit is None else min(len(tokenizer), limit)
    return [i for i in range(n) if i not in special]


def _start_torch_threads() -> None:
    """Run one small op so torch starts its CPU thread pool now (a few MiB of RSS), not inside load()."""
    import torch

    x = torch.ones(256, 256)
    (x @ x).sum().item()


class ModelManager:
    """Loads one model at a time; unload() frees it (and the CUDA cache)."""

    def __init__(self) -> None:
        self.current: LoadedModel | None = None

    def prepare(self, cfg: ModelConfig) -> Path:
        """The model folder, built or fetched, with Transformers and the model's classes imported."""
        import transformers
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES

        path = ensure_local_model(cfg.model_name, cfg.load_format, cfg.user_models)
        model_type = read_architecture(path).get("model_type")
        for names in (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, TOKENIZER_MAPPING_NAMES):
            cls = names.get(model_type)
            if isinstance(cls, str):  # lazy attribute access is what imports the module
                getattr(transformers, cls, None)
        if cfg.quantization is not None:
            for module in ("bitsandbytes", "accelerate"):
                if importlib.util.find_spec(module) is not None:
                    importlib.import_module(module)
        _start_torch_threads()
        return path

    def load(self, cfg: ModelConfig) -> LoadedModel:
        import torch

        spec = resolve_model(cfg.model_name, cfg.user_models)
        device = resolve_device(cfg.device)
        dtype = resolve_dtype(cfg.dtype, device)
        path = ensure_local_model(cfg.model_name, cfg.load_format, cfg.user_models)
        quant = _quantization_config(cfg.quantization, device)
        kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": spec.trust_remote_code}
        if cfg.attn_implementation:
            kwargs["attn_implementation"] = cfg.attn_implementation
        with tempfile.TemporaryDirectory(prefix="mm_orch_dummy_") as tmp:
            src = path
            if cfg.load_format == "dummy" and quant is not None:  # written before the clock starts
                src = _random_weights_folder(path, dtype, spec.trust_remote_code, Path(tmp))
            t0 = time.perf_counter()
            if cfg.load_format == "dummy" and quant is None:
                model = _random_model(path, device, kwargs)
            elif quant is not None:
                model = _from_pretrained(src, quantization_config=quant, device_map=device, **kwargs)
            else:
                model = _from_pretrained(src, **kwargs).to(device)
        model.eval()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        tokenizer = load_tokenizer(path, spec.trust_remote_code)
        self.current = LoadedModel(model, tokenizer, path, spec, device, str(dtype).removeprefix("torch."),
                                   cfg.load_format, seconds, read_architecture(path))
        return self.current

    def unload(self) -> None:
        from mm_orch.monitor.memory import free_memory

        self.current = None
        free_memory()
