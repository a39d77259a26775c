"""Truth vs found for a saturation report measured against the mock server with --max-concurrency.

    python3 scripts/saturation_mock_truth.py REPORT.json --ttft-ms 50 --itl-ms 10 --tokens 32 --max-concurrency 8

The capped mock is a FIFO queue of N servers of fixed service time (mm_orch/mock/queue.py): over the very
schedules the report ran (its seed, arrivals and the rates it measured), it predicts each rate's TTFT from
arrival, the burst's throughput, and so the knee the rule should find. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import math
import sys

from mm_orch.benchmark.reporter import load_report
from mm_orch.load.saturation import find_knee
from mm_orch.load.schedule import arrival_offsets_ns
from mm_orch.mock.queue import percentile, queue_ttft_ms
from mm_orch.mock.server import MockTiming, capacity_rps, expected
from mm_orch.settings.schedule import ScheduleSpec

STAT_Q = {"p99": 99, "p95": 95, "p90": 90, "max": 100}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report")
    p.add_argument("--ttft-ms", type=float, required=True)
    p.add_argument("--itl-ms", type=float, required=True)
    p.add_argument("--tokens", type=int, required=True)
    p.add_argument("--max-concurrency", type=int, required=True)
    a = p.parse_args(argv)
    timing = MockTiming(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, tokens=a.tokens, max_concurrency=a.max_concurrency)
    report = load_report(a.report)
    sat, load = report.saturation, report.config.benchmark.load
    if sat is None:
        print(f"{a.report}: no saturation section", file=sys.stderr)  # noqa: T201
        return 2
    e2e = expected(timing, a.tokens)["e2e_ms"]
    n = load.num_requests
    burst_truth = n / (math.ceil(n / a.max_concurrency) * e2e / 1e3)  # every request at once, rounds of N
    q = STAT_Q[sat.tail_statistic]
    rows, truth_tails = [], []
    for pt in sat.points:
        spec = ScheduleSpec(request_rate=pt.requested_rate_rps, arrivals=load.arrivals, burstiness=load.burstiness,
                            num_requests=n, duration_seconds=load.duration_seconds, seed=load.seed, exact_rate=True)
        ttft = queue_ttft_ms(timing, arrival_offsets_ns(spec), a.tokens)
        truth_tails.append(percentile(ttft, q))
        rows.append((pt, percentile(ttft, 50), truth_tails[-1]))
    knee_truth = find_knee(truth_tails, sat.knee_ttft_factor)
    print(f"Mock: TTFT {a.ttft_ms:g} ms, ITL {a.itl_ms:g} ms, {a.tokens} tokens -> E2E {e2e:g} ms; {a.max_concurrency} "  # noqa: T201
          f"at once -> capacity {capacity_rps(timing, a.tokens):.2f} req/s; a burst of {n} finishes at "
          f"{burst_truth:.2f} req/s (rounds of {a.max_concurrency}).")
    print(f"Found maximum: {sat.max_throughput_rps:.2f} req/s ({100 * sat.max_throughput_rps / burst_truth:.0f} % "  # noqa: T201
          f"of the burst's truth). Knee: found at point {sat.knee_index}, truth at point {knee_truth}.\n")
    print(f"| requested req/s | TTFT p50 truth | TTFT p50 found | TTFT {sat.tail_statistic} truth | "  # noqa: T201
          f"TTFT {sat.tail_statistic} found | achieved req/s |")
    print("|---|---|---|---|---|---|")  # noqa: T201
    for i, (pt, p50, tail) in enumerate(rows):
        mark = (" knee (found)" if i == sat.knee_index else "") + (" knee (truth)" if i == knee_truth else "")
        print(f"| {pt.requested_rate_rps:.3g}{mark} | {p50:.1f} | {pt.ttft_p50_ms:.1f} | {tail:.1f} | "  # noqa: T201
              f"{pt.ttft_tail_ms:.1f} | {pt.achieved_rps:.3g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
