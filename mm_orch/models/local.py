"""ensure_local_model: turn an alias into a local Hugging Face folder, offline where possible."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mm_orch.errors import ConfigError, ModelNotFoundError
from mm_orch.models import tiny
from mm_orch.models.registry import ModelSpec, resolve_model

LOAD_FORMATS = ("auto", "dummy")


def cache_dir() -> Path:
    base = os.environ.get("MM_ORCH_CACHE")
    if base:
        return Path(base).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "mm_orch"


def _build_atomically(dest: Path, build) -> Path:
    """Build into a temporary sibling and rename, so a crash or a concurrent build never leaves half a folder."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        build(tmp)
        try:
            tmp.rename(dest)
        except OSError:  # another process won the race
            if not dest.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _tiny_folder(alias: str) -> Path:
    dest = cache_dir() / "models" / f"{alias}-v{tiny.BUILD_VERSION}"
    return _build_atomically(dest, lambda d: tiny.build_tiny_model(alias, d))


def _dummy_folder(spec: ModelSpec) -> Path:
    """config.json of the registered architecture plus the offline stand-in tokenizer; no weights."""

    def build(d: Path) -> None:
        tiny.build_tokenizer_files(d)
        (d / "config.json").write_text(json.dumps(spec.architecture, indent=2, sort_keys=True))
        (d / "mm_orch_dummy.json").write_text(json.dumps(
            {"alias": spec.alias, "hf_id": spec.hf_id, "tokenizer": "offline stand-in (tiny-qwen2 BPE)"}))

    return _build_atomically(cache_dir() / "dummy" / f"{spec.alias}-v{tiny.BUILD_VERSION}", build)


def _download(spec: ModelSpec) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec.hf_id, allow_patterns=["*.json", "*.safetensors", "*.txt",
                                                                   "*.model", "*.tiktoken", "*.py"]))
    except Exception as e:  # offline, gated, typo in the id...
        cause = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ModelNotFoundError(
            f"cannot fetch weights of '{spec.alias}' ({spec.hf_id}) from the Hugging Face hub: {cause}; "
            "offline? use --load-format dummy for random weights") from None


def ensure_local_model(name: str, load_format: str = "auto", user_models: dict[str, Any] | None = None) -> Path:
    """Return a local folder that Transformers (and vLLM) load offline.

    Embedded tiny models are built on first use; load_format='dummy' gives the registered
    architecture with no weights (engines then initialise random ones); 'auto' uses a local path
    or downloads from the hub.
    """
    if load_format not in LOAD_FORMATS:
        raise ConfigError(f"unknown load format '{load_format}' (choose from {', '.join(LOAD_FORMATS)})")
    spec = resolve_model(name, user_models)
    if spec.embedded:
        return _tiny_folder(spec.alias)
    if spec.local_path:
        p = Path(spec.local_path).expanduser()
        if not (p / "config.json").is_file():
            raise ModelNotFoundError(f"model '{name}': {p} has no config.json")
        return p
    if load_format == "dummy":
        if not spec.architecture:
            raise ModelNotFoundError(f"model '{name}' has no registered architecture for --load-format dummy")
        return _dummy_folder(spec)
    return _download(spec)


def read_architecture(path: Path) -> dict[str, Any]:
    return json.loads((Path(path) / "config.json").read_text())
