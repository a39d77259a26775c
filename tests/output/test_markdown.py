"""Markdown summary, compare table and PNG plots from synthetic reports."""

import matplotlib.image as mpimg

from mm_orch.config import GateSettings
from mm_orch.gate.baseline import compare_to_baseline
from mm_orch.output.markdown import compare_markdown, report_markdown, write_markdown
from mm_orch.output.plots import memory_bars, write_plots
from mm_orch.run.repeat import merge_repeats
from tests.report.synthetic import make_report


def test_report_markdown_holds_the_numbers():
    md = report_markdown(make_report())
    assert md.startswith("# tiny-qwen2 on hf")
    assert "| TTFT (mean, test prompts) (ms) | 10.00 |" in md and "| peak memory (GiB) | 0.401 |" in md
    assert "| single-stream output tokens/s (tokens / wall s) (tokens/s) | 700.00 |" in md
    assert "| in128_out32 | 128 | 32 | 4.56 |" in md
    assert "| batch | 4 | 21.00 | 2,100 | 2,700 | 0.75 |" in md and "| concurrent (serialized) | 2 |" in md
    assert "| peak | 0.401 | psutil RSS |  |" in md
    assert "## Targets: PASSED" in md and "| memory.peak_gb | 0.401 | <= 4.00 | ok |" in md


def test_markdown_lists_skipped_targets_as_the_console_does():
    from mm_orch.report.validation import TargetSkip

    report = make_report()
    report.validation.skipped.append(TargetSkip(metric="latency.tpot_ms", target_name="max_tpot_ms",
                                                reason="not measured in this run"))
    assert "| latency.tpot_ms | n/a |  | skipped: not measured in this run |" in report_markdown(report)


def test_markdown_shows_spread_and_gate_regressions():
    base = make_report()
    now = merge_repeats([make_report(**{"latency.ttft_ms": v}) for v in (20.0, 25.0, 30.0)])
    now.baseline_check = compare_to_baseline(now, base, GateSettings(), "base.json")
    md = report_markdown(now)
    assert "## Spread over 3 runs" in md and "| latency.ttft_ms | 20.00 | 25.00 | 30.00 | 40.0% |" in md
    assert "## Baseline gate: FAILED (1 regression(s))" in md
    assert "| latency.ttft_ms | 10.00 | 25.00 | +150.0% | +150.0% | 10% | regression |" in md


def test_compare_markdown_side_by_side():
    md = compare_markdown([make_report(), make_report(**{"latency.ttft_ms": 12.0})], ["a", "b"])
    assert "| metric | unit | better | a | b | change b |" in md
    assert "| latency.ttft_ms | ms | lower | 10.00 | 12.00 | +20.0% |" in md


def test_plots_are_valid_pngs_named_after_the_run(tmp_path):
    plots = write_plots(make_report(), tmp_path / "run_1")
    assert set(plots) == {"latency_vs_input", "latency_vs_output", "throughput", "latency_vs_throughput", "memory",
                          "itl"}
    for name, path in plots.items():
        assert path.name == f"run_1_{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(path)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    assert [b[0] for b in memory_bars(make_report().memory)][:3] == ["weights", "model load", "KV cache"]


def test_write_markdown_links_its_plots(tmp_path):
    md = write_markdown(make_report(), tmp_path / "tiny_hf_1.json")
    assert md == tmp_path / "tiny_hf_1.md"
    text = md.read_text()
    assert "![memory](tiny_hf_1_memory.png)" in text and (tmp_path / "tiny_hf_1_memory.png").exists()


def test_plots_skip_what_was_not_measured(tmp_path):
    r = make_report()
    r.throughput = None
    r.latency.scenarios = r.latency.scenarios[:1]
    assert set(write_plots(r, tmp_path / "x")) == {"memory", "itl"}


def test_markdown_name_keeps_dots_in_the_model_name(tmp_path):
    from mm_orch.output.markdown import write_markdown

    report_path = tmp_path / "qwen2.5-3b_hf_20261123T000000.json"
    r = make_report(**{"model_name": "qwen2.5-3b"})
    md = write_markdown(r, report_path, with_plots=False)
    assert md.name == "qwen2.5-3b_hf_20261123T000000.md"


def test_engine_statistics_section_lists_scalars_only(tmp_path):
    from mm_orch.output.markdown import report_markdown

    r = make_report()
    r.engine_stats = {"prefix_cache": {"hit_rate": 0.75, "enabled": True},
                         "alpha": {"mean": 0.5, "histogram": {"counts": [1, 2], "edges": [0.0, 0.5, 1.0]}}}
    md = report_markdown(r)
    section = md.split("## Engine statistics")[1].split("##")[0]
    assert "| prefix_cache.hit_rate |" in section and "| alpha.mean |" in section
    assert "histogram" not in section
    assert "## Engine statistics" not in report_markdown(make_report())  # no stats, no section


def test_missing_memory_is_shown_with_its_reason_and_warnings_on_top():
    r = make_report(**{"memory.peak_gb": None})
    r.warnings = ["the machine was busy"]
    md = report_markdown(r)
    assert "| peak | n/a |  | not measured (test) |" in md and "> - the machine was busy" in md
