"""Issue 23 against the mock server (own process, loopback HTTP): the SLO judged by every open-loop run or refused,
the max rate at SLO found near the capped mock's queueing truth, every request kept, trace replay, the steady
window, the early stop of an over-capacity schedule, --label and --compare. Tolerances allow for a busy 2-core box."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mm_orch.benchmark.reporter import load_report
from mm_orch.config import LoadSettings
from mm_orch.load.dispatch import run_load
from mm_orch.load.queue_watch import QueueWatch
from mm_orch.load.trace import load_trace
from mm_orch.main import main
from mm_orch.mock.queue import max_rate_at_slo
from mm_orch.mock.server import MockProcess, MockTiming, capacity_rps
from mm_orch.report import catalogue

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "benchmarks" / "samples"
TRACES = {"mooncake": SAMPLES / "trace_mooncake.jsonl", "azure": SAMPLES / "trace_azure.csv",
          "burstgpt": SAMPLES / "trace_burstgpt.csv"}
TOKENS = 16
# 8 at once, each 10 + 3 x 4 x 2 = 34 ms: a capacity of 235 req/s, so probes of hundreds of requests take a second
TIMING = MockTiming(ttft_ms=10, itl_ms=2, tokens=TOKENS, tokens_per_event=4, max_concurrency=8)


@pytest.fixture(scope="module")
def mock():
    with MockProcess(TIMING) as m:
        yield m


def _cli(mock, out: Path, *flags: str) -> int:
    try:
        return main(["--benchmark", "--engine", "openai", "--base-url", mock.base_url, "--model", "mock",
                     "--no-progress", "--benchmark-output", str(out), "--set",
                     f"benchmark.load.output_length={TOKENS}", *flags])
    except SystemExit as e:  # argparse's own errors
        return int(e.code)


def _report(out: Path):
    (path,) = out.glob("*.json")
    return path, load_report(path)


# -- 1. the SLO everywhere or refused ---------------------------------------------------------------------
def test_a_single_rate_load_test_judges_the_slo(mock, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli(mock, out, "--tests", "load", "--request-rate", "40", "--num-requests", "30", "--slo",
                "ttft_ms=500", "--slo", "tpot_ms=50", "--slo-percentile", "95") == 0
    path, report = _report(out)
    g = report.load.goodput
    assert g is not None and g.percentile == 95 and g.held is True and g.requests == 30
    assert g.share_met == 1.0 and g.goodput_rps > 0 and g.slo.objectives() == {"ttft_ms": 500, "tpot_ms": 50}
    values = catalogue.values(report)
    assert values["load.goodput_rps"] == g.goodput_rps and values["load.slo_met_share"] == 1.0
    printed = capsys.readouterr().out
    first = printed.splitlines()[0]  # the headline first: completed req/s, tok/s, TTFT from arrival, the verdict
    assert first.startswith("load: completed ") and "TTFT from arrival p50" in first
    assert "requested 40.00 req/s, drawn schedule 40.00" in first  # exact_rate: the schedule offers what was asked
    assert "p95 TTFT <= 500 ms and p95 TPOT <= 50 ms: held" in first
    assert "| load: goodput (req/s meeting the SLOs) (req/s) |" in (out / f"{path.stem}.md").read_text()


def test_a_strict_slo_is_not_held(mock, tmp_path):
    out = tmp_path / "out"
    assert _cli(mock, out, "--tests", "load", "--request-rate", "40", "--num-requests", "20", "--slo",
                "ttft_ms=1") == 0  # the mock's own TTFT is 10 ms
    g = _report(out)[1].load.goodput
    assert g.held is False and g.met == 0 and g.missed_by == {"ttft_ms": 20} and g.percentile == 99


@pytest.mark.parametrize("flags, culprit", [
    (["--tests", "latency", "--slo", "ttft_ms=100"], "no test of this run (latency) measures goodput"),
    (["--tests", "load", "--set", "benchmark.load.output_length=1", "--slo", "tpot_ms=5"],
     "--slo tpot_ms=5: the load test asks one output token"),
    (["--tests", "load", "--slo-percentile", "95"], "--slo-percentile applies to an SLO"),
    (["--tests", "load", "--request-rate", "max-slo"], "--request-rate max-slo searches the highest rate meeting"),
    (["--tests", "latency", "--request-rate", "max-slo", "--slo", "ttft_ms=5"], "add --tests load"),
    (["--tests", "load", "--trace", str(TRACES["azure"]), "--request-rate", "5"], "not with --request-rate"),
    (["--tests", "load", "--trace-speed", "2"], "--trace-speed applies to --trace FILE"),
    (["--tests", "load", "--num-requests", "10", "--trim-warmup", "6", "--trim-cooldown", "4"],
     "benchmark.load.steady: first 6 requests and last 4 requests not counted leaves none"),
    (["--tests", "load", "--slo-percentile", "100", "--slo", "ttft_ms=5"], "--slo-percentile"),
])
def test_an_slo_or_flag_nothing_can_honour_is_exit_2(mock, tmp_path, capsys, flags, culprit):
    assert _cli(mock, tmp_path / "out", *flags) == 2
    err = capsys.readouterr().err
    assert culprit in err and "Traceback" not in err
    assert not list((tmp_path / "out").glob("*.json")) if (tmp_path / "out").exists() else True


def test_every_sweep_cell_carries_goodput(mock, tmp_path):
    out = tmp_path / "out"
    assert _cli(mock, out, "--tests", "load", "--sweep", "request_rate=20,60", "--num-requests", "12", "--slo",
                "ttft_ms=500", "--sweep-name", "rr", "--label", "two rates") == 0
    result = json.loads((out / "rr.json").read_text())
    assert result["label"] == "two rates"
    for p in result["points"]:
        assert p["metrics"]["load.goodput_rps"] > 0  # the catalogue's summary metrics of each cell
        assert load_report(p["report"]).load.goodput.held is True
    assert "load.goodput_rps" in result["metrics"]


# -- 2. the max rate at SLO against the mock's queueing truth ----------------------------------------------
def test_max_rate_at_slo_finds_the_capped_mocks_truth(mock, tmp_path, capsys):
    """p90 TTFT <= 30 ms (a 20 ms queueing budget): the truth is 191 req/s of the mock's 235. Short probes and a
    loose precision keep it under a minute; reports/slo_search_mock.md has the longer searches."""
    slo, pct = {"ttft_ms": 30.0}, 90.0
    truth = max_rate_at_slo(TIMING, TOKENS, slo, pct, n=300_000)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    assert _cli(mock, out, "--tests", "load", "--request-rate", "max-slo", "--num-requests", "100", "--slo",
                "ttft_ms=30", "--slo-percentile", "90", "--probe-seconds", "1",
                "--set", "benchmark.load.slo_search.max_probe_seconds=2",
                "--set", "benchmark.load.slo_search.rel_precision=0.1",
                "--set", "benchmark.load.slo_search.target_ci=0.15",
                "--set", "benchmark.load.slo_search.max_probes=14") == 0
    took = time.perf_counter() - t0
    path, report = _report(out)
    s = report.max_rate_at_slo
    print(f"\n{s.headline} | truth {truth:.1f} req/s ({100 * (s.rate / truth - 1):+.1f} %), {len(s.probes)} probes, "
          f"{took:.0f} s")
    assert s is not None and s.percentile == 90 and s.slo == slo and s.rate is not None
    assert abs(s.rate / truth - 1) < 0.15, (s.rate, truth)
    assert s.burst_rps and s.burst_rps <= capacity_rps(TIMING, TOKENS) * 1.05  # the bracketing burst
    assert took < 60
    values = catalogue.values(report)
    assert values["max_rate_at_slo.rate_rps"] == s.rate and values["max_rate_at_slo.ci_low_rps"] == s.ci_low
    printed = capsys.readouterr().out
    assert printed.startswith(f"max rate at SLO: {s.headline}")  # the answer first on stdout
    assert "p90 TTFT <= 30 ms" in s.headline
    assert "load: completed requests/s" not in printed  # the bracketing burst is never a headline
    assert report.load is not None and report.load.requested_rate_rps is None  # it is still the load section
    md = (out / f"{path.stem}.md").read_text()
    assert f"**max rate at SLO: {s.headline}**" in md and "| max rate at SLO (req/s) |" in md
    probes = (out / f"{path.stem}_max_rate.md").read_text()  # every probe, beside the report, and the plot
    assert s.headline in probes and probes.count("| bracket |") >= 2 and (out / f"{path.stem}_max_rate.png").exists()


# -- 4. every request kept ----------------------------------------------------------------------------------
def test_every_request_is_one_jsonl_line_and_the_steady_window_counts(mock, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli(mock, out, "--tests", "load", "--request-rate", "50", "--num-requests", "30", "--save-requests",
                "--trim-warmup", "5", "--trim-cooldown", "0.1s") == 0
    path, report = _report(out)
    w = report.load.steady
    assert w.trimmed_start == 5 and w.trimmed_end >= 1 and w.counted == 30 - w.trimmed_start - w.trimmed_end
    assert report.load.metrics.completed == w.counted  # every figure is over the window
    assert report.load.schedule_rate_rps == pytest.approx(50)  # the whole schedule's offered rate
    req = path.with_name(path.stem + "_requests.jsonl")
    assert f"requests: {req}" in capsys.readouterr().out
    rows = [json.loads(line) for line in req.read_text().splitlines()]
    assert len(rows) == 30 and [r["index"] for r in rows] == list(range(30))
    assert [r["counted"] for r in rows] == [False] * 5 + [True] * w.counted + [False] * w.trimmed_end
    for r in rows:
        assert r["success"] and r["error"] is None and r["phase"] == "load"
        assert r["due_ms"] <= r["slot_ms"] <= r["sent_ms"] < r["first_token_ms"] <= r["end_ms"]
        assert r["tokens_out"] == TOKENS and r["tokens_source"] == "usage" and r["events"] == TOKENS // 4
        assert len(r["itl_ms"]) == TOKENS - 1 and r["first_token_ms"] - r["due_ms"] >= 9  # the mock's 10 ms
    assert rows[-1]["due_ms"] == pytest.approx(29 / 50 * 1e3, abs=0.01)  # exact rate: 29 gaps of 1/50 s in all
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # atomic: no temporary left
    # a path of one's own
    own = tmp_path / "mine.jsonl"
    assert _cli(mock, tmp_path / "out2", "--tests", "load", "--request-rate", "50", "--num-requests", "5",
                "--save-requests", str(own)) == 0
    assert len(own.read_text().splitlines()) == 5


# -- 5. trace replay ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trace_mock():
    with MockProcess(MockTiming(ttft_ms=5, itl_ms=0.05, tokens=None, tokens_per_event=32)) as m:
        yield m


@pytest.mark.parametrize("fmt", ["mooncake", "azure", "burstgpt"])
def test_trace_replay_keeps_the_traces_times_and_lengths(trace_mock, tmp_path, fmt):
    out = tmp_path / "out"
    rc = main(["--benchmark", "--engine", "openai", "--base-url", trace_mock.base_url, "--model", "mock",
               "--tokenizer", "tiny-qwen2", "--no-progress", "--benchmark-output", str(out), "--tests", "load",
               "--trace", str(TRACES[fmt]), "--trace-speed", "10", "--trace-limit", "25", "--save-requests"])
    assert rc == 0
    path, report = _report(out)
    load, t = report.load, report.load.trace
    trace = load_trace(TRACES[fmt], speed=10, limit=25)
    assert (t.format, t.requests, t.speed) == (fmt, 25, 10) and load.requested_rate_rps is None
    assert load.schedule_rate_rps == pytest.approx(trace.mean_rate_rps, rel=1e-6)
    err = t.send_time_error
    assert err.count == 25 and 0 <= err.p50_ms <= err.p99_ms <= err.max_ms < 1000
    assert catalogue.values(report)["load.trace_send_error_ms.p99"] == err.p99_ms
    rows = [json.loads(line) for line in path.with_name(path.stem + "_requests.jsonl").read_text().splitlines()]
    by_index = sorted(rows, key=lambda r: r["index"])
    assert [r["tokens_in"] for r in by_index] == [e.input_len for e in trace.entries]  # exact-length prompts
    assert [r["tokens_out"] for r in by_index] == [e.output_len for e in trace.entries]  # asked and served
    assert [round(r["due_ms"] * 1e6) for r in by_index] == pytest.approx(trace.offsets_ns, abs=1000)
    assert (t.with_hash_ids, "shared 512-token prefix" in load.prompts) == ((fmt == "mooncake"),) * 2


def test_mooncake_hash_ids_become_shared_prompt_prefixes():
    from mm_orch.load.trace_replay import requests_for

    class Vocab:
        def vocab_token_ids(self):
            return list(range(100, 5000))

    trace = load_trace(TRACES["mooncake"], limit=60)
    reqs, _ = requests_for(trace, Vocab(), seed=0)
    e = trace.entries
    i, j = next((i, j) for i in range(len(e)) for j in range(i + 1, len(e))
                if e[i].hash_ids and e[j].hash_ids and e[i].hash_ids[0] == e[j].hash_ids[0])
    assert reqs[i].prompt_token_ids[:512] == reqs[j].prompt_token_ids[:512]  # one shared block
    assert all(len(r.prompt_token_ids) == x.input_len and r.max_new_tokens == x.output_len
               for r, x in zip(reqs, e, strict=True))


# -- 6. an over-capacity schedule stops early and says so ---------------------------------------------------
def test_an_over_capacity_schedule_stops_at_half_time(engine):
    rate = 2 * capacity_rps(TIMING, TOKENS)  # the queue grows by a capacity's worth every second
    s = LoadSettings(request_rate=rate, num_requests=600, output_length=TOKENS, warmup_requests=0)
    watch = QueueWatch(round(599 / rate * 1e9))
    r = run_load(engine, s, ["x"], calibration=(None, "test"), watch=watch)
    assert watch.growing and r.stopped_early and "over capacity" in r.stopped_early
    assert r.scheduled == 600 and r.metrics.completed + r.metrics.failed < 400  # about half sent
    calm = QueueWatch(round(99 / 60 * 1e9))
    r = run_load(engine, s.model_copy(update={"request_rate": 60.0, "num_requests": 100}), ["x"],
                 calibration=(None, "test"), watch=calm)
    assert not calm.growing and r.stopped_early is None and r.metrics.completed == 100


# -- 7. --label and --compare -------------------------------------------------------------------------------
def test_compare_names_columns_by_label_and_warns_of_other_workloads(mock, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _cli(mock, a, "--tests", "load", "--request-rate", "20", "--num-requests", "8", "--label", "slow") == 0
    assert _cli(mock, b, "--tests", "load", "--request-rate", "60", "--num-requests", "8", "--label", "fast",
                "--max-concurrency", "4") == 0
    (pa, ra), (pb, rb) = _report(a), _report(b)
    assert (ra.label, rb.label) == ("slow", "fast")
    capsys.readouterr()
    assert main(["--compare", str(pa), str(pb), "--benchmark-output", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    assert "different workloads: request rate: slow 20.0, fast 60.0" in cap.err
    assert "max concurrency: slow -, fast 4" in cap.err
    assert "slow" in cap.out and "change fast" in cap.out
    (md,) = tmp_path.glob("compare_*.md")
    text = md.read_text()
    assert "**Warning: the runs measured different workloads**" in text and "- request rate: slow 20.0" in text
