"""Ctrl-C (a real SIGINT to the CLI process) during an open-loop load test: the requests that ended are kept, in
the report (its load section marked incomplete) and one JSONL line each (--save-requests, with an incomplete
marker), exit 130."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from mm_orch.mock.server import MockProcess, MockTiming

REPO = Path(__file__).resolve().parents[1]


def _default_sigint() -> None:  # a child of a shell's background job would otherwise inherit SIGINT ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_a_load_test_keeps_the_requests_that_ended(tmp_path):
    out = tmp_path / "out"
    with MockProcess(MockTiming(ttft_ms=20, itl_ms=5, tokens=8)) as mock:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mm_orch.main", "--benchmark", "--engine", "openai", "--base-url", mock.base_url,
             "--model", "mock", "--tests", "load", "--request-rate", "20", "--num-requests", "400", "--set",
             "benchmark.load.output_length=8", "--save-requests", "--benchmark-output", str(out), "--no-progress",
             "--no-markdown"],
            cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, preexec_fn=_default_sigint)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(ln.rstrip("\n") for ln in proc.stderr), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 120
            while mock.stats()["requests"] < 40:  # 2 s of a 20 s schedule (the 2 warm-up requests count too)
                assert proc.poll() is None and time.monotonic() < deadline, "\n".join(lines[-30:])
                time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=10)
    assert rc == 130, "\n".join(lines[-30:])
    (path,) = out.glob("*.json")
    report = json.loads(path.read_text())
    assert report["incomplete"] is True and report["load"]["incomplete"] is True
    ended = report["load"]["metrics"]["completed"]
    assert 30 <= ended < 400
    req = path.with_name(path.stem + "_requests.jsonl")
    assert any(f"requests (incomplete): {req}" in line for line in lines), "\n".join(lines[-10:])
    rows = [json.loads(line) for line in req.read_text().splitlines()]
    assert rows[-1]["incomplete"] is True and rows[-1]["missing_tests"] == []
    kept = rows[:-1]
    assert len(kept) == ended and all(r["success"] and r["tokens_out"] == 8 for r in kept)
    assert sorted(r["index"] for r in kept) == sorted({r["index"] for r in kept})  # each request once
    assert sorted(p.name for p in out.iterdir()) == sorted([path.name, req.name])  # atomic: no temporary files
