import pytest

from mm_orch.config import DEFAULT_CONFIG_PATH, apply_overrides, load_config
from mm_orch.errors import ConfigError


def test_default_config_loads_with_guide_structure():
    cfg = load_config(DEFAULT_CONFIG_PATH)
    assert cfg.benchmark.latency.warmup_runs >= 1
    assert cfg.benchmark.report.format == "json"
    assert "tiny-qwen2" in cfg.targets and cfg.targets["tiny-qwen2"].max_ttft_ms > 0
    assert cfg.test_prompts.short and cfg.test_prompts.long


@pytest.mark.parametrize("text, expected", [
    ("benchmark:\n  latency:\n    warmup_runs: 2\n    tset_runs: 5\n", ":4: benchmark.latency.tset_runs: unknown key"),
    ("benchmark:\n  latency:\n    warmup_runs: many\n", ":3: benchmark.latency.warmup_runs: Input should be a valid"),
    ("benchmark:\n  latency: [\n    warmup_runs: 2\n", ":4: invalid YAML"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("targets:\n  gpt2:\n    max_ttft: 3\n", ":3: targets.gpt2.max_ttft: unknown key"),
])
def test_bad_yaml_names_file_key_and_line(tmp_path, text, expected):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert str(p) in msg and expected in msg and "\n" not in msg


def test_missing_config_file():
    with pytest.raises(ConfigError, match="config file not found: /no/such.yaml"):
        load_config("/no/such.yaml")


def test_overrides_are_validated_and_merged():
    cfg = apply_overrides(load_config(), {"engine": {"device": "cpu"}, "benchmark": {"latency": {"test_runs": 7}}})
    assert cfg.engine.device == "cpu" and cfg.benchmark.latency.test_runs == 7
    assert cfg.benchmark.latency.warmup_runs == load_config().benchmark.latency.warmup_runs
    with pytest.raises(ConfigError, match="engine.device: Input should be 'auto', 'cpu' or 'cuda', got 'gpu'"):
        apply_overrides(cfg, {"engine": {"device": "gpu"}}, source="command line")


@pytest.mark.parametrize("text, expected", [  # values that mean nothing (issue 21): one line naming key and line
    ("targets:\n  tiny-qwen2: {max_ttft_ms: -1}\n", ":2: targets.tiny-qwen2.max_ttft_ms: Input should be greater"),
    ("targets:\n  gpt2: {min_tokens_per_second: 0}\n", ":2: targets.gpt2.min_tokens_per_second: Input should be"),
    ("studies:\n  slo: {ttft_ms: -5}\n", ":2: studies.slo.ttft_ms: Input should be greater than 0"),
    ("targets:\n  '': {max_ttft_ms: 5}\n", "targets.'': not a model this config knows"),
    ("targets:\n  \"\\0\": {max_ttft_ms: 5}\n", "targets.'\\x00': not a model this config knows"),
    ("targets:\n  /etc: {max_ttft_ms: 5}\n", ":2: targets./etc: not a model this config knows"),
    ("targets:\n  ? " + "k" * 3000 + "\n  : {max_ttft_ms: 5}\n", "targets.'" + "k" * 60 + "'...: not a model"),
    ("benchmark:\n  latency: {test_runs: true}\n", ":2: benchmark.latency.test_runs: Input should be a valid integer"),
    ("benchmark:\n  latency: {warmup_runs: '3'}\n", "benchmark.latency.warmup_runs: Input should be a valid integer"),
    ("benchmark:\n  latency: {test_runs: 2.0}\n", "benchmark.latency.test_runs: Input should be a valid integer"),
    ("benchmark:\n  throughput: {concurrent_requests: [1, true]}\n", "concurrent_requests.1: Input should be a valid"),
    ("benchmark:\n  load: {num_requests: '10'}\n", "benchmark.load.num_requests: Input should be a valid integer"),
    ("engine:\n  vllm: {cpu_kvcache_space_gb: 1000000}\n", "cpu_kvcache_space_gb: Input should be less than or "
     "equal to 1024"),
    ("engine:\n  vllm: {max_model_len: 4294967296}\n", "max_model_len: Input should be less than or equal to 16777216"),
    ("benchmark:\n  throughput: {duration_seconds: 5.0e-324}\n", "duration_seconds: Input should be greater than or "
     "equal to 0.01"),
    ("benchmark:\n  load: {duration_seconds: 0.001}\n", "benchmark.load.duration_seconds: Input should be greater"),
])
def test_values_that_mean_nothing_are_one_line(tmp_path, text, expected):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert msg.startswith(str(p)) and expected in msg and "\n" not in msg and len(msg) < 400, msg


def test_targets_of_the_configs_own_models_are_accepted(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("models:\n  mine: {path: /data/ckpt}\ntargets:\n  mine: {max_ttft_ms: 50}\n  gpt2: {max_ttft_ms: 1}\n")
    assert load_config(p).targets["mine"].max_ttft_ms == 50
