"""Every file the CLI reads (config, --set, dataset, prompts, trace, --baseline / --compare reports), each huge (a
sparse file), deep and not UTF-8: one line naming the file, exit 2, never a traceback or a MemoryError."""

from __future__ import annotations

from pathlib import Path

import pytest

from mm_orch.main import main

DEEP = 100_000


def huge(path: Path) -> Path:
    with open(path, "wb") as f:
        f.truncate(100 * 2**30)  # 100 GiB on paper, nothing on disk: read it and the machine swaps
    return path


def run(capsys, *args: str) -> tuple[int, str]:
    rc = main([*args, "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err[-5:]  # one line, no traceback
    return rc, err[0]


@pytest.fixture
def files(tmp_path):
    f = {
        "huge": huge(tmp_path / "huge.json"),
        "deep_json": tmp_path / "deep.json",
        "deep_jsonl": tmp_path / "deep.jsonl",
        "deep_yaml": tmp_path / "deep.yaml",
        "latin1_yaml": tmp_path / "latin1.yaml",
        "latin1_json": tmp_path / "latin1.json",
        "latin1_jsonl": tmp_path / "latin1.jsonl",
        "latin1_txt": tmp_path / "latin1.txt",
        "deep_trace": tmp_path / "deep.trace",
    }
    f["deep_trace"].write_text('{"timestamp": 0, "input_length": 2, "output_length": ' + "[" * DEEP + "]" * DEEP
                               + "}\n")
    f["deep_json"].write_text("[" * DEEP + "]" * DEEP)
    f["deep_jsonl"].write_text('{"prompt": "hi", "output_len": 4}\n' + "[" * DEEP + "]" * DEEP + "\n")
    f["deep_yaml"].write_text("benchmark:\n" + "".join("  " * i + "k:\n" for i in range(1, 500)) + "  " * 500
                              + "v: 1\n")
    f["latin1_yaml"].write_bytes("engine: {device: cpu}\n# caf\u00e9\n".encode("latin-1"))
    f["latin1_json"].write_bytes('{"schema_version": "2", "model_name": "caf\u00e9"}'.encode("latin-1"))
    f["latin1_jsonl"].write_bytes('{"prompt": "caf\u00e9", "output_len": 4}\n'.encode("latin-1"))
    f["latin1_txt"].write_bytes("caf\u00e9\n".encode("latin-1"))
    return f


@pytest.mark.parametrize(("flag", "kind", "expected"), [
    ("--config", "huge", "config file {path}: 107374182400 bytes is more than the 16777216 bytes accepted"),
    ("--config", "deep_yaml", "{path}:65: nested deeper than 64 levels"),
    ("--config", "latin1_yaml", "config file {path}: line 2: not UTF-8 text"),
    ("--prompts", "huge", "prompt file {path}: 107374182400 bytes is more than the 8388608 bytes accepted"),
    ("--prompts", "deep_json", "prompt file {path}: nested deeper than 64 levels"),
    ("--prompts", "latin1_txt", "prompt file {path}: line 1: not UTF-8 text"),
    ("--baseline", "huge", "report {path}: 107374182400 bytes is more than the 67108864 bytes accepted"),
    ("--baseline", "deep_json", "{path}: nested deeper than 64 levels"),
    ("--baseline", "latin1_json", "report {path}: line 1: not UTF-8 text"),
    ("--dataset", "huge", "dataset file {path}: 107374182400 bytes is more than the 1073741824 bytes accepted"),
    ("--dataset", "deep_jsonl", "{path}:2: nested deeper than 64 levels"),
    ("--dataset", "latin1_jsonl", "dataset file {path}: line 1: not UTF-8 text"),
])
def test_benchmark_input_files(capsys, files, flag, kind, expected):
    path = files[kind]
    rc, line = run(capsys, "--benchmark", flag, str(path), "--tests", "latency", "--set",
                   "benchmark.latency.test_runs=1")
    assert rc == 2
    assert line.startswith("mm_orch: error: " + expected.format(path=path)), line


@pytest.mark.parametrize(("kind", "expected"), [
    ("huge", "trace {path}: 107374182400 bytes is more than the 67108864 bytes accepted"),
    ("deep_trace", "{path}: line 1: nested deeper than 64 levels"),
    ("latin1_jsonl", "trace {path}: line 1: not UTF-8 text"),
])
def test_trace_files(capsys, files, kind, expected):
    path = files[kind]
    rc, line = run(capsys, "--benchmark", "--tests", "load", "--trace", str(path))
    assert rc == 2
    assert line.startswith("mm_orch: error: " + expected.format(path=path)), line


@pytest.mark.parametrize(("kind", "expected"), [
    ("huge", "report {path}: 107374182400 bytes is more than the 67108864 bytes accepted"),
    ("deep_json", "{path}: nested deeper than 64 levels"),
    ("latin1_json", "report {path}: line 1: not UTF-8 text"),
])
def test_compare_input_files(capsys, files, kind, expected):
    path = files[kind]
    rc, line = run(capsys, "--compare", str(path), str(path))
    assert rc == 2
    assert line.startswith("mm_orch: error: " + expected.format(path=path)), line


def test_a_deep_set_value_is_one_line(capsys):
    rc, line = run(capsys, "--benchmark", "--set", "test_prompts.short=" + "[" * 500 + "]" * 500)
    assert rc == 2 and line == "mm_orch: error: --set test_prompts.short: nested deeper than 64 levels " \
                               "(lists/objects within each other)"
