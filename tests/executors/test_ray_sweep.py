"""--sweep --executor ray: the cells of a request-rate sweep run as Ray tasks on a real local head, against the mock
server; each cell's report comes back and is written here, and the sweep report links them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mm_orch.benchmark.reporter import load_report
from mm_orch.mock.server import MockProcess, MockTiming
from tests.executors.conftest import RAY_ENV

pytestmark = pytest.mark.slow


def test_a_sweeps_cells_run_as_ray_tasks(ray_head, tmp_path):
    out = tmp_path / "out"
    with MockProcess(MockTiming(ttft_ms=10, itl_ms=2, tokens=8)) as mock:
        cmd = [sys.executable, "-m", "mm_orch.main", "--benchmark", "--executor", "ray", "--ray-address", ray_head,
               "--engine", "openai", "--base-url", mock.base_url, "--model", "mock", "--tests", "load",
               "--sweep", "request_rate=10,40", "--num-requests", "12", "--set", "benchmark.load.output_length=8",
               "--slo", "ttft_ms=500", "--label", "on ray", "--sweep-name", "rs", "--benchmark-output", str(out),
               "--no-progress"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env={**os.environ, **RAY_ENV})
    print(r.stderr)
    assert r.returncode == 0, r.stderr
    assert f"2 sweep cell(s) submitted to Ray at {ray_head}" in r.stderr
    result = json.loads((out / "rs.json").read_text())
    assert result["label"] == "on ray" and [p["params"] for p in result["points"]] == [
        {"request_rate": 10}, {"request_rate": 40}]
    cells = [load_report(p["report"]) for p in result["points"]]  # written here, from the tasks' reports
    assert [c.load.requested_rate_rps for c in cells] == [10, 40]
    assert all(c.load.metrics.completed == 12 and c.load.goodput.held for c in cells)
    assert all(c.label == "on ray" for c in cells)
    assert result["points"][1]["metrics"]["load.throughput_rps"] > result["points"][0]["metrics"]["load.throughput_rps"]
