import csv
import json

import pytest

from mm_orch.benchmark.reporter import BenchmarkReporter, load_report, validate_targets
from mm_orch.benchmark.runner import run_benchmark
from mm_orch.config import load_config
from mm_orch.errors import ConfigError

REQUIRED = ["schema_version", "model_name", "engine", "timestamp", "system_info", "config", "latency", "memory",
            "throughput", "validation"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from tests.conftest import QUICK_YAML

    p = tmp_path_factory.mktemp("cfg") / "q.yaml"
    p.write_text(QUICK_YAML)
    return run_benchmark(load_config(p), "tiny-qwen2")


def test_report_has_required_keys_and_real_numbers(report):
    assert all(k in report for k in REQUIRED)
    assert report["timestamp"].endswith("Z") and report["engine"] == "hf"
    si = report["system_info"]
    for k in ("cpu", "cpu_count", "ram_gb", "python_version", "torch_version", "transformers_version",
              "mm_orch_version", "gpu"):
        assert k in si
    lat, mem, thr = report["latency"], report["memory"], report["throughput"]
    assert lat["ttft_ms"] > 0 and lat["tpot_ms"] > 0 and lat["e2e_latency_ms"] > lat["ttft_ms"]
    assert lat["scenarios"][0]["input_length"] == 32
    assert mem["model_load_gb"] is not None and mem["kv_cache_gb"] > 0 and mem["peak_gb"] > 0
    assert thr["single_request_tps"] > 0 and thr["concurrent_2_rps"] > 0 and thr["batch_2_tps"] > 0
    assert thr["batch_1_efficiency"] == pytest.approx(1.0)
    assert report["validation"]["passed"] and len(report["validation"]["checked"]) == 2


def test_json_and_csv_written_atomically(report, tmp_path):
    reporter = BenchmarkReporter(output_dir=tmp_path)
    jp = reporter.write_json(report)
    assert load_report(jp)["latency"]["ttft_ms"] == report["latency"]["ttft_ms"]
    cp = reporter.generate_csv_report(model_name="tiny-qwen2", results=report)
    rows = list(csv.DictReader(cp.open()))
    assert [r["scenario"] for r in rows] == ["summary", "in32_out8"]
    assert float(rows[0]["latency.ttft_ms"]) == pytest.approx(report["latency"]["ttft_ms"])
    assert "system_info.cpu" in rows[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([jp.name, cp.name])  # no temp files left


def test_guide_api_generate_json_report(hf_engine, tmp_path):
    from mm_orch.benchmark.latency import LatencyBenchmark

    lat = LatencyBenchmark(0, 1).run(hf_engine, ["Hello"], output_length=3)
    path = BenchmarkReporter(output_dir=tmp_path, include_system_info=False).generate_json_report(
        model_name="tiny-qwen2", latency_results=lat)
    data = json.loads(path.read_text())
    assert data["latency"]["ttft_ms"] == pytest.approx(lat.ttft_ms) and data["system_info"] is None


def test_validate_targets_pass_fail_skip():
    results = {"latency": {"tokens_per_second": 40.0, "ttft_ms": 250.0}, "memory": None}
    v = validate_targets(model_name="gpt2", results=results,
                         targets={"min_tokens_per_second": 5, "max_ttft_ms": 200, "max_memory_gb": 2})
    assert not v.passed
    assert [(f.metric, f.actual, f.target) for f in v.failures] == [("latency.ttft_ms", 250.0, 200.0)]
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
    from mm_orch.benchmark.report import failed_phases
    from tests.benchmark.synthetic import make_report

    r = make_report()
    assert failed_phases(r) == []
    r["latency"]["scenarios"][1] |= {"failed": 2, "completed": 3, "errors": ["RuntimeError: boom"]}
    r["throughput"]["details"] = [{"mode": "concurrent", "level": 2,
                                   "metrics": {"failed": 5, "completed": 0, "errors": ["IndexError: x"]}}]
    assert failed_phases(r) == [
        {"phase": "latency in32_out32", "failed": 2, "completed": 3, "error": "RuntimeError: boom"},
        {"phase": "throughput concurrent 2", "failed": 5, "completed": 0, "error": "IndexError: x"}]
