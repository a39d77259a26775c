"""The CLI as users run it: exit codes, one-line errors, a written report.

A real subprocess (`cli`) where the process is what is tested: the README's main command (stdout, stderr that
is not a terminal, exit 0) and argparse's exit 2; the rest call main() in this process (`run_main`), which
proves the same without importing torch again."""

import json
import subprocess
import sys

import pytest

from tests.inprocess import run_main


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mm_orch.main", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_benchmark_writes_report_and_passes_targets(quick_config_path, tmp_path):
    r = cli("--benchmark", "--config", str(quick_config_path), "--benchmark-output", str(tmp_path),
            "--check-targets")
    assert r.returncode == 0, r.stderr
    reports = list(tmp_path.glob("tiny-qwen2_hf_*.json"))
    assert len(reports) == 1 and f"report: {reports[0]}" in r.stdout  # the table and paths: stdout
    assert "single-stream output tokens/s (tokens / wall s)" in r.stdout and "target check: PASSED" in r.stdout
    # stderr is not a terminal here: one plain line per phase, what and how long, instead of progress bars
    phases = [line for line in r.stderr.splitlines() if line.startswith("mm_orch: ")]
    assert [p.split(":")[1].strip() for p in phases][:3] == ["loading tiny-qwen2 (hf)", "memory", "latency"]
    assert all(p.split(": ")[-1].split(" s")[0].replace(".", "").isdigit() for p in phases[:3])
    assert phases[-1].startswith("mm_orch: report: ")  # writing and plotting are not in the last test's time
    assert "\x1b[" not in r.stderr and "━" not in r.stderr
    data = json.loads(reports[0].read_text())
    assert data["validation"]["passed"] and data["latency"]["ttft_ms"] > 0 and data["schema_version"] == 2


def test_failed_target_exits_1_with_table(quick_config_path, tmp_path):
    quick_config_path.write_text(quick_config_path.read_text().replace("max_ttft_ms: 100000", "max_ttft_ms: 0.0001"))
    r = run_main("--benchmark", "--config", str(quick_config_path), "--benchmark-output", str(tmp_path),
                 "--tests", "latency", "--check-targets", "--benchmark-format", "csv", "--no-progress")
    assert r.returncode == 1
    assert "FAILED" in r.stdout and "latency.ttft_ms" in r.stdout and "FAIL" in r.stdout
    assert "warning: target missed: latency.ttft_ms" in r.stderr
    assert len(list(tmp_path.glob("*.csv"))) == 1  # the results are written even when the gate fails


def test_quantization_flag_reaches_the_engine(quick_config_path, tmp_path):
    r = run_main("--benchmark", "--config", str(quick_config_path), "--benchmark-output", str(tmp_path),
                 "--tests", "memory", "--quantization", "4bit", "--no-progress")
    assert r.returncode == 0, r.stderr
    (report,) = tmp_path.glob("*.json")
    data = json.loads(report.read_text())
    assert data["model_info"]["extra"]["quantization"] == "4bit"
    assert data["config"]["engine"]["hf"]["quantization"] == "4bit"
    from transformers import AutoConfig, AutoModelForCausalLM

    full = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(data["model_info"]["path"]))
    fp32_bytes = sum(p.numel() for p in full.parameters()) * 4
    assert 0 < data["memory"]["load"]["weights_gb"] * 2**30 < 0.3 * fp32_bytes
    assert data["model_info"]["num_parameters"] * 4 == fp32_bytes  # parameters counted unpacked


@pytest.mark.parametrize("args, message", [
    (["--quantization", "2bit"], "argument --quantization: invalid choice: '2bit'"),
    (["--model", "nope"], "unknown model 'nope'"),
    (["--config", "/no/such.yaml"], "config file not found: /no/such.yaml"),
    (["--benchmark-format", "xml"], "argument --benchmark-format: invalid choice: 'xml'"),
    (["--engine", "nope"], "unknown engine 'nope'"),
    (["--tests", "latency,speed"], "unknown test type 'speed'"),
    (["--load-format", "weird"], "argument --load-format: invalid choice: 'weird'"),
    (["--prompts", "/no/prompts.txt"], "prompt file not found"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--tolerance", "5"], "--tolerance applies to a baseline comparison: add --baseline FILE"),
    (["--engine", "dual", "--quantization", "4bit"], "only the hf engine quantizes weights, not 'dual'"),
    (["--benchmark-output", sys.executable], "exists and is not a folder"),
    (["--serve", "--port", "99999"], "--port 99999: a port must be between 1 and 65535"),
    (["--serve", "--host", "999.1.1.1", "--allow-no-auth"], "cannot serve on 999.1.1.1:8000"),
    (["--serve", "--host", "999.1.1.1"], "--host 999.1.1.1: serving off loopback without MM_ORCH_API_TOKEN"),
    ([], None),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    plain = args in (["--bogus"], []) or "--serve" in args
    run = cli if args in (["--bogus"], []) else run_main  # argparse's exit 2 through the real entry point
    r = run(*(args if plain else ["--benchmark", *args]))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mm_orch: error:") and "Traceback" not in r.stderr
    if message:
        assert message in lines[0]


def test_serving_on_a_taken_port_is_one_line_and_exit_2():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = run_main("--serve", "--port", str(port))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    expected = f"mm_orch: error: cannot serve on 127.0.0.1:{port}: Address already in use"
    assert r.stderr.strip().splitlines() == [expected]


def test_list_models(tmp_path):
    r = run_main("--list-models")
    assert r.returncode == 0 and "qwen2.5-3b" in r.stdout and "Qwen/Qwen2.5-3B-Instruct" in r.stdout
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("models:\n  my-model: {path: /data/ckpt, description: my fine-tune}\n")
    r = run_main("--list-models", "--config", str(cfg))
    assert r.returncode == 0 and r.stdout.splitlines()[-1].split() == ["my-model", "/data/ckpt", "my", "fine-tune"]
    r = run_main("--list-models", "--config", "/no/such.yaml")
    assert r.returncode == 2 and r.stdout == ""


def test_prompts_longer_than_the_context_are_refused_before_measuring(quick_config_path, tmp_path):
    quick_config_path.write_text(quick_config_path.read_text().replace("input_lengths: [32]", "input_lengths: [5000]"))
    r = run_main("--benchmark", "--config", str(quick_config_path), "--benchmark-output", str(tmp_path),
                 "--tests", "latency", "--no-progress")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == ("mm_orch: error: benchmark.latency.input_lengths: 5000 prompt + "
                                                 "8 output tokens exceed tiny-qwen2's context of 4096 tokens")


def test_missed_targets_are_warned_without_check_targets_and_set_overrides_any_key(quick_config_path, tmp_path):
    r = run_main("--benchmark", "--config", str(quick_config_path), "--benchmark-output", str(tmp_path),
                 "--no-progress", "--tests", "memory", "--set", "targets.tiny-qwen2.max_memory_gb=0.0001", "--set",
                 "benchmark.memory.output_length=4")
    assert r.returncode == 0, r.stderr  # a warning, not a failure, without --check-targets
    assert "warning: target missed: memory.peak_gb" in r.stderr and "target <= 0.0001" in r.stderr
    (report,) = tmp_path.glob("*.json")
    data = json.loads(report.read_text())
    assert data["config"]["benchmark"]["memory"]["output_length"] == 4
    assert data["memory"]["inference"]["output_tokens"] == 4
    assert any(w.startswith("target missed: memory.peak_gb") for w in data["warnings"])


def test_config_layers_over_the_packaged_defaults(tmp_path):
    """A short YAML keeps every default it does not name (here: the default targets), so --check-targets
    still checks them; a bad key in it or in --set is refused the same way, naming the layer."""
    from mm_orch.config import load_config

    short = tmp_path / "short.yaml"
    short.write_text("benchmark:\n  latency: {test_runs: 2}\n")
    cfg = load_config(short)
    assert cfg.benchmark.latency.test_runs == 2 and cfg.targets["tiny-qwen2"].max_memory_gb == 4
    assert cfg.test_prompts.medium and cfg.benchmark.latency.warmup_runs == load_config().benchmark.latency.warmup_runs
    short.write_text("benchmark:\n  latency: {test_run: 2}\n")
    r = run_main("--benchmark", "--config", str(short))
    assert r.returncode == 2
    assert r.stderr.strip() == f"mm_orch: error: {short}:2: benchmark.latency.test_run: unknown key"
    r = run_main("--benchmark", "--set", "benchmark.latency.test_runs=0")
    assert r.returncode == 2 and r.stderr.strip() == ("mm_orch: error: --set benchmark.latency.test_runs=0: "
                                                      "benchmark.latency.test_runs: Input should be greater than or "
                                                      "equal to 1, got 0")
    r = run_main("--benchmark", "--set", "engine.hf.cpu_threads=0")  # one line, not one per branch of the union
    assert r.returncode == 2 and r.stderr.strip() == ("mm_orch: error: --set engine.hf.cpu_threads=0: "
                                                      "engine.hf.cpu_threads: must be 'auto' or a whole number of "
                                                      "threads from 1 to 1024, got 0")


def test_report_schema_is_printed():
    r = run_main("--report-schema")
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    assert schema["properties"]["schema_version"]["const"] == 2
    assert schema["$defs"]["ThroughputPoint"]["properties"]["mode"]["enum"] == ["single", "concurrent", "batch"]
    assert schema["$defs"]["Distribution"]["properties"]["p99"]["description"].startswith("99th percentile")
    assert "ttft_ms" in schema["$defs"]["LatencySection"]["properties"]  # the guide's keys, written, read-only
