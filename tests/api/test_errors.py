"""Each 4xx against a real server: a clear message naming the culprit, never a 500."""

from __future__ import annotations

import pytest

from tests.api.conftest import FAST_JOB, SLOW_JOB, wait_for


def _post(client, body: dict):
    return client.post("/api/benchmark", json=body)


def test_unknown_job_is_404(client):
    for r in (client.get("/api/benchmark/nope"), client.delete("/api/benchmark/0123456789abcdef0123456789abcdef")):
        assert r.status_code == 404 and "no job with id" in r.json()["detail"]


@pytest.mark.parametrize(("body", "named"), [
    ({"model_name": "tiny-qwen2", "test_types": ["latency", "speed"]}, "test_types.1"),
    ({"model_name": "tiny-qwen2", "test_types": []}, "test_types"),
    ({"model_name": "tiny-qwen2", "colour": "red"}, "colour: unknown field"),
    ({"model_name": 7}, "model_name"),
    ({"model_name": "tiny-qwen2", "overrides": {"benchmark": {"latency": {"test_runs": 0}}}},
     "benchmark.latency.test_runs"),
    ({"model_name": "tiny-qwen2", "overrides": {"benchmark": {"latency": {"speed": 1}}}},
     "overrides.benchmark.latency.speed: unknown field"),
    ({"model_name": "tiny-qwen2", "overrides": {"models": {"x": {"path": "/etc"}}}}, "overrides.models: unknown field"),
    ({"model_name": "tiny-qwen2", "overrides": {"benchmark": {"report": {"output_dir": "/tmp/x"}}}},
     "overrides.benchmark.report: unknown field"),
    ({"model_name": "tiny-qwen2", "overrides": {"benchmark": {"throughput": {"duration_seconds": 1e6}}}},
     "throughput.duration_seconds: 1e+06 exceeds the server's cap api.max_duration_seconds"),
    ({"model_name": "tiny-qwen2", "overrides": {"benchmark": {"latency": {"output_lengths": [99999]}}}},
     "api.max_output_length"),
    ({"model_name": "tiny-qwen2", "engine": "warp-drive"}, "engine: unknown engine 'warp-drive'"),
    ({"model_name": "tiny-qwen2", "overrides": {"engine": {"name": "warp"}}}, "overrides.engine.name"),
    ({"model_name": "no-such-model"}, "model_name: unknown model 'no-such-model'"),
    ({"model_name": "/etc"}, "never file system paths"),
    ({"model_name": "../../tmp/model"}, "unknown model '../../tmp/model'"),
    ({"model_name": "tiny-qwen2", "overrides": {"optimal_sampling": {"theta_model": "/root/model"}}},
     "overrides.optimal_sampling.theta_model: unknown model"),
    # values that mean nothing (issue 21): counts are integers, bounds positive, target keys are models
    ({"model_name": "tiny-qwen2", "overrides": {"benchmark": {"latency": {"test_runs": True}}}},
     "overrides.benchmark.latency.test_runs: Input should be a valid integer"),
    ({"model_name": "tiny-qwen2", "overrides": {"benchmark": {"throughput": {"batch_sizes": ["2"]}}}},
     "overrides.benchmark.throughput.batch_sizes.0: Input should be a valid integer"),
    ({"model_name": "tiny-qwen2", "overrides": {"benchmark": {"throughput": {"duration_seconds": 5e-324}}}},
     "duration_seconds: Input should be greater than or equal to 0.01"),
    ({"model_name": "tiny-qwen2", "overrides": {"targets": {"tiny-qwen2": {"max_ttft_ms": -1}}}},
     "overrides.targets.tiny-qwen2.max_ttft_ms: Input should be greater than 0"),
    ({"model_name": "tiny-qwen2", "overrides": {"targets": {"/etc": {"max_ttft_ms": 5}}}},
     "targets./etc: not a model this config knows"),
    ({"model_name": "tiny-qwen2", "overrides": {"engine": {"vllm": {"cpu_kvcache_space_gb": 1e6}}}},
     "engine.vllm.cpu_kvcache_space_gb"),
    ({"model_name": "tiny-qwen2", "overrides": {"engine": {"vllm": {"max_model_len": 2**32}}}},
     "engine.vllm.max_model_len"),
])
def test_bad_request_is_422_naming_the_field(client, body, named):
    r = _post(client, body)
    assert r.status_code == 422, r.text
    assert named in r.json()["detail"]


def test_invalid_json_and_bad_query_are_422(client):
    r = client.post("/api/benchmark", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "json" in r.json()["detail"].lower()
    r = client.post("/api/benchmark", content=b"\x80t", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["detail"].startswith("body: cannot be parsed as JSON")
    r = client.get("/api/benchmarks", params={"limit": 0})
    assert r.status_code == 422 and r.json()["detail"].startswith("query.limit")
    r = client.get("/api/benchmarks", params={"status": "done"})
    assert r.status_code == 422 and "query.status" in r.json()["detail"]


def test_body_too_large_is_413(client):
    big = {**FAST_JOB, "overrides": {"test_prompts": {"short": ["x" * 5000]}}}
    r = _post(client, big)
    assert r.status_code == 413 and "api.max_body_bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit holds for streamed bodies too
        yield b'{"model_name": "tiny-qwen2", "test_types": ["latency"], "x": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    r = client.post("/api/benchmark", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_full_queue_is_429(client):
    running = _post(client, SLOW_JOB).json()["job_id"]
    wait_for(client, running, {"running"})
    queued = [_post(client, FAST_JOB) for _ in range(3)]  # api.max_queue: 3 in the test config
    assert [r.status_code for r in queued] == [202, 202, 202]
    r = _post(client, FAST_JOB)
    assert r.status_code == 429 and "api.max_queue=3" in r.json()["detail"]
    assert r.headers["Retry-After"]
    for job_id in [running, *(q.json()["job_id"] for q in queued)]:
        assert client.delete(f"/api/benchmark/{job_id}").status_code == 200
    assert _post(client, FAST_JOB).status_code == 202  # room again


def test_wrong_method_is_405_listing_every_allowed_method(client):
    r = client.request("OPTIONS", "/api/benchmark/abc")
    assert r.status_code == 405 and r.headers["Allow"] == "DELETE, GET"


def test_null_override_sections_mean_not_given(client):
    body = {**FAST_JOB, "overrides": {"engine": None, "benchmark": {"memory": None, "latency": {"test_runs": 1}}}}
    r = _post(client, body)
    assert r.status_code == 202, r.text
    assert client.delete(f"/api/benchmark/{r.json()['job_id']}").status_code == 200
