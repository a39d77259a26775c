"""ruff is part of the checks: the README's one test command also lints the project."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("ruff") is None and subprocess.run(
    [sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode != 0,
    reason="ruff is not installed (pip install -e '.[dev]')")
def test_ruff_passes():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "mm_orch", "tests", "scripts"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
