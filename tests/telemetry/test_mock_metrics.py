"""The mock server's /metrics: vLLM's names, values that move exactly with the requests it served."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mm_orch.mock.server import MockProcess, MockTiming
from mm_orch.telemetry.server_metrics import probe

MODEL = "mock"


def scrape(m: MockProcess) -> dict[str, float]:
    """Family name -> value (histograms: their count and sum) of the mock's /metrics now."""
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{m.port}/metrics").text):
        for s in fam.samples:
            assert s.labels.get("model_name", MODEL) == MODEL
            if s.name.endswith("_bucket"):
                continue
            out[s.name] = s.value
    return out


def stream(m: MockProcess, prompt: list[int], max_tokens: int) -> dict:
    body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}}
    usage = None
    with httpx.stream("POST", f"{m.base_url}/completions", json=body, timeout=30) as r:
        for line in r.iter_lines():
            if line.startswith("data: {") and '"usage"' in line:
                import json

                usage = json.loads(line[6:])["usage"]
    return usage


@pytest.fixture(scope="module")
def mock():
    with MockProcess(MockTiming(ttft_ms=5, itl_ms=1, tokens_per_event=3, max_concurrency=2)) as m:
        yield m


def test_counters_move_exactly_with_the_requests(mock):
    before = scrape(mock)
    assert before["vllm:num_preemptions_total"] == 0 and before["vllm:num_requests_running"] == 0
    usages = [stream(mock, list(range(5 + i)), 7 + i) for i in range(4)]
    after = scrape(mock)
    d = {k: after[k] - before.get(k, 0.0) for k in after}
    assert d["vllm:prompt_tokens_total"] == sum(u["prompt_tokens"] for u in usages) == 5 + 6 + 7 + 8
    assert d["vllm:generation_tokens_total"] == sum(u["completion_tokens"] for u in usages) == 7 + 8 + 9 + 10
    assert d["vllm:request_success_total"] == 4
    assert d["vllm:time_to_first_token_seconds_count"] == 4 and d["vllm:e2e_request_latency_seconds_count"] == 4
    assert 4 * 0.005 <= d["vllm:time_to_first_token_seconds_sum"] < 4 * 0.5
    assert after["vllm:num_requests_running"] == after["vllm:num_requests_waiting"] == 0
    assert after["vllm:kv_cache_usage_perc"] == 0


def test_gauges_show_running_and_waiting_under_the_cap(mock):
    """max_concurrency 2: of 5 long requests at once, 2 run and 3 wait; KV usage is running / cap."""
    seen: list[dict[str, float]] = []
    threads = [threading.Thread(target=stream, args=(mock, [1, 2, 3], 300)) for _ in range(5)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s = scrape(mock)
        seen.append(s)
        if s["vllm:num_requests_waiting"] == 3:
            break
        time.sleep(0.01)
    for t in threads:
        t.join()
    s = seen[-1]
    got = (s["vllm:num_requests_running"], s["vllm:num_requests_waiting"], s["vllm:kv_cache_usage_perc"])
    assert got == (2, 3, 1.0)
    assert scrape(mock)["vllm:num_requests_running"] == 0


def test_probe_finds_it_and_the_api_key_does_not_guard_it():
    with MockProcess(MockTiming(api_key="k")) as m:
        found = probe(f"http://127.0.0.1:{m.port}/metrics")
        assert found.ok and found.server == "vllm"
        assert httpx.get(f"{m.base_url}/models").status_code == 401


def test_a_dropped_stream_is_not_a_success():
    with MockProcess(MockTiming(ttft_ms=1, itl_ms=1, drop_fraction=1.0)) as m:
        with pytest.raises(httpx.HTTPError):
            stream(m, [1, 2], 10)
        asyncio.run(asyncio.sleep(0.1))
        s = scrape(m)
        assert s["vllm:request_success_total"] == 0 and s["vllm:generation_tokens_total"] == 1
        assert s["vllm:num_requests_running"] == 0 and s["vllm:prompt_tokens_total"] == 2
