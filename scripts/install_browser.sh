#!/usr/bin/env bash
# What the browser tests (tests/output/test_html_browser.py) need: bash scripts/install_browser.sh
# - Debian's chromium and chromium-driver (apt-get, as root), only when missing. The machines here reach no
#   browser download site, so the browser always comes from Debian, never from playwright's own installer.
# - playwright from PyPI, driven with executable_path=/usr/bin/chromium (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1).
# Idempotent: a second run installs nothing. PYTHON=... picks the interpreter (default python3).
set -euo pipefail
PY=${PYTHON:-python3}
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install_browser.sh: ${missing[*]} missing; run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # fonts-liberation: metric-compatible fonts so that screenshots lay out as on a desktop.
  apt-get install -y -q "${missing[@]}" fonts-liberation
fi
if ! "$PY" -c 'import playwright.sync_api' >/dev/null 2>&1; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$PY" -m pip install -q "playwright>=1.45,<2"
fi
echo "browser installed: $(chromium --version 2>/dev/null | head -1); playwright $("$PY" -c 'from importlib.metadata import version; print(version("playwright"))')"
