"""The open-loop load test end to end against the mock server (own process, loopback HTTP)."""

import json
import math
import statistics

import pytest

from mm_orch.benchmark.reporter import load_report
from mm_orch.config import LoadSettings
from mm_orch.engines.openai.engine import OpenAIEngine
from mm_orch.engines.openai.settings import OpenAIEngineSettings
from mm_orch.load.calibration import load_cached, save
from mm_orch.load.calibration_run import calibrate
from mm_orch.load.dispatch import run_load
from mm_orch.main import main
from mm_orch.mock.server import MockProcess, MockTiming
from mm_orch.output.md_format import fmt
from mm_orch.report import catalogue
from mm_orch.report.load import LoadResult
from mm_orch.report.model import Report


@pytest.fixture(scope="module")
def mock():
    with MockProcess(MockTiming(ttft_ms=50, itl_ms=5, tokens_per_event=2)) as m:
        yield m


def _run(engine, **kw):
    kw = {"warmup_requests": 1, "output_length": 8, "workers": 1} | kw
    return run_load(engine, LoadSettings(**kw), ["a prompt", "another prompt"], calibration=(None, "test"))


def test_open_loop_keeps_the_schedule_and_measures_the_server(engine):
    r = _run(engine, request_rate=25, num_requests=30, seed=4)
    m = r.metrics
    assert m.completed == 30 and m.failed == 0 and r.mode == "async_http"
    assert r.requested_rate_rps == 25 and r.achieved_send_rate_rps == pytest.approx(r.schedule_rate_rps, rel=0.2)
    assert 49 <= m.ttft_ms.median <= 50 + 40  # the mock's 50 ms, plus a busy machine at most
    assert r.schedule_lag_ms.min >= 0 and r.schedule_lag_ms.median < 20  # never early, rarely late
    assert r.client_queue_ms.max == 0  # no cap: nothing waits in the client
    assert r.ttft_from_arrival_ms.median >= m.ttft_ms.median
    assert r.token_counting.sources == {"usage": 30} and r.token_counting.tokens_per_event.median == 2
    assert "no local tokenizer for 'mock'" in r.token_counting.tokenizer  # says so; counts came from usage
    assert r.client_cpu.cpu_seconds > 0 and r.client_cpu.per_1000_requests_s > 0 and not r.client_cpu.includes_engine
    assert r.prompts.startswith("text: the config's 2 prompt(s)")
    assert json.loads(r.model_dump_json())["schedule"]["seed"] == 4


def test_concurrency_cap_queues_in_the_client(engine):
    r = _run(engine, request_rate=math.inf, num_requests=6, max_concurrency=2)
    assert r.metrics.completed == 6 and r.peak_in_flight <= 2 and r.requested_rate_rps is None
    assert r.client_queue_ms.max > 40  # later requests waited for a slot: a whole request's time
    assert r.schedule_lag_ms.median < 20  # ...which is not counted as the client being late


def test_failed_requests_are_kept_as_data(mock):
    e = OpenAIEngine("mock", settings=OpenAIEngineSettings(base_url=mock.base_url, served_model="mock", api_key_env="",
                                                           timeout_s=0.02))
    e.load()
    try:
        r = _run(e, request_rate=50, num_requests=4, warmup_requests=0)
    finally:
        e.close()
    assert r.metrics.failed == 4 and r.metrics.completed == 0 and "timeout" in r.metrics.errors[0]
    assert r.metrics.ttft_ms is None and r.schedule_lag_ms.count == 4


def test_worker_processes_share_one_schedule(engine):
    r = _run(engine, request_rate=40, num_requests=16, workers=2)
    assert r.metrics.completed == 16 and r.workers == 2 and r.client_cpu.processes == 3
    assert r.schedule_lag_ms.min >= 0 and r.schedule_lag_ms.median < 30  # one clock across processes
    assert statistics.median([49.0, r.metrics.ttft_ms.median]) >= 49


def test_serialized_engine_queues_honestly(hf_engine):
    r = run_load(hf_engine, LoadSettings(request_rate=math.inf, num_requests=4, output_length=4, warmup_requests=1,
                                         input_length=16), [], calibration=(None, "test"))
    assert r.mode == "serialized" and "one request at a time" in r.note and r.client_cpu.includes_engine
    assert r.metrics.completed == 4 and r.peak_in_flight == 1
    assert r.client_queue_ms.max > 0 and r.ttft_from_arrival_ms.max > r.metrics.ttft_ms.max
    assert r.prompts.startswith("synthetic: 4 distinct prompts of exactly 16 tokens")
    assert r.metrics.input_tokens == 4 * 16


def test_calibration_is_measured_cached_and_reported(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("MM_ORCH_CACHE", str(tmp_path))
    assert load_cached()[0] is None and "--calibrate" in load_cached()[1]
    cal = calibrate(threshold_ms=1000.0, timing=MockTiming(ttft_ms=10, itl_ms=1, tokens=4),
                    concurrency_levels=(1, 4), rate_levels=(20.0,))
    assert [(lv.kind, lv.level) for lv in cal.levels] == [("concurrency", 1), ("concurrency", 4), ("rate", 20.0)]
    assert cal.max_concurrency == 4 and cal.max_rate_rps == 20.0
    assert all(lv.mock_late_ms is not None and lv.failed == 0 for lv in cal.levels)
    path = save(cal)
    assert path.parent.parent == tmp_path
    r = run_load(engine, LoadSettings(request_rate=50, num_requests=3, output_length=4, workers=1), ["x"])
    assert r.calibration == cal and "measured " + cal.measured_at in r.calibration_note


def test_cli_load_end_to_end(mock, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["--benchmark", "--engine", "openai", "--base-url", mock.base_url, "--model", "mock", "--test-types",
               "load", "--request-rate", "30", "--num-requests", "12", "--max-concurrency", "8", "--no-progress",
               "--benchmark-output", str(out), "--endpoint", "chat"])
    assert rc == 0
    (path,) = out.glob("*.json")
    report = load_report(path)  # read back through the typed model
    assert isinstance(report.load, LoadResult) and report.latency is None and report.throughput is None
    load = report.load
    assert load.metrics.completed == 12 and load.max_concurrency == 8 and load.mode == "async_http"
    assert report.config.engine["openai"]["endpoint"] == "chat" and report.config.tests == ["load"]
    assert Report.model_validate_json(path.read_text()) == report  # the JSON holds nothing the model drops
    assert json.loads(path.read_text())["load"]["schedule"]["request_rate"] == 30
    # its metrics are catalogue metrics: values from the typed fields, the server's 50 ms TTFT inside
    values = catalogue.values(report)
    assert values["load.ttft_ms.median"] == load.metrics.ttft_ms.median and 49 <= values["load.ttft_ms.median"]
    assert values["load.throughput_rps"] == load.throughput_rps > 0
    assert values["load.schedule_lag_ms.median"] == load.schedule_lag_ms.median >= 0
    printed = capsys.readouterr().out
    assert "load: async_http" in printed and "load: TTFT from arrival median" in printed  # load + summary table
    assert printed.startswith("load: completed ")  # the headline first: what users got, from arrival
    summary = (out / f"{path.stem}.md").read_text()
    assert "| load: TTFT from arrival median (ms) | " in summary
    assert "| load: completed requests/s (req/s) | " in summary
    # p99 needs 100 samples: from 12 it is null in the report and left out of the summary, not faked
    assert values["load.ttft_ms.p99"] is None and "load: TTFT from arrival p99" not in summary
    assert "## Open-loop load (async_http, 1 client process(es))" in summary
    assert "12 completed, 0 failed; max concurrency 8" in summary
    row = next(line for line in summary.splitlines() if line.startswith("| TTFT (from send) |"))
    assert row.split("|")[2].strip() == fmt(load.metrics.ttft_ms.median) and row.split("|")[5].strip() == "12"


def test_the_gate_and_compare_see_load_metrics(engine):
    """A slower TTFT under load is a regression of load.ttft_ms.median; compare puts the two side by side."""
    from mm_orch.benchmark.sections import assemble_report
    from mm_orch.config import GateSettings
    from mm_orch.gate.baseline import compare_to_baseline
    from mm_orch.gate.compare import side_by_side

    r = run_load(engine, LoadSettings(request_rate=40, num_requests=12, output_length=4, workers=1), ["x"])
    base = assemble_report("mock", "openai", load=r)
    slower = Report.model_validate_json(base.model_dump_json())
    slower.load.metrics.ttft_ms.median *= 3
    gate = compare_to_baseline(slower, base, GateSettings())
    status = {d.metric: d.status for d in gate.deltas}
    assert status["load.ttft_ms.median"] == "regression" and not gate.passed
    assert status["load.throughput_rps"] == "ok"
    rows = {row.metric: row for row in side_by_side([base, slower])}
    assert rows["load.ttft_ms.median"].unit == "ms" and rows["load.ttft_ms.median"].better == "lower"
    assert rows["load.ttft_ms.median"].change_pct[0] == pytest.approx(200.0)


def test_a_schema_1_report_with_a_load_section_keeps_it(engine, tmp_path):
    """Before the typed report, the load branch wrote LoadResult's dump into the schema-1 dict."""
    from pathlib import Path

    r = run_load(engine, LoadSettings(request_rate=40, num_requests=5, output_length=3, workers=1), ["x"])
    old = json.loads((Path(__file__).resolve().parents[2] / "reports" / "dual_qwen2.5-3b+1.5b_h100.json").read_text())
    old["load"] = r.model_dump(mode="json")
    (tmp_path / "v1.json").write_text(json.dumps(old))
    converted = load_report(tmp_path / "v1.json")
    assert converted.schema_version == 2 and converted.load == r and converted.load.metrics.completed == 5


@pytest.mark.parametrize("flags, culprit", [
    (["--request-rate", "-3"], "--request-rate"),
    (["--max-concurrency", "0"], "benchmark.load.max_concurrency"),
    (["--tests", "load,nope"], "unknown test type 'nope'"),
    (["--tokenizer", "/no/such/folder"], "--tokenizer /no/such/folder"),
])
def test_cli_bad_load_input_exits_2(mock, flags, culprit, capsys, tmp_path):
    try:
        rc = main(["--benchmark", "--engine", "openai", "--base-url", mock.base_url, "--model", "mock", "--tests",
                   "load", "--no-progress", "--benchmark-output", str(tmp_path), *flags])
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and culprit in err and "Traceback" not in err


def test_throughput_phases_use_the_configured_input_length(hf_engine, tmp_path):
    from mm_orch.config import Config
    from mm_orch.run.runner import run_benchmark

    cfg = Config.model_validate({"benchmark": {"throughput": {
        "duration_seconds": 0.05, "concurrent_requests": [2], "batch_sizes": [2], "tokens_per_request": 2,
        "input_length": 24}}})
    report = run_benchmark(cfg, "tiny-qwen2", ["throughput"], engine=_Keep(hf_engine))
    assert [p.mode for p in report.throughput.points] == ["single", "concurrent", "batch"]
    for p in report.throughput.points:
        assert p.metrics.completed >= 1 and p.metrics.input_tokens == 24 * p.metrics.completed, p.mode


class _Keep:
    """The session's loaded engine, lent to run_benchmark (which closes what it is given) without closing it."""

    def __init__(self, engine):
        self._e = engine

    def __getattr__(self, name):
        return getattr(self._e, name)

    def close(self):
        pass
