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
