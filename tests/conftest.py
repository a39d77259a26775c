"""Shared fixtures: a private model cache per test session, a loaded tiny-qwen2 HF engine, a quick config.

The suite runs on both cores (pytest-xdist, pyproject's addopts): the workers inherit the cache folder chosen
here by the controlling process, so the embedded models are built once (models/local.py builds into a
temporary folder and renames it, so two workers building at once is safe)."""

from __future__ import annotations

import os
import tempfile

import pytest

# Before any mm_orch import: tests build the embedded models into their own cache, never the user's.
os.environ.setdefault("MM_ORCH_CACHE", tempfile.mkdtemp(prefix="mm_orch_test_cache_"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# What main() sets before anything imports Transformers (which reads them at import): tests that call main() in
# this process run after Transformers was imported by others, and must see what a CLI process sees.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

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


# Module-scoped only to serve module-scoped fixtures, and cheap: a config file. Tests that use no other start
# their own servers, so they need not share a worker.
CHEAP_SHARED = {"server_config", "two_slots"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the marks
def pytest_collection_modifyitems(items):
    """Under pytest-xdist (--dist loadgroup): tests that share a module- or package-scoped fixture (a server, a
    Ray head, a loaded engine, a measured baseline run) go to one worker together, so it starts once; every other
    test is handed out on its own, which keeps both workers busy to the end."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        shared = [defs[-1] for name, defs in (info.name2fixturedefs.items() if info else ())
                  if defs and name not in CHEAP_SHARED]
        package = sorted(d.baseid for d in shared if d.scope == "package")
        if package:
            item.add_marker(pytest.mark.xdist_group(package[0] or "tests"))
        elif any(d.scope in ("module", "class") for d in shared):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


@pytest.fixture(autouse=True)
def _process_state_is_put_back():
    """A test, or main() called in this process, may change the environment (main sets library variables) or
    the working folder: put them back, so no test sees another's (fixtures of a wider scope set up before)."""
    env, cwd = dict(os.environ), os.getcwd()
    yield
    if os.getcwd() != cwd:
        os.chdir(cwd)
    if os.environ != env:
        os.environ.clear()
        os.environ.update(env)


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
