"""Sweeps: parsing, the grid, every cell's config checked first, real runs per cell, the files written."""

import json

import pytest

from mm_orch.config import apply_overrides, load_config
from mm_orch.errors import ConfigError
from mm_orch.studies.sweep import cell_overrides, grid, parse_sweep, run_sweep

TINY = """
benchmark:
  latency: {warmup_runs: 0, test_runs: 1, input_lengths: [], output_lengths: [], output_length: 4}
  throughput: {duration_seconds: 0.05, concurrent_requests: [2], batch_sizes: [2], tokens_per_request: 4}
engine: {device: cpu}
test_prompts:
  short: ["Hello there"]
"""


@pytest.fixture
def tiny_cfg(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    return p


def test_parse_sweep_types_values_and_rejects_bad_keys():
    assert parse_sweep(["temperature=0,0.7", "top_k=1,50", "engine=hf,vllm", "quantization=none,8bit"]) == {
        "temperature": [0, 0.7], "top_k": [1, 50], "engine": ["hf", "vllm"], "quantization": [None, "8bit"]}
    for bad, msg in (("speed=1,2", "KEY one of"), ("top_k=", "no values"), ("request_rate=", "no values")):
        with pytest.raises(ConfigError, match=msg):
            parse_sweep([bad])
    with pytest.raises(ConfigError, match="given twice"):
        parse_sweep(["top_k=1", "top_k=2"])


def test_grid_and_overrides_set_every_path():
    cells = grid({"temperature": [0, 1.0], "batch_size": [1, 4, 8]})
    assert len(cells) == 6 and cells[1] == {"temperature": 0, "batch_size": 4}
    cfg = apply_overrides(load_config(), cell_overrides({"batch_size": 4, "max_new_tokens": 7, "concurrency": 3}))
    assert cfg.benchmark.throughput.batch_sizes == [4] and cfg.benchmark.latency.output_length == 7
    assert cfg.benchmark.throughput.tokens_per_request == 7 and cfg.benchmark.throughput.concurrent_requests == [3]
    assert cfg.studies.workload.concurrency == 3


def test_a_bad_cell_stops_the_sweep_before_anything_runs(tiny_cfg, tmp_path, capsys):
    from mm_orch.main import main

    ran = []
    with pytest.raises(ConfigError, match="temperature"):
        run_sweep(load_config(tiny_cfg), {"temperature": [0.5, -1]}, ran.append, "tiny-qwen2", ["latency"])
    assert ran == []
    code = main(["--benchmark", "--config", str(tiny_cfg), "--engine", "vllm", "--sweep", "num_beams=1,2",
                 "--benchmark-output", str(tmp_path)])
    assert code == 2 and "beam search runs on the hf engine only" in capsys.readouterr().err


def test_sweep_runs_each_cell_with_its_settings(tiny_cfg):
    from mm_orch.run.runner import run_benchmark

    reports = []

    def run(c):
        reports.append(run_benchmark(c, "tiny-qwen2", ["latency"]))
        return reports[-1]

    res = run_sweep(load_config(tiny_cfg), parse_sweep(["num_beams=1,2", "max_new_tokens=3,5"]), run,
                    "tiny-qwen2", ["latency"])
    assert [p.params for p in res.points] == [{"num_beams": 1, "max_new_tokens": 3}, {"num_beams": 1,
                                              "max_new_tokens": 5}, {"num_beams": 2, "max_new_tokens": 3},
                                              {"num_beams": 2, "max_new_tokens": 5}]
    for p, r in zip(res.points, reports, strict=True):
        lat = r.latency
        assert lat.output_length == p.params["max_new_tokens"]
        assert lat.distributions.e2e_latency_ms.count == len(r.config.prompts)  # test_runs 1 per prompt
        assert r.config.benchmark.generation.num_beams == p.params["num_beams"]
        assert p.metrics["latency.ttft_ms"] == pytest.approx(lat.distributions.ttft_ms.mean) and p.error is None
    assert res.metrics["latency.ttft_ms"].unit == "ms" and res.metrics["latency.ttft_ms"].direction == "lower"
    beams = reports[3].latency.distributions
    assert beams.ttft_ms.mean == pytest.approx(beams.e2e_latency_ms.mean)  # beam search: all tokens at the end
    greedy = reports[1].latency.distributions
    assert greedy.ttft_ms.mean < greedy.e2e_latency_ms.mean


def test_sweep_cli_writes_json_markdown_and_plots_and_keeps_failed_cells(tiny_cfg, tmp_path, capsys):
    from mm_orch.main import main

    code = main(["--benchmark", "--config", str(tiny_cfg), "--tests", "latency,throughput", "--no-progress",
                 "--sweep", "engine=hf,openai", "--sweep", "temperature=0,1.0", "--base-url",
                 "http://127.0.0.1:9/v1", "--benchmark-output", str(tmp_path), "--sweep-name", "s1"])
    assert code == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "s1.json").read_text())
    assert [p["params"] for p in data["points"]][:2] == [{"engine": "hf", "temperature": 0},
                                                         {"engine": "hf", "temperature": 1.0}]
    ok, failed = data["points"][:2], data["points"][2:]
    # one batch size per cell: read from the typed throughput point (mode batch, level 2), keyed with N
    assert all(p["error"] is None and p["metrics"]["throughput.batch_N_tps"] > 0
               and p["metrics"]["latency.tpot_ms"] > 0 for p in ok)
    assert data["metrics"]["throughput.batch_N_tps"] == {"label": "batch N: output tokens/s", "unit": "tokens/s",
                                                         "direction": "higher"}
    assert all("openai" in p["error"] and p["metrics"] == {} and p["report"] is None for p in failed)
    for p in ok:  # each cell is a session: its own schema-2 report, read back through the model
        from mm_orch.benchmark.reporter import load_report

        cell = load_report(p["report"])
        batch = next(x for x in cell.throughput.points if x.mode == "batch")
        assert batch.level == 2
        assert batch.output_tokens_per_second == pytest.approx(p["metrics"]["throughput.batch_N_tps"])
    md = (tmp_path / "s1.md").read_text()
    assert md.count("\n| hf |") == 2 and md.count("\n| openai |") == 2 and "![s1_temperature](s1_temperature.png)" in md
    assert (tmp_path / "s1_temperature.png").read_bytes()[:4] == b"\x89PNG"
    # only hf has results: every metric has one engine to show, so no panel (and no PNG) against the engine
    assert not (tmp_path / "s1_engine.png").exists() and "s1_engine.png" not in md


def test_sweep_refuses_options_of_a_single_run(tiny_cfg, tmp_path, capsys):
    from mm_orch.main import main

    for extra, msg in ((["--repeat", "2"], "--baseline and --repeat apply to a single run"),
                       (["--model", "tiny-qwen2,tiny-gpt2"], "not with several --model")):
        code = main(["--benchmark", "--config", str(tiny_cfg), "--sweep", "top_k=1,2", "--no-progress",
                     "--benchmark-output", str(tmp_path / "out"), *extra])
        err = capsys.readouterr().err
        assert code == 2 and msg in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before any cell ran
