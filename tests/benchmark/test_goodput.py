"""Goodput over per-request records (pure function), the --slo flag, and goodput in throughput results."""

import pytest

from mm_orch.benchmark.goodput import SLO, goodput, parse_slo
from mm_orch.engines.base import RequestRecord
from mm_orch.errors import ConfigError

MS = 1_000_000


def rec(ttft: float, tpot: float, n: int = 5, ok: bool = True) -> RequestRecord:
    times = [int(ttft * MS + i * tpot * MS) for i in range(n)]
    return RequestRecord(start_ns=0, end_ns=times[-1], token_times_ns=times, output_tokens=n, success=ok,
                         error=None if ok else "boom")


def test_goodput_counts_requests_meeting_every_objective():
    records = [rec(100, 10), rec(300, 10), rec(100, 60), rec(100, 10, ok=False), rec(150, 20, n=1)]
    g = goodput(records, wall_time_s=2.0, slo=SLO(ttft_ms=200, tpot_ms=50))
    # 1 meets both; 300 ms TTFT misses; 60 ms TPOT misses; the failure misses; 1 token: no TPOT to miss
    assert g.met == 2 and g.requests == 5 and g.failed == 1
    assert g.share_met == pytest.approx(0.4) and g.goodput_rps == pytest.approx(1.0)
    assert g.missed_by == {"ttft_ms": 1, "tpot_ms": 1}
    e2e = goodput(records, 2.0, SLO(e2e_ms=100 + 4 * 10))  # E2E = TTFT + 4 x TPOT
    assert e2e.met == 1 and e2e.missed_by == {"e2e_ms": 3}  # only rec(100, 10) ends within 140 ms

def test_goodput_edges():
    assert goodput([], 1.0, SLO(ttft_ms=1)).share_met is None
    with pytest.raises(ValueError, match="at least one"):
        SLO()


def test_parse_slo_flags():
    assert parse_slo(["ttft_ms=200", "tpot_ms=50", "e2e_ms=1500.5"]) == {"ttft_ms": 200, "tpot_ms": 50,
                                                                         "e2e_ms": 1500.5}
    for bad, msg in (("ttft=2", "KEY one of"), ("ttft_ms=fast", "not a number"), ("tpot_ms=0", "> 0")):
        with pytest.raises(ConfigError, match=msg):
            parse_slo([bad])


def test_slo_in_yaml_and_goodput_in_throughput(hf_engine, tmp_path, quick_config_path, capsys):
    from mm_orch.benchmark.throughput import ThroughputBenchmark
    from mm_orch.config import load_config
    from mm_orch.main import main

    bench = ThroughputBenchmark(0.2, 4, min_requests=3, slo=SLO(e2e_ms=1e9))
    r = bench.measure_single_request(hf_engine, ["Hello there"])
    assert r.goodput.met == r.metrics.completed >= 3 and r.goodput.goodput_rps == pytest.approx(r.requests_per_second)
    p = tmp_path / "c.yaml"
    p.write_text(quick_config_path.read_text() + "studies:\n  slo: {ttft_ms: 0}\n")
    with pytest.raises(ConfigError, match=r"c.yaml:\d+: studies.slo.ttft_ms"):
        load_config(p)
    assert main(["--benchmark", "--slo", "ttft=3", "--benchmark-output", str(tmp_path)]) == 2
    assert "--slo 'ttft=3'" in capsys.readouterr().err
