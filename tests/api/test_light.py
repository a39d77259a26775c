"""The server side stays light: building the app imports neither torch nor transformers."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from mm_orch.api.app import create_app
from mm_orch.api.server import serve
from mm_orch.config import Config
create_app(Config(), sys.argv[1])
heavy = [m for m in ("torch", "transformers", "vllm", "numpy") if m in sys.modules]
assert not heavy, heavy
"""


def test_app_imports_no_heavy_library(tmp_path):
    r = subprocess.run([sys.executable, "-c", CODE, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
