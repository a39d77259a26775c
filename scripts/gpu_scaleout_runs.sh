#!/usr/bin/env bash
# The lent-GPU runs behind reports/optimal_sampling_heavy_h200*.md and reports/vllm_multi_gpu_h200.md,
# one phase per device call (kind nvidia-h200-x2; vLLM carried as .vw/c0..c2, see ../shared/tools/vllm-gpu).
#   bash scripts/gpu_scaleout_runs.sh check   # GPU tests, the step head probe, one-GPU step profiles per head
#   bash scripts/gpu_scaleout_runs.sh dual1   # dual engine, one GPU each: 3B+1.5B on GPU 0 || 32B+7B on GPU 1
#   bash scripts/gpu_scaleout_runs.sh dual2   # dual engine, theta on its own GPU; GPU tests
#   bash scripts/gpu_scaleout_runs.sh vllm1   # vLLM tensor parallel 1: 7B then 3B on GPU 0 || 32B on GPU 1
#   bash scripts/gpu_scaleout_runs.sh vllm2   # vLLM tensor parallel 2 (7B, 32B), pipeline parallel 2 (7B)
# Results go to $OUT (default ./gpu_out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
H="python3 scripts/optimal_sampling_heavy.py --load-format dummy --modes optimal_sampling,teacher_only --batches 2"
V="python3 scripts/vllm_gpu_bench.py --load-format dummy --capture-sizes 1,32"
case "${1:-}" in
  check)
    timeout 200 python3 -m pytest -q -m gpu tests/engines/optimal_sampling tests/engines/test_hf_static_loop.py \
      2>&1 | tail -5
    timeout 150 python3 scripts/dual_step_probe.py --head-only --out "$OUT/dual_head_probe.json" > "$OUT/head.log" 2>&1
    for head in auto torch; do
      timeout 100 $H --profile-only --head $head --out "$OUT/profile_head_$head" 2>&1 | grep "profile 32"
    done ;;
  dual1)
    (CUDA_VISIBLE_DEVICES=0 timeout 520 $H --configs 32/512,16/512,64/512,128/512 --profile --out "$OUT/heavy_3b_1gpu" \
      > "$OUT/dual1_gpu0.log" 2>&1) &
    (CUDA_VISIBLE_DEVICES=1 timeout 520 $H --teacher qwen2.5-32b --theta qwen2.5-7b --configs 32/512,64/512 \
      --out "$OUT/heavy_32b_1gpu" > "$OUT/dual1_gpu1.log" 2>&1) &
    wait ;;
  dual2)
    timeout 200 python3 -m pytest -q -m gpu tests/engines/optimal_sampling tests/engines/test_hf_static_loop.py 2>&1 | tail -5
    timeout 230 $H --theta-device cuda:1 --configs 32/512,64/512,128/512 --out "$OUT/heavy_3b_2gpu" \
      > "$OUT/dual2_3b.log" 2>&1
    timeout 200 $H --teacher qwen2.5-32b --theta qwen2.5-7b --theta-device cuda:1 --configs 32/512,64/512 \
      --out "$OUT/heavy_32b_2gpu" > "$OUT/dual2_32b.log" 2>&1 ;;
  vllm1)
    export PYTHONPATH=/tmp/site
    (CUDA_VISIBLE_DEVICES=0 timeout 540 $V --models qwen2.5-7b,qwen2.5-3b --out "$OUT/vllm_tp1_7b_3b.json" \
      > "$OUT/vllm1_gpu0.log" 2>&1) &
    (CUDA_VISIBLE_DEVICES=1 timeout 540 $V --models qwen2.5-32b --out "$OUT/vllm_tp1_32b.json" \
      > "$OUT/vllm1_gpu1.log" 2>&1) &
    wait ;;
  vllm2)
    export PYTHONPATH=/tmp/site
    timeout 200 $V --models qwen2.5-7b --tp 2 --fuse-allreduce-rms off --out "$OUT/vllm_tp2_7b.json" > "$OUT/vllm2.log" 2>&1
    timeout 230 $V --models qwen2.5-32b --tp 2 --fuse-allreduce-rms off --out "$OUT/vllm_tp2_32b.json" >> "$OUT/vllm2.log" 2>&1
    timeout 150 $V --models qwen2.5-7b --pp 2 --out "$OUT/vllm_pp2_7b.json" >> "$OUT/vllm2.log" 2>&1 ;;
  *) echo "usage: $0 check|dual1|dual2|vllm1|vllm2" >&2; exit 2 ;;
esac
ls -la "$OUT"
