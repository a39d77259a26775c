"""Prompts that cannot fit the model's context are refused before the run: CLI exit 2, API 422, numbers named."""

from __future__ import annotations

from pathlib import Path

import pytest

from mm_orch.config import Config, apply_overrides
from mm_orch.errors import ConfigError
from mm_orch.models import ensure_local_model
from mm_orch.run.preflight import check_before_load, engine_context, local_counter, registered_context
from tests.inprocess import Result, run_main

REPO = Path(__file__).resolve().parents[2]
LONG = "The quick brown fox jumps over the lazy dog. " * 400  # 18,000 characters, ~10,800 tiny-qwen2 tokens


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return run_main(*args, env=env, cwd=REPO)  # in this process: what is tested is the refusal, not the process


def test_context_comes_from_the_registered_config():
    assert registered_context("tiny-qwen2", {}) == 4096
    assert registered_context("gpt2", {}) == 1024  # n_positions
    assert registered_context("qwen-7b-chat", {}) == 8192 and registered_context("qwen2.5-3b", {}) == 32768
    vllm = apply_overrides(Config(), {"engine": {"name": "vllm", "vllm": {"max_model_len": 512}}})
    assert engine_context(vllm, "qwen2.5-3b") == 512  # vLLM's own limit, when lower, is the one that holds
    dual = apply_overrides(Config(), {"engine": {"name": "dual"}, "optimal_sampling": {"theta_model": "gpt2"}})
    assert engine_context(dual, "qwen2.5-3b") == 1024


def test_synthetic_and_text_prompts_are_checked_with_exact_numbers():
    ensure_local_model("tiny-qwen2")  # its tokenizer.json is what counts text before any model loads
    count = local_counter("tiny-qwen2", Config())
    n = count(LONG)
    assert n > 4096
    cfg = apply_overrides(Config(), {"test_prompts": {"short": ["hello", LONG]}})
    with pytest.raises(ConfigError) as e:
        check_before_load(cfg, "tiny-qwen2", ["throughput"])
    assert str(e.value) == (f"test_prompts prompt 1 'The quick brown fox jumps over the lazy ...': {n} prompt + "
                            "100 output tokens exceed tiny-qwen2's context of 4096 tokens")
    cfg = apply_overrides(Config(), {"benchmark": {"latency": {"input_lengths": [4000], "output_lengths": [64, 97]}}})
    with pytest.raises(ConfigError, match="input_lengths: 4000 prompt \\+ 97 output tokens exceed .* 4096 tokens"):
        check_before_load(cfg, "tiny-qwen2", ["latency"])
    check_before_load(cfg, "tiny-qwen2", ["throughput"])  # the synthetic grid is latency's only
    cfg = apply_overrides(Config(), {"benchmark": {"memory": {"output_length": 4000}}})
    with pytest.raises(ConfigError, match="the memory test's prompt .*: 512 prompt \\+ 4000 output tokens"):
        check_before_load(cfg, "tiny-qwen2", ["memory"])


def test_cli_refuses_a_prompt_file_that_cannot_fit_before_loading(quick_config_path, tmp_path):
    ensure_local_model("tiny-qwen2")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"What is the capital of France?\n{LONG}\n")
    out = tmp_path / "out"
    r = cli("--benchmark", "--config", str(quick_config_path), "--benchmark-output", str(out), "--tests",
            "latency", "--prompts", str(prompts), "--no-progress")
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("mm_orch: error: --prompts prompt 1 'The quick brown fox")
    assert "prompt + 8 output tokens exceed tiny-qwen2's context of 4096 tokens" in line
    assert not any(out.glob("*.json"))  # nothing was measured


def test_without_a_local_tokenizer_the_check_runs_after_loading_and_before_measuring(quick_config_path, tmp_path):
    prompts = tmp_path / "prompts.json"
    prompts.write_text(f'["short one", "{LONG}"]')
    out = tmp_path / "out"
    r = cli("--benchmark", "--config", str(quick_config_path), "--benchmark-output", str(out), "--tests",
            "throughput", "--prompts", str(prompts), "--no-progress", env={"MM_ORCH_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 2, r.stderr
    assert "--prompts prompt 1" not in r.stderr  # the label of the pre-load check: not reached without a tokenizer
    assert "test_prompts prompt 1 'The quick brown fox" in r.stderr.strip().splitlines()[-1]
    assert "prompt + 8 output tokens exceed tiny-qwen2's context of 4096 tokens" in r.stderr
    assert not any(out.glob("*.json"))


def test_a_prompt_file_over_the_size_cap_is_refused_unread(tmp_path):
    big = tmp_path / "huge.txt"
    with open(big, "wb") as f:  # sparse: 50 MB on paper, nothing on disk
        f.truncate(50_000_000)
    r = cli("--benchmark", "--prompts", str(big), "--no-progress")
    assert r.returncode == 2
    assert r.stderr.strip() == (f"mm_orch: error: prompt file {big}: 50000000 bytes is more than the 8388608 "
                                "bytes accepted")


def test_a_50_mb_prompt_is_refused_without_tokenizing_it(tmp_path, capsys):
    """A text longer than (context + 1) x MAX_CHARS_PER_TOKEN cannot fit whatever the tokenizer: no count needed."""
    import json
    import time

    from mm_orch.main import main

    data = tmp_path / "one_line.jsonl"
    data.write_text(json.dumps({"prompt": "word " * 10_000_000, "output_len": 4}) + "\n")  # 50 MB, one record
    t = time.perf_counter()
    rc = main(["--benchmark", "--dataset", str(data), "--no-progress", "--benchmark-output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0] == (f"mm_orch: error: {data} record 0: at least 48829 prompt + 4 output tokens exceed tiny-qwen2's "
                      "context of 4096 tokens")
    assert time.perf_counter() - t < 30  # was over 100 s in the tokenizer


def test_a_local_models_deep_config_json_is_not_a_recursion_error(tmp_path):
    from mm_orch.run.preflight import registered_context

    (tmp_path / "config.json").write_text('{"max_position_embeddings": ' + "[" * 5000 + "]" * 5000 + "}")
    assert registered_context(str(tmp_path), {}) is None  # unknown here; the engine's load says what is wrong
    (tmp_path / "config.json").write_text('{"max_position_embeddings": 77}')
    assert registered_context(str(tmp_path), {}) == 77
