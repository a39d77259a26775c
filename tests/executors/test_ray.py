"""Jobs through a real local Ray cluster: a CLI run over two models, and the job service with --executor ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.api.conftest import FAST_JOB, SERVER_YAML, SLOW_JOB, Server, wait_for
from tests.executors.conftest import RAY_ENV

pytestmark = pytest.mark.slow

TINY_YAML = """
benchmark:
  latency: {warmup_runs: 1, test_runs: 2, input_lengths: [16], output_lengths: [4], output_length: 6}
  report: {include_system_info: true}
engine: {device: cpu}
test_prompts:
  short: ["What is the capital of France?"]
"""


def test_cli_runs_two_models_as_ray_tasks(ray_head, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_YAML)
    out = tmp_path / "reports"
    cmd = [sys.executable, "-m", "mm_orch.main", "--benchmark", "--executor", "ray", "--ray-address", ray_head,
           "--model", "tiny-qwen2,tiny-qwen2-small", "--tests", "latency,memory", "--config", str(config),
           "--benchmark-output", str(out), "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env={**os.environ, **RAY_ENV})
    print(r.stderr)  # the job table, shown with -s
    assert r.returncode == 0, r.stderr
    assert f"2 job(s) submitted to Ray at {ray_head}" in r.stderr
    reports = {json.loads(p.read_text())["model_name"]: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert sorted(reports) == ["tiny-qwen2", "tiny-qwen2-small"]
    for name, rep in reports.items():
        lat = rep["latency"]
        assert lat["ttft_ms"] > 0 and lat["tokens_per_second"] > 0 and lat["e2e_latency_ms"] >= lat["ttft_ms"]
        assert rep["memory"]["model_load_gb"] > 0
        assert rep["config"]["benchmark"]["latency"]["output_length"] == 6  # the CLI's config reached the task
        assert list(out.glob(f"{name}_hf_*.md")), "no Markdown summary next to the report"
    # different models really ran: the small one has fewer layers
    assert reports["tiny-qwen2-small"]["model_info"]["num_parameters"] < reports["tiny-qwen2"]["model_info"][
        "num_parameters"]


def test_job_service_runs_jobs_as_ray_tasks(ray_head, tmp_path):
    config = tmp_path / "server.yaml"
    config.write_text(SERVER_YAML.replace("api: {max_queue: 3,", "api: {slots: 2, max_queue: 3,"))
    srv = Server(tmp_path / "data", config, env=RAY_ENV, args=("--executor", "ray", "--ray-address", ray_head))
    srv.start()
    try:
        with srv.client() as c:
            assert c.get("/api/health").json()["slots"] == 2
            r = c.post("/api/benchmark", json={**FAST_JOB, "gpus": 1})
            assert r.status_code == 422
            assert r.json()["detail"] == "gpus: 1 GPU(s) asked, but this server (ray executor) has no GPUs"
            slow = c.post("/api/benchmark", json=SLOW_JOB).json()["job_id"]
            fast = c.post("/api/benchmark", json={**FAST_JOB, "test_types": ["latency", "throughput"]}).json()["job_id"]
            done = wait_for(c, fast, {"succeeded", "failed"}, timeout=240)
            assert done["status"] == "succeeded", done["error"]
            assert done["result"]["latency"]["ttft_ms"] > 0 and done["result"]["latency"]["tokens_per_second"] > 0
            assert done["result"]["throughput"]["single_request_tps"] > 0
            assert (srv.data_dir / "reports" / f"{fast}.json").is_file()  # written by the server, not the node
            assert c.get(f"/api/benchmark/{slow}").json()["status"] == "running"
            assert c.delete(f"/api/benchmark/{slow}").json()["status"] == "cancelled"
            time.sleep(1.0)
            job = c.get(f"/api/benchmark/{slow}").json()
            assert job["status"] == "cancelled" and job["error"] == "cancelled by request"
    finally:
        srv.stop()
