"""TTFT against context length on the real tiny-qwen2, and its plot and table beside the report."""

import json

import pytest

from mm_orch.errors import ConfigError
from mm_orch.settings.studies import ContextLengthSettings
from mm_orch.studies.context_length import context_lengths, run_context_length


def test_lengths_double_up_to_the_limit():
    assert context_lengths(128, 4092) == [128, 256, 512, 1024, 2048, 4092]
    assert context_lengths(128, 128) == [128]
    with pytest.raises(ConfigError, match="exceeds"):
        context_lengths(256, 100)


def test_context_length_on_hf(hf_engine):
    r = run_context_length(hf_engine, hf_engine.info, ContextLengthSettings(start=16, max=64, runs=2,
                                                                            output_length=2))
    assert [p.context_tokens for p in r.points] == [16, 32, 64] and r.max_context == 4096
    for p in r.points:
        assert p.failed == 0 and p.ttft.count == 2 and p.ttft_ms > 0
        assert p.prefill_tokens_per_second == pytest.approx(p.context_tokens / (p.ttft_ms / 1e3))
    with pytest.raises(ConfigError, match="exceed tiny-qwen2's context of 4096"):
        run_context_length(hf_engine, hf_engine.info, ContextLengthSettings(start=16, max=4095, output_length=2))
    full = ContextLengthSettings(start=1024, runs=1, output_length=2)
    assert [p.context_tokens for p in run_context_length(hf_engine, hf_engine.info, full).points] == [
        1024, 2048, 4094]


def test_context_length_cli_writes_curve_and_table(tmp_path, capsys):
    from mm_orch.main import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("engine: {device: cpu}\nstudies:\n  context_length: {start: 8, max: 32, runs: 1}\n")
    assert main(["--benchmark", "--config", str(cfg), "--context-length", "--no-progress",
                 "--benchmark-output", str(tmp_path / "out")]) == 0
    report = next((tmp_path / "out").glob("*.json"))
    data = json.loads(report.read_text())
    assert data["latency"] is None and [p["context_tokens"] for p in data["context_length"]["points"]] == [8, 16, 32]
    stem = report.with_suffix("")
    assert open(f"{stem}_context_length.png", "rb").read(4) == b"\x89PNG"
    md = open(f"{stem}_context_length.md").read()
    assert "| 32 |" in md and f"({stem.name}_context_length.png)" in md
    out = capsys.readouterr().out
    assert "context length -> TTFT ms: 8:" in out and f"study: {stem}_context_length.png" in out.replace("\n", "")
    from mm_orch.benchmark.reporter import load_report
    from mm_orch.report import catalogue

    typed = load_report(report)  # the section is read back through the model, its metrics from the catalogue
    values = catalogue.values(typed)
    assert values["context_length.32.ttft_ms"] == pytest.approx(typed.context_length.points[-1].ttft_ms)
    assert catalogue.metric("context_length.{tokens}.ttft_ms").direction == "lower"
