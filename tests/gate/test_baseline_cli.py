"""The CI gate as users run it: real CLI subprocesses on the embedded tiny-qwen2 with the quick config where a
run is measured (memory is read from the process), main() in this process (`run_main`) for refusals and
--compare, which measure nothing."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import QUICK_YAML
from tests.inprocess import run_main


def cli(*args):
    return subprocess.run([sys.executable, "-m", "mm_orch.main", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """One quick benchmark whose report is the baseline of the tests below."""
    d = tmp_path_factory.mktemp("gate")
    (d / "quick.yaml").write_text(QUICK_YAML)
    r = cli("--benchmark", "--config", str(d / "quick.yaml"), "--benchmark-output", str(d / "base"), "--no-progress")
    assert r.returncode == 0, r.stderr
    (report,) = (d / "base").glob("*.json")
    return d, report


def test_every_run_writes_markdown_and_plots(base_run):
    d, report = base_run
    md = report.with_suffix(".md")
    assert md.exists() and "## Summary" in md.read_text()
    assert (d / "base" / f"{report.stem}_memory.png").read_bytes()[:4] == b"\x89PNG"


def test_passing_gate_exits_0_and_writes_junit(base_run):
    """Memory only: RSS is stable from run to run (speed on a shared 2-core machine is not), so 10 % holds."""
    d, report = base_run
    junit = d / "pass.xml"
    gated = d / "gated.yaml"  # a few-MiB inference delta moves more than 10 %: its own tolerance, from the YAML
    gated.write_text(QUICK_YAML + 'gate: {tolerances: {"memory.inference_delta_gb": 200}, memory_noise_gb: 0.008}\n')
    r = cli("--benchmark", "--config", str(gated), "--benchmark-output", str(d / "pass"), "--no-progress",
            "--baseline", str(report), "--tolerance", "10", "--junit-xml", str(junit), "--check-targets",
            "--tests", "memory")
    assert r.returncode == 0, r.stderr
    assert "baseline gate vs" in r.stdout and ": PASS" in r.stdout and f"junit: {junit}" in r.stdout
    (now,) = (d / "pass").glob("*.json")
    check = json.loads(now.read_text())["baseline_check"]
    assert check["passed"] and check["baseline_path"] == str(report)
    assert {x["metric"] for x in check["deltas"]} == {"memory.model_load_gb", "memory.inference_delta_gb",
                                                       "memory.peak_gb", "memory.kv_cache_gb"}
    assert check["not_compared"]["latency.ttft_ms"] == "only in the baseline"
    tolerances = {x["metric"]: x["tolerance_pct"] for x in check["deltas"]}
    assert tolerances["memory.inference_delta_gb"] == 200 and tolerances["memory.peak_gb"] == 10
    assert check["verdict"] == "PASS" and {v["metric"] for v in check["verdicts"] if v["gated"]} >= {"memory.peak_gb"}
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite[@name='mm_orch.baseline']")
    assert root.get("failures") == "0" and int(suite.get("skipped")) == len(check["not_compared"])


def test_failing_gate_exits_1_with_regression_table(base_run):
    """A baseline written before samples existed: one value per side, the old table; then the same baseline with
    samples no run can match: the verdicts from samples."""
    d, report = base_run
    edited = json.loads(report.read_text())
    edited["latency"]["distributions"]["request_tokens_per_second"]["mean"] = 1e9  # a baseline no run can match
    edited["memory"]["peak"]["value_gb"] = 0.001
    edited["system_info"]["torch_version"] = "0.0.1"
    with_samples = json.loads(json.dumps(edited))
    del edited["samples"]
    hand = d / "hand_edited.json"
    hand.write_text(json.dumps(edited))
    refused = run_main("--benchmark", "--config", str(d / "quick.yaml"), "--baseline", str(hand))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "torch_version: 0.0.1 -> " in refused.stderr and "--allow-env-mismatch" in refused.stderr
    junit = d / "fail.xml"
    r = cli("--benchmark", "--config", str(d / "quick.yaml"), "--benchmark-output", str(d / "fail"), "--no-progress",
            "--baseline", str(hand), "--tolerance", "10000", "--allow-env-mismatch", "--junit-xml", str(junit),
            "--tests", "latency,memory")
    assert r.returncode == 1, r.stderr
    assert "FAILED, 2 regression(s)" in r.stdout and "REGRESSION" in r.stdout
    assert "latency.tokens_per_second" in r.stdout and "memory.peak_gb" in r.stdout
    assert "environment differs from the baseline: torch_version" in r.stderr
    assert "gate: the baseline has no samples" in r.stderr
    failed = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert sorted(failed) == ["latency.tokens_per_second", "memory.peak_gb"]
    md = next((d / "fail").glob("*.md")).read_text()
    assert "## Baseline gate: FAILED (2 regression(s))" in md

    n = len(with_samples["samples"]["latency"]["output_tokens"])
    with_samples["samples"]["latency"]["request_tokens_per_second"] = [1e9] * n
    hand.write_text(json.dumps(with_samples))
    r = cli("--benchmark", "--config", str(d / "quick.yaml"), "--benchmark-output", str(d / "fail2"),
            "--no-progress", "--baseline", str(hand), "--tolerance", "10000", "--allow-env-mismatch",
            "--junit-xml", str(junit), "--tests", "latency,memory", "--set", "gate.figure=wall")
    assert r.returncode == 1, r.stderr
    assert ": FAIL" in r.stdout and "figure gated: wall time (gate.figure: wall)" in r.stdout
    assert "latency.tokens_per_second" in r.stdout and "memory.peak_gb" in r.stdout and "detects" in r.stdout
    failed = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert sorted(failed) == ["latency.tokens_per_second", "memory.peak_gb", "verdict"]
    check = json.loads(next((d / "fail2").glob("*.json")).read_text())["baseline_check"]
    assert check["verdict"] == "FAIL" and check["figure"] == "wall"
    md = next((d / "fail2").glob("*.md")).read_text()
    assert "## Baseline gate: FAIL" in md and "| latency.tokens_per_second | wall |" in md


def test_a_baseline_of_another_model_is_refused_even_with_allow_env_mismatch(base_run):
    d, report = base_run
    other = json.loads(report.read_text())
    other["model_name"] = "gpt2"
    (d / "gpt2.json").write_text(json.dumps(other))
    r = run_main("--benchmark", "--config", str(d / "quick.yaml"), "--baseline", str(d / "gpt2.json"),
                 "--allow-env-mismatch")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"baseline {d / 'gpt2.json'} measured model 'gpt2', this run measures 'tiny-qwen2'" in r.stderr


def test_compare_prints_and_writes_markdown(base_run, tmp_path):
    d, report = base_run
    other = json.loads(report.read_text())
    other["latency"]["distributions"]["ttft_ms"]["mean"] *= 2
    (tmp_path / "b.json").write_text(json.dumps(other))
    r = run_main("--compare", str(report), str(tmp_path / "b.json"), "--benchmark-output", str(tmp_path))
    assert r.returncode == 0, r.stderr
    out = tmp_path / f"compare_{report.stem}_vs_b.md"
    assert f"comparison: {out}" in r.stdout and "latency.ttft_ms" in r.stdout
    assert "| latency.ttft_ms | ms | lower |" in out.read_text() and "+100.0%" in out.read_text()


@pytest.mark.parametrize("args, message", [
    (["--baseline", "/no/base.json"], "report not found: /no/base.json"),
    (["--baseline", "BAD"], "not a JSON report"),
    (["--tolerance", "-5"], "--tolerance must be a percentage >= 0"),
    (["--tolerance", "lots"], "invalid float value: 'lots'"),
    (["--repeat", "0"], "--repeat must be >= 1"),
])
def test_bad_gate_input_is_one_line_exit_2(args, message, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = run_main("--benchmark", *[str(bad) if x == "BAD" else x for x in args])
    assert r.returncode == 2 and r.stderr.startswith("mm_orch: error:") and r.stderr.count("\n") == 1
    assert message in r.stderr


def test_compare_needs_two_readable_reports(tmp_path):
    r = run_main("--compare", str(tmp_path / "missing.json"), str(tmp_path / "x.json"))
    assert r.returncode == 2 and "report not found" in r.stderr


def test_a_baseline_with_a_non_numeric_metric_is_refused(base_run):
    d, report = base_run
    data = json.loads(report.read_text())
    data["latency"]["distributions"]["ttft_ms"]["mean"] = "fast"
    bad = d / "bad.json"
    bad.write_text(json.dumps(data))
    r = run_main("--benchmark", "--config", str(d / "quick.yaml"), "--baseline", str(bad), "--no-progress")
    assert r.returncode == 2
    assert r.stderr.strip() == f"mm_orch: error: {bad}: not a valid mm_orch report: latency.distributions.ttft_ms." \
                               "mean: Input should be a valid number, unable to parse string as a number"


def test_a_baseline_of_another_workload_is_refused_unless_allowed(base_run):
    d, report = base_run
    r = run_main("--benchmark", "--config", str(d / "quick.yaml"), "--baseline", str(report), "--no-progress",
                 "--set", "benchmark.latency.output_length=9", "--tests", "memory")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "measured another workload (benchmark.latency.output_length: 8 -> 9)" in r.stderr
    assert "--allow-workload-mismatch" in r.stderr
    r = cli("--benchmark", "--config", str(d / "quick.yaml"), "--baseline", str(report), "--no-progress",
            "--set", "benchmark.latency.output_length=9", "--tests", "memory", "--allow-workload-mismatch",
            "--benchmark-output", str(d / "mismatch"), "--no-markdown", "--tolerance", "1000")
    assert r.returncode == 0, r.stderr
    assert "workload differs from the baseline: benchmark.latency.output_length: 8 -> 9" in r.stderr
