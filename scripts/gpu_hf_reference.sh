#!/usr/bin/env bash
# The HF engine's GPU reference runs (reports/hf_qwen2.5-3b_h100.*): Qwen2.5-3B, random weights, one GPU,
# plain generate and static cache + torch.compile. Usage: bash scripts/gpu_hf_reference.sh OUTDIR
set -uo pipefail
out=${1:?usage: gpu_hf_reference.sh OUTDIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 MM_ORCH_CACHE=${MM_ORCH_CACHE:-/tmp/mm_orch_cache}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$out/nvidia-smi.txt"
for mode in plain static; do
  flags=(); [ "$mode" = static ] && flags=(--static-cache)
  timeout "${MODE_TIMEOUT:-280}" python3 -m mm_orch.main --benchmark --model qwen2.5-3b --config config/gpu.yaml \
    --benchmark-output "/tmp/hf_$mode" --no-progress "${flags[@]}" 2>&1 | tee "$out/$mode.log"
  echo "exit[$mode]=${PIPESTATUS[0]}"
  cp /tmp/hf_$mode/*.json "$out/$mode.json" 2>/dev/null
done
