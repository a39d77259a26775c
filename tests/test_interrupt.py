"""Ctrl-C during a run: the tests that finished are written as a report marked incomplete, exit 130."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CONFIG = """
benchmark:
  latency: {warmup_runs: 0, test_runs: 2, input_lengths: [16], output_lengths: [4], output_length: 4}
  memory: {output_length: 4}
  throughput: {duration_seconds: 300, concurrent_requests: [1], batch_sizes: [1], tokens_per_request: 4}
  report: {include_system_info: false}
engine: {device: cpu}
"""


def _default_sigint() -> None:  # a child of a shell's background job would otherwise inherit SIGINT ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_keeps_the_finished_tests(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mm_orch.main", "--benchmark", "--config", str(config), "--benchmark-output",
         str(out), "--no-progress", "--no-markdown", "-v"],
        cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, preexec_fn=_default_sigint)
    lines: list[str] = []
    latency_done = threading.Event()

    def drain() -> None:
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if "test latency finished" in line:
                latency_done.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert latency_done.wait(240), "\n".join(lines[-30:])
        time.sleep(1.0)  # inside the 300 s throughput phase now
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    assert rc == 130, "\n".join(lines[-30:])
    assert lines[-1] == "mm_orch: error: interrupted: latency, memory finished; missing: throughput"
    (path,) = out.glob("*.json")
    assert any(f"report (incomplete): {path}" in line for line in lines)
    report = json.loads(path.read_text())
    assert report["incomplete"] is True
    assert report["finished_tests"] == ["latency", "memory"] and report["missing_tests"] == ["throughput"]
    assert report["latency"]["ttft_ms"] > 0 and report["memory"]["peak_gb"] > 0
    assert report["throughput"] is None
    assert [p.name for p in out.iterdir()] == [path.name]  # atomic: no temporary file left behind
