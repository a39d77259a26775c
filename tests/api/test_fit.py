"""Over HTTP a prompt or a length that cannot fit the model's context is a 422 at submission, not a failed job."""

from __future__ import annotations

from mm_orch.models import ensure_local_model

LONG = "The quick brown fox jumps over the lazy dog. " * 400


def test_api_refuses_what_cannot_fit_with_422(client):
    ensure_local_model("tiny-qwen2")
    bodies = {
        # the test server takes 4 KB bodies: a text prompt of 2,000 characters against a context of 512
        "test_prompts prompt 0 'The quick brown fox": {"engine": "vllm", "overrides": {
            "test_prompts": {"short": [LONG[:2000]]}, "engine": {"vllm": {"max_model_len": 512}}}},
        "benchmark.latency.input_lengths: 5000 prompt + 4 output tokens exceed tiny-qwen2's context of 4096":
            {"overrides": {"benchmark": {"latency": {"input_lengths": [5000]}}}},
        "benchmark.latency.input_lengths: 600 prompt + 4 output tokens exceed tiny-qwen2's context of 512":
            {"engine": "vllm", "overrides": {"benchmark": {"latency": {"input_lengths": [600]}},
                                             "engine": {"vllm": {"max_model_len": 512}}}},
    }
    for named, body in bodies.items():
        r = client.post("/api/benchmark", json={"model_name": "tiny-qwen2", "test_types": ["latency"], **body})
        assert r.status_code == 422 and named in r.json()["detail"], r.text
