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


# -- what finished is kept: --repeat, the load test's requests, sweep cells (issue 21) -------------------------
QUICK = """
benchmark:
  latency: {warmup_runs: 0, test_runs: 2, input_lengths: [16], output_lengths: [4], output_length: 4}
  memory: {output_length: 4}
  report: {include_system_info: false}
engine: {device: cpu}
test_prompts: {short: ["What is the capital of France?"], medium: [], long: []}
"""


def interrupt_when(args: list[str], ready, delay: float = 0.0, timeout: float = 240) -> tuple[int, list[str]]:
    """Run the CLI (-v), send SIGINT `delay` s after ready(stderr lines so far) is true; (exit code, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "mm_orch.main", *args, "--no-progress", "-v"], cwd=REPO,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, preexec_fn=_default_sigint)
    lines: list[str] = []

    def drain() -> None:
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not ready(list(lines)):  # polled: a phase may print nothing for a while
            assert time.monotonic() < deadline and proc.poll() is None, "\n".join(lines[-30:])
            time.sleep(0.2)
        time.sleep(delay)
        assert proc.poll() is None, "\n".join(lines[-30:])
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    return rc, lines


def test_ctrl_c_in_the_third_repeat_keeps_the_two_that_finished(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(QUICK.replace("test_runs: 2", "test_runs: 50"))  # a few seconds per repeat
    out = tmp_path / "out"
    rc, lines = interrupt_when(["--benchmark", "--config", str(config), "--tests", "latency", "--repeat", "3",
                                "--benchmark-output", str(out), "--no-markdown"],
                               lambda lines: any("repeat 3/3" in ln for ln in lines), delay=1.0)
    assert rc == 130, "\n".join(lines[-20:])
    assert lines[-1] == ("mm_orch: error: interrupted: repeat 1 of 3, repeat 2 of 3 finished; missing: repeat 3")
    (path,) = out.glob("*.json")
    assert any(f"report (incomplete): {path}" in ln for ln in lines)
    report = json.loads(path.read_text())
    assert report["incomplete"] is True and report["finished_tests"] == ["latency"]
    assert report["repeat"]["n"] == 2 and report["repeat"]["requested"] == 3
    assert len(report["repeat"]["metrics"]["latency.ttft_ms"]["values"]) == 2
    assert report["latency"]["completed"] > 0 and report["latency"]["ttft_ms"] > 0
    assert any("interrupted: 2 of 3 repeats finished" in w for w in report["warnings"])
    assert [p.name for p in out.iterdir()] == [path.name]


def test_ctrl_c_in_a_load_test_keeps_the_requests_that_ended(tmp_path):
    from mm_orch.mock.server import MockProcess, MockTiming

    out = tmp_path / "out"
    with MockProcess(MockTiming(ttft_ms=5, itl_ms=1)) as mock:
        def some_ended(_lines: list[str]) -> bool:
            return mock.stats()["requests"] >= 20

        rc, lines = interrupt_when(["--benchmark", "--engine", "openai", "--base-url", mock.base_url, "--model",
                                    "mock", "--tests", "load", "--request-rate", "20", "--num-requests", "2000",
                                    "--benchmark-output", str(out), "--no-markdown"], some_ended)
        sent = mock.stats()["requests"]
    assert rc == 130, "\n".join(lines[-20:])
    assert lines[-1].startswith("mm_orch: error: interrupted: load (incomplete: ")
    (path,) = out.glob("*.json")
    load = json.loads(path.read_text())["load"]
    assert load["incomplete"] is True and "interrupted (Ctrl-C)" in load["note"]
    assert 10 <= load["metrics"]["completed"] <= sent < 2000 and load["metrics"]["failed"] == 0  # warm-up: 2
    assert load["metrics"]["ttft_ms"]["median"] > 0


def test_ctrl_c_in_a_sweep_keeps_the_cells_that_finished(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(QUICK.replace("test_runs: 2", "test_runs: 100"))
    out = tmp_path / "out"
    rc, lines = interrupt_when(["--benchmark", "--config", str(config), "--tests", "memory,latency", "--sweep",
                                "temperature=0,0.5,1.0", "--benchmark-output", str(out), "--sweep-name", "s"],
                               lambda lines: any("sweep cell 2/3" in ln for ln in lines)
                               and any("test memory finished" in ln for ln in lines[-3:]), delay=0.5)
    assert rc == 130, "\n".join(lines[-20:])
    assert lines[-1] == "mm_orch: error: interrupted: 1 of 3 sweep cells finished; missing: temperature=1.0"
    sweep = json.loads((out / "s.json").read_text())
    assert sweep["incomplete"] is True and sweep["missing_cells"] == [{"temperature": 1.0}]
    first, cut = sweep["points"]
    assert first["error"] is None and first["metrics"]["latency.ttft_ms"] > 0
    assert cut["params"] == {"temperature": 0.5} and cut["error"].startswith("interrupted")
    assert json.loads(Path(cut["report"]).read_text())["finished_tests"] == ["memory"]
    assert any("sweep report (incomplete)" in ln for ln in lines)
