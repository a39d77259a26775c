"""The studies as typed sections of the schema-2 report: one CLI run (one session), written and read back."""

import pytest

from mm_orch.benchmark.reporter import load_report
from mm_orch.report import catalogue
from mm_orch.report.model import Report

CFG = """
benchmark:
  latency: {warmup_runs: 0, test_runs: 1, input_lengths: [], output_lengths: [], output_length: 4}
  throughput: {duration_seconds: 0.05, concurrent_requests: [2], batch_sizes: [2], tokens_per_request: 4,
               min_requests: 2}
engine: {device: cpu}
studies:
  workload: {num_requests: 3, input_len: {mean: 16}, output_len: {mean: 4}}
  accuracy: {limit: 3, max_new_tokens: 4}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from mm_orch.main import main

    tmp = tmp_path_factory.mktemp("sections")
    (tmp / "c.yaml").write_text(CFG)
    code = main(["--benchmark", "--config", str(tmp / "c.yaml"), "--tests", "throughput", "--workload", "synthetic",
                 "--accuracy", "--slo", "ttft_ms=600000", "--slo", "e2e_ms=0.001", "--no-progress",
                 "--benchmark-output", str(tmp / "out")])
    assert code == 0
    path = next((tmp / "out").glob("*.json"))
    return path, load_report(path)


def test_study_sections_round_trip_through_the_model(run):
    path, report = run
    assert report.config.tests == ["throughput", "workload", "accuracy"]
    assert report.config.studies.slo.ttft_ms == 600000 and report.config.studies.workload.num_requests == 3
    assert report.workload.requests == 3 and report.workload.metrics.completed == 3
    assert len(report.accuracy.runs) == 1 and report.accuracy.runs[0].overall.total == 3
    assert report.context_length is None and report.latency is None
    again = Report.model_validate_json(path.read_text())  # no dict path: the JSON is the model's
    assert again.model_dump() == report.model_dump()


def test_goodput_lives_on_the_typed_throughput_points(run):
    _, report = run
    points = {(p.mode, p.level): p for p in report.throughput.points}
    assert set(points) == {("single", 1), ("concurrent", 2), ("batch", 2)}
    for p in points.values():
        g = p.goodput
        # e2e under 0.001 ms is impossible: every request misses it, none meets the SLO
        assert g.requests == p.metrics.completed + p.metrics.failed and g.met == 0 and g.share_met == 0
        assert g.missed_by["e2e_ms"] == p.metrics.completed and g.missed_by["ttft_ms"] == 0
    assert report.workload.goodput.met == 0 and report.workload.goodput.requests == 3


def test_study_metrics_come_from_the_catalogue(run):
    _, report = run
    values = catalogue.values(report)
    assert values["throughput.concurrent_2_goodput_rps"] == 0 and values["throughput.batch_2_slo_met_share"] == 0
    wl = report.workload.metrics
    assert values["workload.output_tokens_per_second"] == pytest.approx(wl.output_tokens_per_second)
    overall = report.accuracy.runs[0].overall
    assert values["accuracy.default.accuracy"] == overall.accuracy
    assert values["accuracy.default.ci95_low"] <= overall.accuracy <= values["accuracy.default.ci95_high"]
    directions = {k: catalogue.metric(k).direction for k in ("accuracy.{mode}.accuracy", "workload.goodput_rps",
                                                             "workload.ttft_ms.median",
                                                             "throughput.batch_{level}_goodput_rps")}
    assert directions == {"accuracy.{mode}.accuracy": "higher", "workload.goodput_rps": "higher",
                          "workload.ttft_ms.median": "lower", "throughput.batch_{level}_goodput_rps": "higher"}
    assert catalogue.metric("workload.slo_met_share").unit == "ratio"


def test_pre_schema_2_study_reports_are_read_with_their_sections():
    """reports/ holds study runs written before schema 2: conversion carries their sections over, typed."""
    from pathlib import Path

    reports = Path(__file__).resolve().parents[2] / "reports"
    dual = load_report(reports / "accuracy_tiny-qwen2_dual_cpu.json")
    assert [r.mode for r in dual.accuracy.runs] == ["optimal_sampling", "teacher_only", "theta_only"]
    assert catalogue.values(dual)["accuracy.theta_only.accuracy"] == dual.accuracy.runs[2].overall.accuracy
    ctx = load_report(reports / "context_length_tiny-qwen2_cpu.json")
    assert ctx.context_length.points[0].context_tokens == 128 and ctx.accuracy is None


def test_repeat_folds_study_metrics_into_medians(tmp_path):
    from mm_orch.config import apply_overrides, load_config
    from mm_orch.run.session import SessionOptions, run_session

    cfg = apply_overrides(load_config(), {"engine": {"device": "cpu"},
                                          "benchmark": {"report": {"output_dir": str(tmp_path)}},
                                          "studies": {"accuracy": {"limit": 2, "max_new_tokens": 2},
                                                      "context_length": {"start": 8, "max": 16, "runs": 1}}})
    res = run_session(cfg, SessionOptions(model_name="tiny-qwen2", tests=["accuracy", "context_length"], repeat=2,
                                          markdown=False))
    spread = res.report.repeat.metrics
    assert res.report.repeat.n == 2 and len(spread["context_length.16.ttft_ms"].values) == 2
    assert spread["context_length.16.ttft_ms"].median == res.report.context_length.points[-1].ttft_ms
    assert spread["accuracy.default.accuracy"].values == [res.report.accuracy.runs[0].overall.accuracy] * 2
    assert load_report(res.path).model_dump() == res.report.model_dump()


def test_a_baseline_with_other_study_settings_measured_another_workload(run):
    from mm_orch.gate.baseline import workload_differences

    _, report = run
    other = report.model_copy(deep=True)
    other.config.studies.accuracy.limit = 5
    assert workload_differences(report, other) == ["studies.accuracy.limit: 3 -> 5"]
    assert workload_differences(report, report.model_copy(deep=True)) == []


def test_every_field_of_the_study_sections_is_described():
    schema = Report.model_json_schema(mode="serialization")
    study_defs = ("AccuracyResult", "AccuracyRun", "Score", "Example", "ContextLengthResult", "ContextPoint",
                  "WorkloadResult", "PrefixCacheResult", "GoodputResult")
    missing = [f"{name}.{field}" for name in study_defs
               for field, spec in schema["$defs"][name]["properties"].items() if not spec.get("description")]
    assert missing == []
