import csv
import json

import pytest

from mm_orch.benchmark.reporter import BenchmarkReporter, load_report, parse_report, report_json, validate_targets
from mm_orch.config import load_config
from mm_orch.errors import ConfigError
from mm_orch.run.runner import run_benchmark

REQUIRED = ["schema_version", "model_name", "engine", "timestamp", "system_info", "config", "latency", "memory",
            "throughput", "validation"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from tests.conftest import QUICK_YAML

    p = tmp_path_factory.mktemp("cfg") / "q.yaml"
    p.write_text(QUICK_YAML)
    return run_benchmark(load_config(p), "tiny-qwen2")


def test_report_has_required_keys_and_real_numbers(report):
    data = json.loads(report_json(report))
    assert all(k in data for k in REQUIRED) and data["schema_version"] == 2
    assert report.timestamp.endswith("Z") and report.engine == "hf"
    si = data["system_info"]
    for k in ("cpu", "cpu_count", "ram_gb", "python_version", "torch_version", "transformers_version",
              "mm_orch_version", "gpu", "load_before", "load_after", "busy"):
        assert k in si
    assert si["load_before"]["cpu_count"] == si["cpu_count"]
    lat, mem, thr = data["latency"], data["memory"], data["throughput"]
    assert lat["ttft_ms"] > 0 and lat["tpot_ms"] > 0 and lat["e2e_latency_ms"] > lat["ttft_ms"]
    assert lat["ttft_ms"] == report.latency.distributions.ttft_ms.mean  # the guide key, from the distribution
    assert lat["scenarios"][0]["input_length"] == 32
    assert mem["model_load_gb"] is not None and mem["kv_cache_gb"] > 0 and mem["peak_gb"] > 0
    assert mem["peak"]["source"].startswith("psutil")
    assert thr["single_request_tps"] > 0 and thr["concurrent_2_rps"] > 0 and thr["batch_2_tps"] > 0
    assert thr["batch_1_efficiency"] == pytest.approx(1.0)
    modes = [(p["mode"], p["level"]) for p in thr["points"]]
    assert ("single", 1) in modes and ("concurrent", 2) in modes and ("batch", 2) in modes
    assert report.validation is None  # checked once, by the session


def test_percentiles_are_null_below_their_sample_count(report):
    ttft = report.latency.distributions.ttft_ms  # QUICK_YAML: 2 measured runs of 2 prompts
    assert ttft.count == 4 and ttft.median > 0 and ttft.p90 is None and ttft.p95 is None and ttft.p99 is None
    itl = report.latency.distributions.itl_ms
    assert itl.count >= 20 and itl.p95 is not None


def test_json_round_trips_through_the_model_and_csv_reads_the_catalogue(report, tmp_path):
    reporter = BenchmarkReporter(output_dir=tmp_path)
    jp = reporter.write_json(report)
    assert load_report(jp) == report  # written from the model, read back through it
    cp = reporter.generate_csv_report(model_name="tiny-qwen2", results=report)
    rows = list(csv.DictReader(cp.open()))
    assert [r["scenario"] for r in rows] == ["summary", "in32_out8"]
    assert float(rows[0]["latency.ttft_ms (ms)"]) == pytest.approx(report.latency.ttft_ms)
    assert float(rows[1]["latency.scenarios.ttft_ms (ms)"]) == pytest.approx(report.latency.scenarios[0].ttft_ms)
    assert "system_info.cpu" in rows[0] and "throughput.batch_2_tps (tokens/s)" in rows[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([jp.name, cp.name])  # no temp files left


def test_reports_of_one_second_never_overwrite_each_other(report, tmp_path):
    """Two sessions of one model and engine ending in the same second (sweep cells) keep both reports."""
    reporter = BenchmarkReporter(output_dir=tmp_path)
    first, second, third = (reporter.write_json(report) for _ in range(3))
    assert len({first, second, third}) == 3
    assert second.name == first.name.replace(".json", "_2.json") and third.name.endswith("_3.json")
    assert all(load_report(p) == report for p in (first, second, third))


def test_written_json_satisfies_the_published_schema(report):
    jsonschema = pytest.importorskip("jsonschema")
    from mm_orch.report.model import Report

    jsonschema.validate(json.loads(report_json(report)), Report.model_json_schema(mode="serialization"))


def test_guide_keys_are_never_read_back(report):
    data = json.loads(report_json(report))
    data["throughput"]["single_request_tps"] = 1e9  # a hand-edited flat key is dropped, the point wins
    data["latency"]["ttft_ms"] = -1
    again = parse_report(json.dumps(data), "edited.json")
    assert again.latency.ttft_ms == report.latency.ttft_ms
    assert again.model_dump()["throughput"]["single_request_tps"] == report.model_dump()["throughput"][
        "single_request_tps"]
    data["throughput"]["surprise_key"] = 1
    with pytest.raises(ConfigError, match="throughput.surprise_key: Extra inputs"):
        parse_report(json.dumps(data), "edited.json")


def test_v1_reports_are_converted_and_other_versions_refused(tmp_path):
    from pathlib import Path

    v1 = Path(__file__).resolve().parents[2] / "reports" / "dual_qwen2.5-3b+1.5b_h100.json"
    old = json.loads(v1.read_text())
    r = load_report(v1)
    assert r.schema_version == 2 and r.warnings == ["converted from a schema 1 report"]
    assert r.model_dump()["throughput"]["single_request_tps"] == pytest.approx(old["throughput"]["single_request_tps"])
    assert r.latency.ttft_ms == pytest.approx(old["latency"]["ttft_ms"])
    p = tmp_path / "v9.json"
    p.write_text(json.dumps({"schema_version": 9}))
    with pytest.raises(ConfigError, match=r"v9.json: not an mm_orch report \(schema_version 9"):
        load_report(p)


def test_guide_api_generate_json_report(hf_engine, tmp_path):
    from mm_orch.benchmark.latency import LatencyBenchmark

    lat = LatencyBenchmark(0, 1).run(hf_engine, ["Hello"], output_length=3)
    path = BenchmarkReporter(output_dir=tmp_path, include_system_info=False).generate_json_report(
        model_name="tiny-qwen2", latency_results=lat)
    data = json.loads(path.read_text())
    assert data["latency"]["ttft_ms"] == pytest.approx(lat.ttft_ms) and data["system_info"] is None
    assert data["schema_version"] == 2 and load_report(path).latency.ttft_ms == pytest.approx(lat.ttft_ms)


def test_validate_targets_pass_fail_skip():
    from tests.report.synthetic import make_report

    results = make_report(**{"latency.tokens_per_second": 40.0, "latency.ttft_ms": 250.0})
    results.memory = None
    v = validate_targets(model_name="gpt2", results=results,
                         targets={"min_tokens_per_second": 5, "max_ttft_ms": 200, "max_memory_gb": 2})
    assert not v.passed
    assert [(f.metric, f.actual, f.target, f.unit) for f in v.failures] == [("latency.ttft_ms", 250.0, 200.0, "ms")]
    assert [s.metric for s in v.skipped] == ["memory.peak_gb"]
    assert validate_targets("gpt2", results, {"min_tokens_per_second": 5}).passed


def test_load_report_rejects_non_reports(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="not a JSON report"):
        load_report(p)
    p.write_text('{"a": 1}')
    with pytest.raises(ConfigError, match="not an mm_orch report"):
        load_report(p)


def test_failed_phases_name_each_phase_with_its_first_error():
    from mm_orch.report.failures import failed_phases
    from tests.report.synthetic import make_report

    r = make_report()
    assert failed_phases(r) == []
    sc = r.latency.scenarios[1]
    sc.failed, sc.completed, sc.errors = 2, 3, ["RuntimeError: boom"]
    m = r.throughput.points[2].metrics
    m.failed, m.completed, m.errors = 5, 0, ["IndexError: x"]
    assert failed_phases(r) == [
        {"phase": "latency in32_out32", "failed": 2, "completed": 3, "error": "RuntimeError: boom"},
        {"phase": "throughput concurrent 2", "failed": 5, "completed": 0, "error": "IndexError: x"}]


def test_docs_carry_the_catalogue_as_it_is():
    from pathlib import Path

    from mm_orch.report.catalogue import markdown_table

    doc = Path(__file__).resolve().parents[2] / "docs" / "report.md"
    assert markdown_table() in doc.read_text()


def test_every_metric_names_a_function_that_exists():
    import importlib

    from mm_orch.report.catalogue import CATALOGUE

    for metric in CATALOGUE:
        module, qualname = metric.computed_by.split(":")
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        assert callable(obj), metric.key
