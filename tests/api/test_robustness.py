"""No body gets a 5xx, and a true server fault is a JSON 500 on a connection that stays open."""

from __future__ import annotations

import threading
import time

import pytest

from tests.api.conftest import free_port

HUGE = "1" + "0" * 400  # beyond float range: int -> float overflows

# Every numeric setting a body may carry, as a JSON path.
NUMERIC = [
    "benchmark.latency.test_runs", "benchmark.latency.warmup_runs", "benchmark.latency.output_length",
    "benchmark.latency.input_lengths[]", "benchmark.latency.output_lengths[]", "benchmark.memory.output_length",
    "benchmark.throughput.duration_seconds", "benchmark.throughput.tokens_per_request",
    "benchmark.throughput.min_requests", "benchmark.throughput.concurrent_requests[]",
    "benchmark.throughput.batch_sizes[]", "engine.seed", "engine.vllm.tensor_parallel_size",
    "engine.vllm.pipeline_parallel_size", "engine.vllm.max_model_len", "engine.vllm.max_num_seqs",
    "engine.vllm.cpu_kvcache_space_gb", "engine.vllm.gpu_memory_utilization", "engine.openai.timeout_s",
    "optimal_sampling.iterations", "optimal_sampling.sync_every", "optimal_sampling.fixed_alpha",
    "targets.tiny-qwen2.max_ttft_ms",
]


def _raw_body(path: str, literal: str) -> str:
    """The request body as JSON text, with `literal` (not necessarily valid for json.dumps) at `path`."""
    keys = path.removesuffix("[]").split(".")
    value = f"[{literal}]" if path.endswith("[]") else literal
    for key in reversed(keys):
        value = f'{{"{key}": {value}}}'
    return f'{{"model_name": "tiny-qwen2", "test_types": ["latency"], "overrides": {value}}}'


def _post_raw(client, text: str):
    return client.post("/api/benchmark", content=text, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("path", NUMERIC)
def test_an_integer_beyond_float_range_is_422_naming_the_field(client, path):
    r = _post_raw(client, _raw_body(path, HUGE))
    assert r.status_code == 422, r.text
    assert path.removesuffix("[]") in r.json()["detail"] and "401 digits is out of range" in r.json()["detail"]
    assert client.get("/api/health").status_code == 200  # same keep-alive connection, still served


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_422(client, literal):
    for path in ("benchmark.throughput.duration_seconds", "targets.tiny-qwen2.max_ttft_ms"):
        r = _post_raw(client, _raw_body(path, literal))
        assert r.status_code == 422 and "is not a finite number" in r.json()["detail"], r.text


def test_other_unparsable_numbers_are_4xx_with_a_reason(client):
    r = _post_raw(client, _raw_body("engine.seed", "1" * 4000))  # as big as the test server's body limit allows
    assert r.status_code == 422 and "4000 digits is out of range" in r.json()["detail"]
    r = _post_raw(client, _raw_body("engine.seed", "1e999999"))  # a float literal that is infinite
    assert r.status_code == 422, r.text


def test_a_fault_in_a_route_is_a_json_500_and_the_connection_survives(tmp_path):
    """A route that raises (injected: no body can make ours fail) on a real uvicorn server over loopback."""
    import httpx
    import uvicorn

    from mm_orch.api.app import create_app
    from mm_orch.config import Config

    app = create_app(Config(), tmp_path)

    def explode() -> dict:
        raise RuntimeError("disk on fire")

    app.add_api_route("/api/explode", explode)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            deadline = time.monotonic() + 30
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            for _ in range(3):  # each fault answered, and the next request goes through on the same client
                r = c.get("/api/explode")
                assert r.status_code == 500 and r.headers["content-type"] == "application/json"
                assert r.json() == {"detail": "internal error; the server log has the details"}
                assert "disk on fire" not in r.text  # the cause goes to the log, not to the client
                assert r.headers.get("connection") != "close"
                assert c.get("/api/health").status_code == 200
            r = _post_raw(c, _raw_body("engine.seed", "1" * 5000))  # past Python's int-parsing digit limit
            assert r.status_code == 400, r.text
            assert "cannot be parsed as JSON (ValueError: Exceeds the limit" in r.json()["detail"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
