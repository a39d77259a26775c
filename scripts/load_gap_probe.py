"""Where a closed loop at high concurrency loses time against the mock: per-slot gaps, wall breakdown, CPU.

    python3 scripts/load_gap_probe.py [--concurrency 256] [--n 1280] [--profile FILE]

Runs mm_orch's async client (one loop, as `--tests load`) against mm_orch.mock_server (80 ms TTFT, 15 ms
ITL, 64 tokens) in its own process and prints: the wall (first due to last token) against n / c waves of
the truth E2E, the per-request TTFT/E2E, the gap between a request's last byte and the next send on its
slot (matched first-in first-out), the mock's and the client's CPU, and the load average.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mm_orch.mock_server import MockProcess, MockTiming, expected  # noqa: E402

TIMING = MockTiming(ttft_ms=80.0, itl_ms=15.0, tokens=64)


def proc_cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def q(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))] if s else math.nan


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--n", type=int, default=1280)
    p.add_argument("--profile", help="write a cProfile of the client's measured phase here")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args()
    from mm_orch.benchmark.load_runner import _run_async_here, build_requests
    from mm_orch.benchmark.progress import NullProgress
    from mm_orch.config import LoadSettings
    from mm_orch.engines.openai_http import OpenAIEngine

    truth = expected(TIMING, 64)["e2e_ms"]
    with MockProcess(TIMING) as mock:
        e = OpenAIEngine("mock", base_url=mock.base_url, served_model="mock", tokenizer="tiny-qwen2", api_key_env="")
        e.load()
        s = LoadSettings(request_rate=math.inf, max_concurrency=a.concurrency, num_requests=a.n, input_length=32,
                         output_length=64, warmup_requests=2)
        reqs, _ = build_requests(e, s, [], a.n)
        mock.reset()
        load0 = os.getloadavg()[0]
        m0 = proc_cpu(mock.proc.pid)
        prof = None
        if a.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        recs, t0, cpu = _run_async_here(e, reqs, [0] * a.n, a.concurrency, 2, NullProgress())
        if prof:
            prof.disable()
            prof.dump_stats(a.profile)
        mock_cpu = proc_cpu(mock.proc.pid) - m0
        stats = mock.stats()
        e.close()
    r = [x.record for x in recs]
    ok = [x for x in r if x.success]
    end = max(x.end_ns for x in r)
    wall = (end - t0) / 1e9
    starts = sorted(x.start_ns for x in r)
    ends = sorted(x.end_ns for x in r)
    c = a.concurrency
    # FIFO: the k-th permit given back (k-th end) is taken by the (c + k)-th send
    gaps = [(starts[c + k] - ends[k]) / 1e6 for k in range(len(starts) - c)]
    ttft = [(x.token_times_ns[0] - x.start_ns) / 1e6 for x in ok]
    e2e = [(x.end_ns - x.start_ns) / 1e6 for x in ok]
    last_tok = [(x.end_ns - x.token_times_ns[-1]) / 1e6 for x in ok]
    first_wave_send = (starts[c - 1] - t0) / 1e6
    out = {
        "n": a.n, "concurrency": c, "completed": len(ok), "wall_s": wall, "throughput_rps": len(ok) / wall,
        "truth_rps": c / (truth / 1e3), "waves": a.n / c,
        "wall_if_waves_of_e2e_median_s": a.n / c * statistics.median(e2e) / 1e3,
        "ttft_ms": {"median": statistics.median(ttft), "p90": q(ttft, .9), "p99": q(ttft, .99), "max": max(ttft)},
        "e2e_ms": {"median": statistics.median(e2e), "p90": q(e2e, .9), "p99": q(e2e, .99), "max": max(e2e)},
        "last_token_to_end_ms_median": statistics.median(last_tok),
        "gap_end_to_next_send_ms": {"median": q(gaps, .5), "p90": q(gaps, .9), "p99": q(gaps, .99), "max": max(gaps),
                                    "mean": statistics.mean(gaps)} if gaps else None,
        "first_wave_last_send_after_t0_ms": first_wave_send,
        "last_end_after_last_send_ms": (end - starts[-1]) / 1e6,
        "client_cpu_s": cpu, "client_cores": cpu / wall, "mock_cpu_s": mock_cpu, "mock_cores": mock_cpu / wall,
        "mock_first_event_late_ms": (stats.get("first_event_late") or {}).get("median_ms"),
        "mock_event_late_ms": {k: (stats.get("event_late") or {}).get(k) for k in ("median_ms", "p90_ms", "p99_ms")},
        "load_avg_before": load0, "load_avg_after": os.getloadavg()[0],
    }
    print(json.dumps(out, indent=1, default=lambda v: round(v, 3)))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
