"""Saturation (--request-rate sweep) against the mock server of known capacity (own process, loopback HTTP),
and on the hf engine (one request at a time: its capacity is 1 / E2E). Tolerances are wide: a busy 2-core box."""

import json
import math

import pytest

from mm_orch.benchmark.reporter import load_report
from mm_orch.config import LoadSettings
from mm_orch.load.saturation import find_knee, rates, run_saturation, tail_statistic
from mm_orch.load.schedule import arrival_offsets_ns
from mm_orch.main import main
from mm_orch.mock.queue import percentile, queue_ttft_ms
from mm_orch.mock.server import MockProcess, MockTiming, capacity_rps, expected
from mm_orch.report import catalogue
from mm_orch.settings.schedule import ScheduleSpec
from mm_orch.settings.slo import SLO

# one request generates at a time, for 10 + 6 x 5 = 40 ms: the mock completes at most 25 requests/s
TIMING = MockTiming(ttft_ms=10, itl_ms=5, tokens=7, max_concurrency=1)
TRUTH = capacity_rps(TIMING, 7)


@pytest.fixture(scope="module")
def mock():
    with MockProcess(TIMING) as m:
        yield m


def test_rates_tail_and_knee_rule():
    assert rates(20.0, 5, 0.2) == pytest.approx([4, 8, 12, 16, 20])
    assert [tail_statistic([c]) for c in (150, 100, 40, 12, 3)] == ["p99", "p99", "p95", "p90", "max"]
    assert tail_statistic([150, 30]) == "p95"  # the fewest requests of any rate decide
    assert find_knee([10, 12, 19, 25, 300], 2.0) == 2  # 25 > 2 x 10: the knee is the last within
    assert find_knee([10, 25, 12, 11], 2.0) == 0  # the first rate past the bound ends the good run
    assert find_knee([10, 11, 12], 2.0) == 2  # never past: the highest rate measured
    assert find_knee([10, None, 12], 2.0) == 0 and find_knee([None, 5], 2.0) is None and find_knee([], 2.0) is None


def test_the_queue_truth_by_hand():
    ms = 1_000_000
    # one slot of 40 ms: the second of two arrivals at 0 waits 40 ms; one at 100 ms finds the slot free
    assert queue_ttft_ms(TIMING, [0, 0, 100 * ms], 7) == pytest.approx([10, 50, 10])
    two = TIMING.model_copy(update={"max_concurrency": 2})
    assert queue_ttft_ms(two, [0, 0, 0, 10 * ms], 7) == pytest.approx([10, 10, 50, 40])  # FIFO over 2 slots
    assert capacity_rps(two, 7) == pytest.approx(50) and capacity_rps(MockTiming(), 7) == math.inf


def test_the_mock_cap_gives_a_known_capacity(engine):
    from mm_orch.load.dispatch import run_load

    assert TRUTH == pytest.approx(25.0) and expected(TIMING, 7)["e2e_ms"] == 40
    r = run_load(engine, LoadSettings(request_rate=math.inf, num_requests=10, output_length=7, warmup_requests=0),
                 ["a prompt"], calibration=(None, "test"))
    assert r.metrics.completed == 10
    # all sent at once, served one at a time: the i-th waits i x 40 ms in the server, so TTFT spreads that far
    assert r.metrics.ttft_ms.max - r.metrics.ttft_ms.min >= 8 * 40 * 0.9
    assert r.throughput_rps <= TRUTH * 1.05


def test_saturation_finds_the_capacity_and_the_knee(engine):
    # gamma arrivals of shape 4 (more even than Poisson): at a fifth of the capacity requests rarely meet, at
    # the capacity the queue still grows; seed 0 fixes the draws, so only the machine's timing varies
    s = LoadSettings(num_requests=20, output_length=7, warmup_requests=1, sweep_points=3, sweep_low_fraction=0.2,
                     saturation=True, burstiness=4, seed=0)
    burst, sat = run_saturation(engine, s, ["a prompt"], slo=SLO(ttft_ms=100))
    assert burst.requested_rate_rps is None and burst.metrics.completed == 20  # the burst is the load section
    # the maximum is the mock's capacity, less the client's and the machine's overheads
    assert TRUTH * 0.6 <= sat.max_throughput_rps <= TRUTH * 1.05
    assert sat.max_throughput_rps == burst.throughput_rps and sat.burst.kind == "burst"
    req = [p.requested_rate_rps for p in sat.points]
    assert req == sorted(req) and len(req) == 3 and req[-1] == pytest.approx(sat.max_throughput_rps)
    assert req[0] == pytest.approx(0.2 * sat.max_throughput_rps) == sat.low_rate_rps
    assert all(p.failed == 0 and p.requests == 20 for p in sat.points)
    ach = [p.achieved_rps for p in sat.points]
    assert ach == sorted(ach) and ach[-1] <= TRUTH * 1.05  # more offered, more done, never past the capacity
    assert [p.schedule_rate_rps for p in sat.points] == pytest.approx(req)  # the drawn gaps stretched to the rate
    # at the lowest rate the server is mostly idle: the median TTFT is its 10 ms (plus the machine's noise)
    assert 9 <= sat.points[0].ttft_p50_ms <= 10 + 40 and sat.points[0].ttft_tail_ms < 10 + 40
    assert all(4 <= p.tpot_p50_ms <= 5 + 10 for p in sat.points)  # 5 ms per token once a request runs
    # the truth: the capped mock is a FIFO queue; over the same schedules it gives each rate's tail TTFT
    assert sat.tail_statistic == "p95"
    truth = [percentile(queue_ttft_ms(TIMING, arrival_offsets_ns(ScheduleSpec(
        request_rate=r, num_requests=20, burstiness=4, seed=0, exact_rate=True)), 7), 95) for r in req]
    for found, want in zip([p.ttft_tail_ms for p in sat.points], truth, strict=True):
        assert want - 5 <= found <= want * 1.5 + 40  # never faster than the queue; a busy box adds some
    # at the top rate the queue's tail is several times the idle one (about 75 vs 10 ms): the knee is below it,
    # at the first rate (truth) or the second (a busy box adds a few ms to the idle tail and so to the bound)
    assert truth[-1] > 4 * truth[0] and sat.points[-1].ttft_tail_ms > 2 * sat.points[0].ttft_tail_ms
    assert find_knee(truth, 2.0) <= sat.knee_index < len(sat.points) - 1
    knee = sat.points[sat.knee_index]
    assert sat.knee_rps == knee.achieved_rps and sat.knee_ttft_tail_ms <= 2 * sat.points[0].ttft_tail_ms
    assert "passes 2x" in sat.knee_note
    # goodput counts from arrival: fewer requests meet a 100 ms TTFT as the queue grows
    met = [p.goodput.share_met for p in sat.points]
    assert met[0] >= met[-1] and sat.points[0].goodput.slo.ttft_ms == 100


def test_cli_saturation_writes_the_section_table_and_plot(mock, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["--benchmark", "--engine", "openai", "--base-url", mock.base_url, "--model", "mock", "--tests", "load",
               "--request-rate", "sweep", "--sweep-points", "2", "--num-requests", "10", "--no-progress",
               "--set", "benchmark.load.sweep_low_fraction=0.5", "--set", "benchmark.load.output_length=7",
               "--benchmark-output", str(out)])
    assert rc == 0
    (path,) = out.glob("*.json")
    report = load_report(path)
    sat = report.saturation
    assert sat is not None and len(sat.points) == 2 and report.load is not None
    assert json.loads(path.read_text())["saturation"]["max_throughput_rps"] == sat.max_throughput_rps
    values = catalogue.values(report)
    assert values["saturation.max_throughput_rps"] == sat.max_throughput_rps <= TRUTH * 1.05
    assert values["saturation.knee_rps"] == sat.knee_rps
    md = (out / f"{path.stem}_saturation.md").read_text()
    assert "**knee**" in md and md.count("\n| ") == 3 and f"{path.stem}_saturation.png" in md
    assert (out / f"{path.stem}_saturation.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "saturation: maximum" in printed and "_saturation.png" in printed


@pytest.mark.parametrize("flags,culprit", [
    (["--request-rate", "sweep"], "add --tests load"),
    (["--tests", "load", "--request-rate", "sweep", "--sweep-points", "1"], "sweep_points"),
    (["--tests", "load", "--request-rate", "sweep", "--set", "benchmark.load.sweep_low_fraction=0"],
     "sweep_low_fraction"),
    (["--tests", "load", "--request-rate", "sweep", "--set", "benchmark.load.knee_ttft_factor=1"], "knee_ttft_factor"),
    (["--tests", "load", "--sweep-points", "3"], "--request-rate sweep"),
    (["--tests", "load", "--request-rate", "sweep", "--sweep", "request_rate=1,2"], "choose one"),
    (["--tests", "latency", "--sweep", "request_rate=1,2"], "add --tests load"),
])
def test_bad_saturation_input_exits_2(flags, culprit, capsys, tmp_path):
    rc = main(["--benchmark", "--engine", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "mock",
               "--no-progress", "--benchmark-output", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert rc == 2 and culprit in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_request_rate_as_a_sweep_key_runs_load_per_cell(mock, tmp_path):
    out = tmp_path / "out"
    rc = main(["--benchmark", "--engine", "openai", "--base-url", mock.base_url, "--model", "mock", "--tests", "load",
               "--sweep", "request_rate=5,20", "--num-requests", "8", "--no-progress", "--set",
               "benchmark.load.output_length=7", "--benchmark-output", str(out), "--sweep-name", "rr"])
    assert rc == 0
    result = json.loads((out / "rr.json").read_text())
    assert result["parameters"] == {"request_rate": [5, 20]}
    cells = [load_report(p["report"]).load for p in result["points"]]
    assert [c.requested_rate_rps for c in cells] == [5, 20]
    done = [p["metrics"]["load.throughput_rps"] for p in result["points"]]
    assert done[1] > done[0]  # the cells ran at their rates
    assert (out / "rr_request_rate.png").exists()


def test_hf_engine_saturates_at_one_over_e2e(hf_engine):
    s = LoadSettings(num_requests=5, output_length=4, input_length=16, warmup_requests=1, sweep_points=2,
                     sweep_low_fraction=0.5, saturation=True)
    burst, sat = run_saturation(hf_engine, s, [])
    assert sat.mode == "serialized" and burst.peak_in_flight == 1
    one_at_a_time = 1000 / burst.metrics.e2e_latency_ms.mean  # the engine's own capacity, from its E2E
    assert sat.max_throughput_rps == pytest.approx(one_at_a_time, rel=0.35)
    assert [p.requested_rate_rps for p in sat.points] == pytest.approx([0.5 * sat.max_throughput_rps,
                                                                        sat.max_throughput_rps])
    assert all(p.achieved_rps <= sat.max_throughput_rps * 1.3 for p in sat.points)
