#!/usr/bin/env bash
# GPU telemetry on one GPU machine (issue 24): hf and vLLM on Qwen2.5-3B, the dual engine on 3B + 1.5B, dummy
# weights, GPU telemetry at 20 Hz; each run a short workload (well under 2 minutes). Writes ONE archive,
# $OUT/gpu_telemetry_runs.tar.gz: per engine the JSON report, its Markdown (GPU energy and J/token per phase), the
# timeline PNG and the other plots, the run's log; nvidia-smi and the versions; summary.md (J/token per engine).
#
#   OUT=/path bash scripts/gpu_telemetry_runs.sh                  # on the GPU machine, from the repository root
#   WHEELS=shared/wheels OUT=... bash scripts/gpu_telemetry_runs.sh   # missing Python packages from local wheels
#   DEVICE=cpu MODEL=tiny-qwen2 THETA=tiny-qwen2-small OUT=/tmp/t EXTRA="--set benchmark.latency.input_lengths=[32]" \
#       VLLM_SETTINGS="--set engine.vllm.log_stats=true --set engine.vllm.enforce_eager=true" \
#       bash scripts/gpu_telemetry_runs.sh                          # a CPU rehearsal on the tiny models
#
# ENGINES picks the runs (default "hf dual vllm"; a subset names the archive gpu_telemetry_runs_<engines>.tar.gz, so
# two calls under a 10-minute limit each bring back their own). VLLM=0 skips the vLLM run; so does a vllm that
# cannot be imported (said in summary.md). PYTHON picks the
# interpreter (default python3); EXTRA adds flags to every run (last, so they win); VLLM_SETTINGS replaces the vLLM
# run's engine settings. The machine needs no network: dummy weights, embedded tokenizers.
set -u -o pipefail

PY=${PYTHON:-python3}
OUT=${OUT:?set OUT to the folder the archive goes to}
DEVICE=${DEVICE:-cuda}
MODEL=${MODEL:-qwen2.5-3b}
THETA=${THETA:-qwen2.5-1.5b}
HZ=${HZ:-20}
ENGINES=${ENGINES:-hf dual vllm}
want() { [[ " $ENGINES " == *" $1 "* ]]; }
ARCHIVE=gpu_telemetry_runs.tar.gz
[ "$ENGINES" = "hf dual vllm" ] || ARCHIVE="gpu_telemetry_runs_$(echo $ENGINES | tr ' ' '-').tar.gz"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_telemetry.XXXXXX")
mkdir -p "$OUT" "$WORK/runs"
cd "$(dirname "$0")/.."

# Python packages mm_orch needs that the machine may lack: from $WHEELS (no index), if given
need=$($PY - <<'EOF'
import importlib.util
mods = {"pydantic": "pydantic", "yaml": "pyyaml", "numpy": "numpy", "pandas": "pandas", "psutil": "psutil",
        "rich": "rich", "matplotlib": "matplotlib", "httpx": "httpx", "prometheus_client": "prometheus-client",
        "pynvml": "nvidia-ml-py", "huggingface_hub": "huggingface_hub", "safetensors": "safetensors"}
print(" ".join(p for m, p in mods.items() if importlib.util.find_spec(m) is None))
EOF
)
if [ -n "$need" ]; then
    if [ -n "${WHEELS:-}" ]; then
        echo "installing from $WHEELS: $need"
        $PY -m pip install -q --no-index --find-links "$WHEELS" $need 2>&1 | tail -3
    else
        echo "missing Python packages: $need (set WHEELS to a folder of wheels)"; exit 2
    fi
fi

{ nvidia-smi 2>&1 || echo "no nvidia-smi"; } > "$WORK/nvidia-smi.txt"
$PY - > "$WORK/versions.txt" 2>&1 <<'EOF'
import importlib, platform, sys
print("python", sys.version.split()[0], platform.platform())
for m in ("torch", "transformers", "pynvml", "pydantic", "prometheus_client", "vllm"):
    try:
        mod = importlib.import_module(m)
        print(m, getattr(mod, "__version__", "?"))
    except Exception as e:
        print(m, "not importable:", type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "")
EOF

# a short workload: the latency test (one scenario) and throughput (single, 8 concurrent, batches 1, 8, 32)
COMMON=(--benchmark --device "$DEVICE" --load-format dummy --gpu-telemetry "$HZ" --no-progress
        --set benchmark.latency.warmup_runs=2 --set benchmark.latency.test_runs=3
        --set benchmark.latency.output_length=128 --set "benchmark.latency.input_lengths=[512]"
        --set "benchmark.latency.output_lengths=[128]"
        --set benchmark.throughput.duration_seconds=4 --set "benchmark.throughput.concurrent_requests=[8]"
        --set "benchmark.throughput.batch_sizes=[1,8,32]" --set benchmark.throughput.tokens_per_request=128
        --set benchmark.throughput.min_requests=2)
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
read -r -a VLLM_ARGS <<< "${VLLM_SETTINGS:---set engine.vllm.log_stats=true --set engine.vllm.max_model_len=2048 \
--set engine.vllm.compilation_config.cudagraph_capture_sizes=[1,2,4,8,16,32,64]}"

status=0
run() {  # run NAME ARGS...: one session, its files into runs/NAME, its log beside them
    local name=$1; shift
    local dir="$WORK/runs/$name"
    mkdir -p "$dir"
    local t0=$SECONDS
    echo "== $name: $PY -m mm_orch.main $*" | tee "$dir/run.log"
    timeout 600 $PY -m mm_orch.main "$@" "${EXTRA_ARGS[@]}" --benchmark-output "$dir" >> "$dir/run.log" 2>&1
    local rc=$?
    echo "== $name: exit $rc in $((SECONDS - t0)) s" | tee -a "$dir/run.log"
    [ $rc -eq 0 ] || status=1
}

want hf && run hf "${COMMON[@]}" --engine hf --model "$MODEL"
want dual && run dual "${COMMON[@]}" --engine dual --model "$MODEL" --theta-model "$THETA" --alpha-method kl_symmetry

VLLM_NOTE=""
if ! want vllm; then
    :
elif [ "${VLLM:-auto}" = "0" ]; then
    VLLM_NOTE="vLLM skipped (VLLM=0)"
elif ! out=$($PY -c "import vllm; print(vllm.__version__)" 2>&1); then
    VLLM_NOTE="vLLM skipped: import vllm failed: $(echo "$out" | tail -1 | cut -c1-300)"
else
    # its scheduler (running, waiting, KV usage) on the timeline: log_stats brings it from the engine-core
    # process; an open-loop load phase makes the queue move; fewer CUDA-graph sizes start faster
    run vllm "${COMMON[@]}" --engine vllm --model "$MODEL" --tests latency,throughput,load "${VLLM_ARGS[@]}" \
        --request-rate 16 --num-requests 96 --set benchmark.load.output_length=128 \
        --set benchmark.load.input_length=256
fi
[ -n "$VLLM_NOTE" ] && echo "$VLLM_NOTE"

# summary.md: J/token and mean power per engine and phase, from the reports
$PY - "$WORK" "$VLLM_NOTE" > "$WORK/summary.md" <<'EOF'
import json, sys
from pathlib import Path
work, note = Path(sys.argv[1]), sys.argv[2]
print("# GPU telemetry runs (issue 24)\n")
print((Path(work) / "versions.txt").read_text().replace("\n", "  \n"))
for d in sorted((work / "runs").iterdir()):
    reports = sorted(d.glob("*.json"))
    print(f"\n## {d.name}\n")
    if not reports:
        print("no report: see run.log\n\n```\n" + (d / "run.log").read_text()[-3000:] + "\n```")
        continue
    r = json.loads(reports[-1].read_text())
    print(f"files: {', '.join(p.name for p in sorted(d.iterdir()) if p.suffix in ('.json', '.md', '.png'))}\n")
    sched = (r.get("timeline") or {}).get("engine_scheduler")
    if sched:
        print(f"engine scheduler on the timeline: {len(sched['t_s'])} samples ({sched['source']})\n")
    g = r.get("gpu_telemetry") or {}
    if not g.get("available"):
        print(f"GPU telemetry not available: {g.get('reason')}")
        continue
    gpus = ", ".join(f"{x['index']}: {x['name']} ({x['energy_source']}, power {x['power_source']})" for x in g["gpus"])
    print(f"{r['model_name']} on {r['engine']}; GPUs {gpus}; {g['samples']} samples at {g['achieved_hz']:.1f} Hz; "
          f"sampler CPU {g['sampler_cpu_s_per_s'] * 1e3:.2f} ms/s, {g['sample_ms_mean']:.2f} ms a round\n")
    print("| phase | s | mean W | J | output tokens | J/token | util % |\n|---|---:|---:|---:|---:|---:|---:|")
    f = lambda v, p=2: "n/a" if v is None else f"{v:,.{p}f}"  # noqa: E731
    for p in g["phases"]:
        print(f"| {p['name']} | {f(p['duration_s'], 1)} | {f(p['mean_power_w'], 0)} | {f(p['energy_j'], 0)} | "
              f"{p['output_tokens']} | {f(p['j_per_output_token'], 4)} | {f(p['mean_util_pct'], 0)} |")
    print(f"| **all** | | {f(g['mean_power_w'], 0)} | {f(g['energy_j'], 0)} | {g['output_tokens']} | "
          f"{f(g['j_per_output_token'], 4)} | |")
if note:
    print(f"\n{note}")
EOF
cat "$WORK/summary.md"

tar -czf "$OUT/$ARCHIVE" -C "$WORK" summary.md versions.txt nvidia-smi.txt runs
echo "archive: $OUT/$ARCHIVE ($(du -h "$OUT/$ARCHIVE" | cut -f1))"
rm -rf "$WORK"
exit $status
