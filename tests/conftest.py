"""Shared fixtures: a private model cache per test session, a loaded tiny-qwen2 HF engine, a quick config."""

from __future__ import annotations

import os
import tempfile

import pytest

# Before any mm_orch import: tests build the embedded models into their own cache, never the user's.
os.environ.setdefault("MM_ORCH_CACHE", tempfile.mkdtemp(prefix="mm_orch_test_cache_"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUICK_YAML = """
benchmark:
  latency: {warmup_runs: 1, test_runs: 2, input_lengths: [32], output_lengths: [8], output_length: 8}
  memory: {output_length: 8}
  throughput: {duration_seconds: 0.3, concurrent_requests: [2], batch_sizes: [1, 2], tokens_per_request: 8}
targets:
  tiny-qwen2: {max_ttft_ms: 100000, max_memory_gb: 1000, min_tokens_per_second: null}
test_prompts:
  short: ["What is the capital of France?", "Explain quantum computing briefly."]
  medium: []
  long: []
"""  # layered over the packaged defaults: emptied lists and null targets switch theirs off


@pytest.fixture(scope="module")
def engine(mock):
    """The openai engine on the module's `mock` server (a module using this defines its own `mock`)."""
    from mm_orch.engines.openai.engine import OpenAIEngine
    from mm_orch.engines.openai.settings import OpenAIEngineSettings

    e = OpenAIEngine("mock", settings=OpenAIEngineSettings(base_url=mock.base_url, served_model="mock", api_key_env=""))
    e.load()
    yield e
    e.close()


@pytest.fixture(scope="session")
def hf_engine():
    from mm_orch.engines.base import CommonSettings
    from mm_orch.engines.hf.engine import HFEngine

    engine = HFEngine("tiny-qwen2", CommonSettings(device="cpu"))
    engine.info = engine.load()
    yield engine
    engine.close()


@pytest.fixture
def quick_config_path(tmp_path):
    p = tmp_path / "quick.yaml"
    p.write_text(QUICK_YAML)
    return p
