"""Telemetry through whole runs (mm_orch.main in-process): the mock server's /metrics scraped through the phases,
the token check exact against the client's counts, per rate of a saturation curve; a dead endpoint only warns;
GPU telemetry on a fake NVML (no GPU here) with J per output token per phase; the timeline and its plot."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mm_orch.main import main
from mm_orch.mock.server import MockProcess, MockTiming
from mm_orch.report.model import Report
from mm_orch.telemetry.phases import Served, phase_key
from mm_orch.telemetry.server_windows import combined_check
from mm_orch.telemetry.timeline import in_flight, kv_held
from tests.telemetry.fake_nvml import FakeNvml

QUICK = ["--set", "benchmark.latency.warmup_runs=1", "--set", "benchmark.latency.test_runs=1",
         "--set", "benchmark.latency.input_lengths=[16]", "--set", "benchmark.latency.output_lengths=[8]",
         "--set", "benchmark.latency.output_length=8", "--set", "benchmark.load.output_length=8",
         "--no-progress"]


@pytest.fixture(scope="module")
def mock():
    with MockProcess(MockTiming(ttft_ms=10, itl_ms=1, tokens_per_event=2)) as m:
        yield m


def run(tmp_path: Path, *args: str) -> tuple[int, Report | None]:
    rc = main(["--benchmark", "--benchmark-output", str(tmp_path), *QUICK, *args])
    reports = sorted(tmp_path.glob("*.json"))
    return rc, Report.model_validate_json(reports[-1].read_text()) if reports else None


def openai(mock: MockProcess) -> list[str]:
    return ["--engine", "openai", "--base-url", mock.base_url, "--model", "mock", "--tokenizer", "tiny-qwen2"]


def test_server_metrics_on_by_default_and_the_token_counts_agree_exactly(mock, tmp_path):
    rc, r = run(tmp_path, *openai(mock), "--tests", "latency,load", "--num-requests", "30", "--request-rate", "40",
                "--server-metrics-interval", "0.2")
    assert rc == 0
    sm = r.server_metrics
    assert sm is not None and sm.server == "vllm" and sm.failed_scrapes == 0 and sm.scrapes >= 4
    assert [w.key for w in sm.windows] == ["latency", "load"]
    lat, load = sm.windows
    # latency: warm-up and measured requests through engine.stream (the tally); load: the 30 scheduled only
    assert load.token_check.client_output_tokens == 30 * 8 == load.token_check.server_output_tokens
    assert load.token_check.server_prompt_tokens == load.token_check.client_prompt_tokens > 30
    assert lat.token_check.server_output_tokens == lat.token_check.client_output_tokens > 0
    assert lat.token_mismatch_pct == load.token_mismatch_pct == 0
    c = sm.token_check
    assert c.within_tolerance and c.output_mismatch_pct == 0 and c.prompt_mismatch_pct == 0
    assert c.client_output_tokens == lat.token_check.client_output_tokens + 240
    assert sm.summary.requests_running_max >= 1 and sm.summary.preemptions == 0
    assert sm.series["vllm:num_requests_running"].timeline and sm.series["vllm:generation_tokens"].delta > 240
    assert not [w for w in r.warnings if "server metrics" in w or "token" in w]
    # the run on one axis: phases, in flight, TTFT; the plot and the Markdown beside the report
    tl = r.timeline
    assert [p.key for p in tl.phases] == ["latency", "load"] and tl.phases[1].requests == 30
    assert tl.phases[1].window_start_s > tl.phases[1].start_s and max(tl.in_flight) >= 1
    assert sum(v is not None for v in tl.ttft_from_arrival_ms) == 30 and tl.kv_cache_gib is None  # remote model
    stem = sorted(tmp_path.glob("*.json"))[-1].with_suffix("")
    assert Path(f"{stem}_timeline.png").read_bytes()[:4] == b"\x89PNG"
    md = Path(f"{stem}.md").read_text()
    assert "## Server metrics" in md and "within 1 %" in md and "_timeline.png" in md


def test_each_saturation_rate_gets_its_server_figures(mock, tmp_path):
    rc, r = run(tmp_path, *openai(mock), "--tests", "load", "--request-rate", "sweep", "--sweep-points", "2",
                "--num-requests", "12", "--server-metrics-interval", "0.2")
    assert rc == 0
    keys = [w.key for w in r.server_metrics.windows]
    assert keys[0] == "saturation_burst" and len(keys) == 3 and all(k.startswith("saturation_") for k in keys)
    checked = [w for w in r.server_metrics.windows if w.token_check is not None]
    for w in checked:
        assert w.token_check.server_output_tokens == w.token_check.client_output_tokens == 12 * 8, w.name
    # a window whose start scrape came too late (a machine too busy to scrape within the schedule's 20 ms lead)
    # has no check, and says so; never a wrong one
    assert len(checked) >= 2 and all(w.note for w in r.server_metrics.windows if w.token_check is None)
    assert r.server_metrics.summary.token_mismatch_pct == 0


def test_a_dead_endpoint_is_a_warning_never_a_failed_run(mock, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/metrics"  # nothing listens once closed
    rc, r = run(tmp_path, *openai(mock), "--tests", "latency", "--server-metrics", dead)
    assert rc == 0 and r.latency is not None
    sm = r.server_metrics
    assert sm.scrapes == 0 and sm.failed_scrapes >= 2 and sm.url == dead
    assert any("no scrape succeeded" in w for w in r.warnings)


def test_nothing_is_scraped_or_sampled_unless_asked(mock, tmp_path):
    rc, r = run(tmp_path, *openai(mock), "--tests", "latency", "--no-server-metrics")
    assert rc == 0 and r.server_metrics is None and r.gpu_telemetry is None
    rc, r = run(tmp_path / "hf", "--tests", "latency", "--device", "cpu")  # hf on CPU: no server, no CUDA
    assert rc == 0 and r.server_metrics is None and r.gpu_telemetry is None
    assert r.timeline is not None and r.timeline.kv_cache_gib and max(r.timeline.kv_cache_gib) > 0


def test_server_metrics_without_a_server_is_a_usage_error(tmp_path, capsys):
    rc, r = run(tmp_path, "--tests", "latency", "--device", "cpu", "--server-metrics")
    assert rc == 2 and r is None and "talks to no server" in capsys.readouterr().err


def test_gpu_telemetry_on_a_fake_nvml_gives_joules_per_token_per_phase(tmp_path, monkeypatch):
    start = time.perf_counter()
    fake = FakeNvml(lambda: time.perf_counter() - start)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    rc, r = run(tmp_path, "--tests", "latency,throughput", "--device", "cpu", "--gpu-telemetry", "50",
                "--set", "benchmark.throughput.duration_seconds=0.3", "--set", "benchmark.throughput.batch_sizes=[2]",
                "--set", "benchmark.throughput.concurrent_requests=[2]")
    assert rc == 0
    g = r.gpu_telemetry
    assert g.available and g.hz == 50 and len(g.gpus) == 2 and g.samples > 10
    assert [p.key for p in g.phases] == ["latency", "throughput_single", "throughput_2_concurrent",
                                        "throughput_batch_2"]
    for p in g.phases:
        assert p.output_tokens > 0 and p.energy_j > 0 and p.j_per_output_token == pytest.approx(
            p.energy_j / p.output_tokens)
        assert p.energy_source == "mixed"  # the fake's GPU 0 has the counter, GPU 1 not
    assert g.j_per_output_token == pytest.approx(g.energy_j / g.output_tokens)
    assert g.output_tokens == sum(p.output_tokens for p in r.timeline.phases)
    assert fake.shutdowns == 1
    stem = sorted(tmp_path.glob("*.json"))[-1].with_suffix("")
    md = Path(f"{stem}.md").read_text()
    assert "## GPU energy per phase" in md and "| throughput: batch 2 |" in md
    assert Path(f"{stem}_timeline.png").stat().st_size > 20_000
    data = json.loads(sorted(tmp_path.glob("*.json"))[-1].read_text())
    assert "gpu_telemetry.j_per_output_token" not in data  # catalogue keys are slots, not fields


def test_gpu_telemetry_asked_without_nvml_says_why(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    rc, r = run(tmp_path, "--tests", "latency", "--device", "cpu", "--gpu-telemetry")
    assert rc == 0 and r.gpu_telemetry is not None and not r.gpu_telemetry.available
    assert "not importable" in r.gpu_telemetry.reason and any("GPU telemetry" in w for w in r.warnings)


def test_in_flight_and_kv_held_on_a_grid():
    a = Served(start_ns=0, first_ns=100, end_ns=200, input_tokens=10, output_tokens=4)
    b = Served(start_ns=150, first_ns=160, end_ns=400, input_tokens=20, output_tokens=24)
    grid = np.array([0.0, 50, 100, 150, 199, 200, 300, 400])
    assert list(in_flight([a, b], grid)) == [1, 1, 1, 2, 2, 1, 1, 0]
    kv = kv_held([a, b], grid, 2)
    # a: 10 prompt tokens from 0, +4 over [100, 200); b: 20 from 150, +24 over [160, 400)
    assert kv[0] == 20 and kv[2] == 20 and kv[3] == 2 * (10 + 2 + 20)
    assert kv[6] == pytest.approx(2 * (20 + 24 * 140 / 240)) and kv[7] == 0


def test_phase_keys_and_the_combined_check():
    assert phase_key("load: 200 requests") == "load"
    assert phase_key("throughput: 4 concurrent") == "throughput_4_concurrent"
    assert phase_key("saturation 12.5 req/s: 40 requests") == "saturation_12_5_req_s"
    from mm_orch.report.telemetry import TokenCountCheck

    checks = [TokenCountCheck(server_prompt_tokens=100, client_prompt_tokens=100, server_output_tokens=50,
                              client_output_tokens=50, prompt_series="vllm:prompt_tokens"),
              TokenCountCheck(server_prompt_tokens=100, client_prompt_tokens=100, server_output_tokens=53,
                              client_output_tokens=50)]
    c = combined_check(checks)
    assert c.prompt_mismatch_pct == 0 and c.output_mismatch_pct == pytest.approx(3.0)
    assert not c.within_tolerance and "output tokens: server 103 vs client 100 (+3.00 %)" in c.warning
