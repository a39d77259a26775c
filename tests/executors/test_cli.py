"""Several jobs from one command on this machine (--executor local), and the multi-job flags' errors."""

from __future__ import annotations

import json

import pytest

from mm_orch.config import Config
from mm_orch.errors import ConfigError
from mm_orch.executors.devices import job_gpus, visible_gpus
from mm_orch.main import main
from tests.inprocess import run_main


def test_two_models_run_one_after_another(quick_config_path, tmp_path):
    r = run_main("--benchmark", "--model", "tiny-qwen2,tiny-qwen2-small", "--tests", "latency", "--config",
                 quick_config_path, "--benchmark-output", tmp_path, "--no-markdown", "--check-targets")
    assert r.returncode == 0, r.stderr
    assert "job 1/2: tiny-qwen2 on hf" in r.stderr and "job 2/2: tiny-qwen2-small on hf" in r.stderr
    reports = sorted(json.loads(p.read_text())["model_name"] for p in tmp_path.glob("*.json"))
    assert reports == ["tiny-qwen2", "tiny-qwen2-small"]
    for p in tmp_path.glob("*.json"):
        lat = json.loads(p.read_text())["latency"]
        assert lat["ttft_ms"] > 0 and lat["tokens_per_second"] > 0


@pytest.mark.parametrize(("args", "message"), [
    (["--executor", "ray", "--ray-address", "http://head:6379"], "--ray-address 'http://head:6379': not a Ray address"),
    (["--ray-address", "head:6379"], "--ray-address applies to --executor ray"),
    (["--model", "tiny-qwen2,tiny-qwen2-small", "--baseline", "b.json"], "--baseline gates one model on one engine"),
    (["--model", "tiny-qwen2,no-such-model"], "unknown model 'no-such-model'"),
    (["--model", "tiny-qwen2", "--engine", "hf,nope"], "--engine: unknown engine 'nope'"),
    (["--model", "tiny-qwen2,tiny-qwen2-small", "--gpus", "1"], "--gpus: 1 GPU(s) asked, but this machine has no GPUs"),
    (["--model", "tiny-qwen2,tiny-qwen2-small", "--gpus", "-1"], "--gpus must be >= 0, got -1"),
], ids=["bad-address", "address-without-ray", "baseline", "model", "engine", "gpus", "negative-gpus"])
def test_bad_multi_job_flags_exit_2_before_running(args, message, capsys, monkeypatch, quick_config_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert main(["--benchmark", "--config", str(quick_config_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(("env", "ids"), [("0,1", ["0", "1"]), ("GPU-3f2a, 2", ["GPU-3f2a", "2"]), ("", []),
                                          ("-1", [])])
def test_visible_gpus_follow_cuda_visible_devices(monkeypatch, env, ids):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", env)
    assert visible_gpus() == ids


def test_a_jobs_gpus_default_to_its_parallel_layout():
    vllm = Config.model_validate({"engine": {"name": "vllm", "device": "cuda",
                                             "vllm": {"tensor_parallel_size": 2, "pipeline_parallel_size": 2}}})
    assert job_gpus(None, vllm, 8, "here") == 4
    assert job_gpus(None, Config.model_validate({"engine": {"device": "auto"}}), 8, "here") == 1
    assert job_gpus(None, Config.model_validate({"engine": {"device": "auto"}}), 0, "here") == 0
    assert job_gpus(None, Config.model_validate({"engine": {"device": "cpu"}}), 8, "here") == 0
    with pytest.raises(ConfigError, match="gpus: 4 GPU\\(s\\) asked, but here has 2 GPU\\(s\\) for one job"):
        job_gpus(None, vllm, 2, "here")
    with pytest.raises(ConfigError, match="gpus: 0 GPUs for a job with engine.device cuda"):
        job_gpus(0, vllm, 8, "here")
