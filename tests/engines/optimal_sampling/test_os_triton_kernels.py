"""The Triton kernels (decode attention, kl_symmetry's gap, the fused head) against their PyTorch paths: on CPU through
Triton's interpreter (a child process, see kernel_check.py), on CUDA directly (-m gpu)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mm_orch.engines.optimal_sampling import OptimalSamplingV1, fused_head
from mm_orch.engines.optimal_sampling.decoder import resolve_attention, resolve_head
from mm_orch.engines.optimal_sampling.head import StepParams
from mm_orch.errors import ConfigError

HAS_TRITON = importlib.util.find_spec("triton") is not None


@pytest.mark.skipif(not HAS_TRITON, reason="needs the triton package (its CPU interpreter)")
def test_kernels_equal_pytorch_paths_in_triton_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    script = Path(__file__).with_name("kernel_check.py")
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(res["kernel_errors"]) == 3 and max(res["kernel_errors"]) < 1e-5, res
    # the same bisection: at most one final bracket (2**-20) apart where a sum's rounding flips a sign
    assert len(res["bisection_gaps"]) == 2 and max(res["bisection_gaps"]) <= 2**-20, res
    fused = res["fused_head"]  # the fused head against the PyTorch head, sampled and greedy
    for t in (0.8, 0.0):
        assert fused[f"tokens_equal_t{t}"], fused
        assert fused[f"alpha_t{t}"] <= 2**-20 and fused[f"alpha_same_row_t{t}"] == 0.5, fused
        assert max(fused[f"{k}_t{t}"] for k in ("logq", "logp_theta", "logp_teacher")) < 1e-4, fused
        assert fused[f"stats_t{t}"] < 1e-4, fused  # relative above 1, absolute below
        for mode in ("teacher_only", "theta_only"):  # the single-model draw: same tokens, a = 1 / 0, NaN alike
            assert fused[f"{mode}_tokens_equal_t{t}"] and fused[f"{mode}_alpha_t{t}"], fused
            assert fused[f"{mode}_logp_t{t}"] < 1e-4 and fused[f"{mode}_nan_same_t{t}"], fused
    assert res["attention"] == "triton" and res["head"] == "triton" and res["same_tokens"], res
    assert res["max_logq_diff"] < 1e-4, res


@pytest.mark.parametrize("resolve, cpu_default, other, bad, unknown, needs", [
    (resolve_attention, "matmul", "sdpa", "flash", "unknown decode attention 'flash'",
     "attention 'triton' needs a CUDA device"),
    (resolve_head, "torch", "torch", "fast", "unknown step head 'fast'", "head 'triton' needs a CUDA device"),
])
def test_kernel_choices_are_checked(resolve, cpu_default, other, bad, unknown, needs):
    assert resolve("auto", "cpu") == cpu_default and resolve(other, "cuda") == other
    with pytest.raises(ConfigError, match=unknown):
        resolve(bad, "cpu")
    if os.environ.get("TRITON_INTERPRET") != "1":
        with pytest.raises(ConfigError, match=needs):
            resolve("triton", "cpu")


def test_fused_head_serves_the_unfiltered_steps_and_plans_the_bisection():
    assert fused_head.eligible(StepParams(8))  # kl_symmetry, no filter
    assert fused_head.eligible(StepParams(8, alpha_method="entropy", mode="teacher_only"))  # alpha unused
    assert not fused_head.eligible(StepParams(8, alpha_method="entropy"))
    assert not fused_head.eligible(StepParams(8, top_p=0.9)) and not fused_head.eligible(StepParams(8, top_k=5))
    # 20 steps, 2 per pass: 10 passes of 3 points; 3 per pass: 6 of 7 points, then 2 steps (3 points)
    assert fused_head.passes(20, 2) == [(3, 4.0**-i) for i in range(1, 11)]
    plan = fused_head.passes(20, 3)
    assert [k for k, _ in plan] == [7] * 6 + [3] and plan[-1][1] == 2.0**-20


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_triton_attention_matches_matmul_on_cuda():
    kw = dict(prompts=["Problem: 12 + 30. Answer: 42. Explain the steps:", "Say hello"],
              theta_prompts=["Problem: 12 + 30. Explain:", "Hello there"], max_tokens=300, temperature=0.9,
              seed=3, stop_at_eos=False, return_token_records=True)
    runs = {att: OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cuda", dtype="float32",
                                   attention=att) for att in ("auto", "matmul")}
    assert runs["auto"].decoder.attention == "triton"
    a, b = (r.generate(**kw) for r in runs.values())
    assert a.generated_ids == b.generated_ids
    diff = max(abs(x - y) for ra, rb in zip(a.token_records, b.token_records, strict=True)
               for x, y in zip(ra["logq"], rb["logq"], strict=True))
    assert diff < 1e-3
