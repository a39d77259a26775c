#!/usr/bin/env bash
# Max rate at SLO (issue 23) against the in-process vLLM engine on one GPU: Qwen2.5-1.5B, dummy weights, checked
# by fixed-rate runs either side of the answer (scripts/slo_search_engine.py). Writes $OUT/slo_search_vllm_gpu.md.
#
#   OUT=/path bash scripts/gpu_slo_search.sh          # on the GPU machine, from the repository root
#
# SLO (default "--slo ttft_ms=100 --slo tpot_ms=20"), PCT (default 90), PYTHON (default python3).
set -u -o pipefail
PY=${PYTHON:-python3}
OUT=${OUT:?set OUT to the folder the report goes to}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
read -r -a SLO_ARGS <<< "${SLO:---slo ttft_ms=100 --slo tpot_ms=20}"
timeout 560 $PY scripts/slo_search_engine.py --engine vllm --model qwen2.5-1.5b --device cuda --pct "${PCT:-90}" \
    "${SLO_ARGS[@]}" --input-length 256 --output-length 128 --probe-seconds 6 --check-seconds 15 \
    --extra "--set engine.vllm.max_model_len=2048" --out "$OUT/slo_search_vllm_gpu.md"
