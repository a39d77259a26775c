"""The PNG plots are fit for a slide (issue 25): every figure titled with model, engine, device and date; a unit on
every axis; y from zero (log axes named as such); no panel of one point or of one value; GiB for memory, measured
apart from computed; TTFT never against output length; the saturation plot's TPOT on its own axis with the SLO;
a load-test plot, and one over the run when the report keeps its requests. Figures are captured before saving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mm_orch.output import load_plots, plots, study_files, sweep_files
from mm_orch.output.plot_style import PlotContext
from mm_orch.report.model import Report
from mm_orch.report.sweep import SweepResult
from mm_orch.run.repeat import merge_repeats
from tests.report.synthetic import make_report

FIXTURES = Path(__file__).with_name("fixtures")


def fixture(name: str) -> Report:
    return Report.model_validate(json.loads((FIXTURES / name).read_text()))


@pytest.fixture
def captured(monkeypatch):
    """Every figure a writer would save, kept (and closed) instead of written."""
    figs: dict[str, object] = {}

    def keep(fig, path):
        figs[Path(path).stem] = fig
        return Path(path)

    monkeypatch.setattr("mm_orch.output.plot_style.save", keep)  # the writers that import it when they run
    monkeypatch.setattr(plots, "save", keep)
    yield figs
    from mm_orch.output.plot_style import pyplot

    pyplot().close("all")


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.texts]


def assert_slide_ready(fig, ctx: PlotContext) -> None:
    assert ctx.line in texts(fig), texts(fig)
    for part in (ctx.model, ctx.engine, ctx.device, ctx.date):
        assert part and "unknown" not in part
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        xl, yl = ax.get_xlabel(), ax.get_ylabel()
        assert "(" in xl and "(" in yl, (xl, yl)  # every axis names its unit (or what its categories are)
        if ax.get_yscale() == "log":
            assert "log scale" in yl
        elif ax.get_ylabel() and ax.get_xlabel() and ax.patches and ax.get_xscale() == "linear" and not ax.lines:
            assert ax.get_ylim()[0] == 0 or ax.get_xlim()[0] == 0  # bars start at zero
        else:
            assert ax.get_ylim()[0] == 0, (yl, ax.get_ylim())


def test_main_report_figures_are_slide_ready(captured, tmp_path):
    report = fixture("tiny-qwen2_hf_main.json")
    names = set(plots.write_plots(report, tmp_path / "run"))
    assert names == {"latency_vs_input", "latency_vs_output", "throughput", "latency_vs_throughput", "memory", "itl"}
    ctx = PlotContext.of(report)
    assert ctx.device.startswith("CPU") and ctx.date.endswith("UTC")
    for fig in captured.values():
        assert_slide_ready(fig, ctx)


def test_no_ttft_against_output_length(captured, tmp_path):
    plots.write_plots(fixture("tiny-qwen2_hf_main.json"), tmp_path / "run")
    titles = [ax.get_title() for ax in captured["run_latency_vs_output"].axes]
    assert titles == ["TPOT (mean)", "E2E latency (mean)"]
    assert [ax.get_title() for ax in captured["run_latency_vs_input"].axes][0] == "TTFT (mean)"


def test_a_concurrency_panel_needs_two_levels(captured, tmp_path):
    report = make_report()
    report.throughput.points = [p for p in report.throughput.points if not (p.mode == "concurrent" and p.level == 2)]
    report.throughput.points = [p for p in report.throughput.points if p.mode != "single"]
    plots.write_plots(report, tmp_path / "one")
    axes = captured["one_throughput"].axes
    assert [ax.get_xlabel() for ax in axes] == ["batch size (requests per batch)"]


def test_memory_is_linear_gib_and_says_what_is_measured_and_computed(captured, tmp_path):
    report = fixture("tiny-qwen2_hf_main.json")
    plots.write_plots(report, tmp_path / "run")
    (ax,) = captured["run_memory"].axes
    assert ax.get_xscale() == "linear" and ax.get_xlim()[0] == 0 and "GiB" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "weights (computed)" in labels and "KV cache (computed)" in labels and "peak (RSS)" in labels
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["measured (RSS)", "computed from the model's shapes"]
    assert all("MiB" not in t for t in texts(captured["run_memory"]) + labels)
    kinds = {label: kind for label, _, kind in plots.memory_bars(report.memory)}
    assert kinds["weights"] == "computed" and kinds["model load"] == "RSS"


def test_repeats_draw_error_bars(captured, tmp_path):
    runs = [make_report(**{"latency.scenarios.in128_out32.ttft_ms": v, "throughput.batch_4_tps": 2000.0 + v})
            for v in (4.0, 5.0, 7.0)]
    plots.write_plots(merge_repeats(runs), tmp_path / "rep")
    for name in ("rep_latency_vs_input", "rep_throughput"):
        fig = captured[name]
        assert any(ax.containers for ax in fig.axes), name  # errorbar containers
        assert any("over 3 runs" in t for t in texts(fig))


def test_load_test_plots_distributions_and_the_run_over_time(captured, tmp_path):
    report = fixture("tiny-qwen2_hf_load_slo.json")
    assert set(load_plots.load_figures(report, PlotContext.of(report))) == {"load"}  # no timeline in this fixture
    from mm_orch.report.load import LoadTimeline

    report.load.timeline = LoadTimeline(requests=40, due_s=[i * 0.1 for i in range(40)],
                                        ttft_from_arrival_ms=[10.0 + 5 * i for i in range(40)],
                                        tpot_ms=[3.0 + (i % 4) for i in range(40)])
    names = plots.write_plots(report, tmp_path / "load")
    assert {"load", "load_over_time"} <= set(names)
    ctx = PlotContext.of(report)
    for name in ("load_load", "load_load_over_time"):
        assert_slide_ready(captured[name], ctx)
    ttft = captured["load_load"].axes[0]
    assert "SLO TTFT \u2264 100 ms" in [t.get_text() for t in ttft.get_legend().get_texts()]
    over = captured["load_load_over_time"].axes
    assert [ax.get_xlabel() for ax in over] == ["due time since the first request (s)"] * 2


def test_saturation_tpot_is_not_on_a_ttft_axis_and_the_slo_is_drawn(captured, tmp_path):
    report = fixture("mock_openai_saturation_slo.json")
    study_files.write_study_files(report, tmp_path / "sat.json")
    fig = captured["sat_saturation"]
    ttft, tpot, rate = fig.axes
    assert ttft.get_ylabel().startswith("TTFT from arrival (ms") and tpot.get_ylabel() == "TPOT (ms)"
    assert all("TTFT" not in t.get_text() for t in tpot.get_legend().get_texts())
    assert any(t.get_text().startswith("SLO TTFT") for t in ttft.get_legend().get_texts())
    assert_slide_ready(fig, PlotContext.of(report))


def test_context_length_axis_reads_token_counts_and_has_no_empty_series(captured, tmp_path):
    from mm_orch.report.studies import ContextLengthResult, ContextPoint

    report = make_report()
    report.context_length = ContextLengthResult(max_context=4096, limit_used=4064, output_length=8, runs=3, points=[
        ContextPoint(context_tokens=2**k, ttft_ms=5.0 * k, ttft=None, tpot_ms=2.0, prefill_tokens_per_second=2**k / k,
                     failed=0) for k in range(7, 13)])
    study_files.write_study_files(report, tmp_path / "ctx.json")
    fig = captured["ctx_context_length"]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["128", "256", "512", "1,024", "2,048", "4,096"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["mean"]  # no p90 without a p90
    assert "tokens" in ax.get_xlabel()
    assert_slide_ready(fig, PlotContext.of(report))


def test_sweep_skips_constant_metrics_and_names_them(captured, tmp_path):
    result = SweepResult(model_name="tiny-qwen2", engine="hf", parameters={"temperature": [0.0, 1.0]},
                         tests=["latency"], timestamp="2026-11-30T13:21:55+00:00", system_info={"cpu": "Test CPU"},
                         metrics={"latency.ttft_ms": {"label": "TTFT (mean)", "unit": "ms", "direction": "lower"},
                                  "model_info.weights_bytes": {"label": "weights as stored", "unit": "bytes",
                                                               "direction": "lower"}},
                         points=[{"params": {"temperature": t}, "metrics": {"latency.ttft_ms": v,
                                                                            "model_info.weights_bytes": 3678720.0}}
                                 for t, v in ((0.0, 10.5), (1.0, 12.0))])
    sweep_files.plot_parameter(result, "temperature", tmp_path / "s_temperature.png")
    fig = captured["s_temperature"]
    assert [ax.get_ylabel() for ax in fig.axes if ax.axison] == ["latency (ms)"]
    assert any("weights as stored (constant at 0.003426 GiB)" in t for t in texts(fig))
    assert_slide_ready(fig, PlotContext.of(result))
    one = result.model_copy(update={"parameters": {"temperature": [0.0]}, "points": result.points[:1]})
    assert sweep_files.plot_parameter(one, "temperature", tmp_path / "one.png") is None  # one cell: no plot
