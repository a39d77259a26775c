"""An engine added as a plug-in (tests/engines/tick_engine.py) runs through the config, the CLI and a whole
session without any other file knowing about it."""

from __future__ import annotations

import json

import pytest

import tests.engines.tick_engine  # noqa: F401  - registers the 'tick' engine, as any plug-in module does
from mm_orch.config import Config, apply_overrides, load_config
from mm_orch.engines.registry import plugins
from mm_orch.errors import ConfigError

SMALL = ["--set", "benchmark.latency.input_lengths=[8]", "--set", "benchmark.latency.output_lengths=[4]",
         "--set", "benchmark.latency.test_runs=2", "--set", "benchmark.latency.warmup_runs=0",
         "--set", "benchmark.latency.output_length=6", "--set", "benchmark.memory.output_length=4",
         "--set", "benchmark.throughput.duration_seconds=0.05", "--set", "benchmark.throughput.batch_sizes=[1]",
         "--set", "benchmark.throughput.concurrent_requests=[1]", "--set", "benchmark.throughput.tokens_per_request=4"]


def test_the_registry_validates_the_plugins_section():
    assert plugins()["tick"].settings.__name__ == "TickSettings"
    cfg = apply_overrides(Config(), {"engine": {"name": "tick", "tick": {"token_ms": 1}}})
    assert cfg.engine.section("tick").token_ms == 1.0 and cfg.engine.running()["tick"]["ttft_ms"] == 20.0
    with pytest.raises(ConfigError, match=r"engine.tick.token_ms: Input should be greater than or equal to 0"):
        apply_overrides(Config(), {"engine": {"tick": {"token_ms": -1}}})
    with pytest.raises(ConfigError, match=r"engine.tick.speed: unknown key"):
        load_config(None, ["engine.tick.speed=3"])


def test_its_flag_and_a_whole_cli_session(tmp_path, capsys):
    from mm_orch.cli.parser import build_parser
    from mm_orch.main import main

    assert "--tick-token-ms" in build_parser().format_help()
    code = main(["--benchmark", "--engine", "tick", "--tick-token-ms", "2", "--set", "engine.tick.ttft_ms=15",
                 "--benchmark-output", str(tmp_path), "--no-progress", "--no-markdown", *SMALL])
    out = capsys.readouterr().out
    assert code == 0 and "tiny-qwen2 on tick" in out
    (path,) = tmp_path.glob("tiny-qwen2_tick_*.json")
    data = json.loads(path.read_text())
    assert data["config"]["engine"] == {"name": "tick", "device": "auto", "dtype": "auto", "load_format": "auto",
                                        "seed": 0, "tick": {"ttft_ms": 15.0, "token_ms": 2.0}}
    # the engine's clock shows through the measurement: TTFT >= 15 ms, TPOT >= 2 ms (sleep never returns early)
    assert data["latency"]["ttft_ms"] >= 15 and data["latency"]["tpot_ms"] >= 2
    assert data["latency"]["scenarios"][0]["input_length"] == 8 and data["throughput"]["single_request_tps"] > 0
