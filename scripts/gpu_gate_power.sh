#!/usr/bin/env bash
# Issue 22's GPU table: how often the gate says FAIL / INCONCLUSIVE / PASS for the hf engine on Qwen2.5-3B
# (dummy weights, one GPU) unchanged and with a planted +5 % per-token slowdown (wall clock: the GPU's step).
#
#   WHEELS=.whl OUT=/path RUNS=5 bash scripts/gpu_gate_power.sh                        # records the baseline first
#   WHEELS=.whl OUT=/path RUNS=5 BASELINE=gpu_in/baseline_gpu.json bash scripts/gpu_gate_power.sh   # reuses one
#
# Writes $OUT/gate_power_gpu.tar.gz: gate_power_gpu.json / .md (scripts/gate_power.py's records and table), the
# baseline it gated against, nvidia-smi and the log. CASES (default 0,5) and RUNS (per case) pick the runs;
# LIMIT_S (default 520) stops them in time to write the archive.
set -u -o pipefail
PY=${PYTHON:-python3}
OUT=${OUT:?set OUT to the folder the archive goes to}
cd "$(dirname "$0")/.."
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_gate.XXXXXX")
if ! $PY -c "import pydantic" 2>/dev/null; then
    $PY -m pip install -q --no-index --find-links "${WHEELS:?pydantic missing: set WHEELS}" pydantic prometheus-client 2>&1 | tail -2
fi
export PYTHONUNBUFFERED=1 MM_ORCH_CACHE=${MM_ORCH_CACHE:-/tmp/mm_orch_cache}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$WORK/nvidia-smi.txt" 2>&1
machine="one $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) ($(nproc) CPU cores)"
args=(--quiet-only --config config/gate_gpu.yaml --model qwen2.5-3b --cases "${CASES:-0,5}" --runs "${RUNS:-5}"
      --plant-clock wall --repeat 3 --baseline-repeat 10 --results-dir "$WORK" --name gate_power_gpu --machine "$machine" --quiet-pct 25 --wait-s 60)
if [ -n "${BASELINE:-}" ]; then
    cp "$BASELINE" "$WORK/baseline_gpu.json"
    args+=(--baseline "$WORK/baseline_gpu.json")
fi
# LIMIT_S stops the runs in time for the archive (records are saved after every run)
timeout "${LIMIT_S:-520}" $PY scripts/gate_power.py "${args[@]}" 2>&1 | tee "$WORK/gate_power.log"
echo "exit=${PIPESTATUS[0]}" | tee -a "$WORK/gate_power.log"
[ -z "${BASELINE:-}" ] && cp data/gate_power/baseline_quiet.json "$WORK/baseline_gpu.json" 2>/dev/null
mkdir -p "$OUT"
tar -czf "$OUT/gate_power_gpu.tar.gz" -C "$WORK" .
ls -la "$WORK"
