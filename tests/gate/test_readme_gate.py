"""The README's gate commands (section "CI gate and reports") run as written and give a verdict, not exit 2.

They are read from the README itself, so a command edited there is the command tested. They run in a
temporary folder holding the repository's config/ and reports/ (read-only links), so their outputs (junit.xml,
data/benchmarks/...) stay out of the checkout.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_gate_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## CI gate and reports"):]
    section = section[:section.index("\n## ", 3)]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands, current = [], ""
    for line in block.splitlines():
        line = line.split("  #")[0].rstrip() if not line.lstrip().startswith("#") else ""
        if not line:
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            commands.append(current.strip())
            current = ""
    return commands


def test_the_readme_lists_the_gate_commands():
    commands = readme_gate_commands()
    assert len(commands) == 3
    assert "--baseline reports/baseline_tiny-qwen2_cpu.json" in commands[0]
    assert "--config config/ci_gate.yaml" in commands[0]  # without it the baseline's workload differs: exit 2
    assert "--ab-config" in commands[1] and commands[2].startswith("python3 -m mm_orch.main --compare")


@pytest.mark.slow
def test_readme_gate_commands_work_as_written(tmp_path):
    (tmp_path / "config").symlink_to(ROOT / "config")
    (tmp_path / "reports").mkdir()  # a copy: --compare writes its Markdown beside the first report
    shutil.copy(ROOT / "reports" / "baseline_tiny-qwen2_cpu.json", tmp_path / "reports")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    baseline, ab, compare = readme_gate_commands()
    assert baseline.startswith("python3 ")

    def run(command: str) -> subprocess.CompletedProcess:
        command = command.replace("python3 ", f"{sys.executable} ", 1)
        return subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)

    r = run(baseline)
    assert r.returncode in (0, 4), r.stdout[-3000:] + r.stderr[-3000:]  # PASS, or INCONCLUSIVE on a busy machine
    report = json.loads(next((tmp_path / "data" / "benchmarks").glob("tiny-qwen2_hf_*.json")).read_text())
    check = report["baseline_check"]
    assert check["verdict"] in ("PASS", "INCONCLUSIVE") and check["verdicts"] and check["figure"] in ("wall", "cpu")
    assert report["samples"]["latency"]["cpu_ms_per_token"]
    assert "baseline gate vs reports/baseline_tiny-qwen2_cpu.json" in r.stdout
    assert '<testsuite name="mm_orch.baseline"' in (tmp_path / "junit.xml").read_text()

    r = run(ab)  # A/A: the same config on both sides; never FAIL
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "(paired A/B)" in r.stdout

    r = run(compare)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "comparison:" in r.stdout
