"""Where a closed loop at high concurrency loses time against the mock: per-slot gaps, wall breakdown, CPU.

    python3 scripts/load_gap_probe.py [--concurrency 256] [--n 1280] [--profile FILE]

Runs mm_orch's async client (one loop, as `--tests load`) against mm_orch.mock.server (80 ms TTFT, 15 ms
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

from mm_orch.mock.server import MockProcess, MockTiming, expected  # noqa: E402

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
    p.add_argument("--profile-mock", help="run the mock under cProfile, its profile written here")
    a = p.parse_args()
    from mm_orch.benchmark.progress import NullProgress
    from mm_orch.config import LoadSettings
    from mm_orch.engines.openai.engine import OpenAIEngine
    from mm_orch.engines.openai.settings import OpenAIEngineSettings
    from mm_orch.load.dispatch import _run_async_here, build_requests

    truth = expected(TIMING, 64)["e2e_ms"]
    mock_cls = MockProcess
    if a.profile_mock:
        class Profiled(MockProcess):  # the mock under cProfile; it writes the profile when stopped
            def __enter__(self):
                import subprocess

                self.proc = subprocess.Popen([sys.executable, "-m", "cProfile", "-o", a.profile_mock, "-m",
                                              "mm_orch.mock.server", *self.args()], stdout=subprocess.PIPE, text=True)
                self.port = int(self.proc.stdout.readline().rsplit(":", 1)[1].split("/")[0])
                return self

        mock_cls = Profiled
    with mock_cls(TIMING) as mock:
        e = OpenAIEngine("mock", settings=OpenAIEngineSettings(base_url=mock.base_url, served_model="mock",
                                                               tokenizer="tiny-qwen2", api_key_env=""))
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
        import gc
        import time

        pauses, t_gc = [], [0]

        def on_gc(phase, info):  # the client's garbage-collector pauses during the run
            if phase == "start":
                t_gc[0] = time.perf_counter_ns()
            else:
                pauses.append((info["generation"], (time.perf_counter_ns() - t_gc[0]) / 1e6, t_gc[0]))

        gc.callbacks.append(on_gc)
        recs, t0, cpu = _run_async_here(e, reqs, [0] * a.n, a.concurrency, 2, NullProgress())
        gc.callbacks.remove(on_gc)
        if prof:
            prof.disable()
            prof.dump_stats(a.profile)
        mock_cpu = proc_cpu(mock.proc.pid) - m0
        stats = mock.stats()
        try:
            tr = mock.trace()
        except Exception:  # a mock without /mock/trace (older code): no read or delivery figures
            tr = {"reads_ns": [], "first_sent_ns": []}
        reads = sorted(tr["reads_ns"])[-a.n:]  # the last n: after the warm-up's
        first_sent = sorted(tr["first_sent_ns"])[-a.n:]
        e.close()
    r = [x.record for x in recs]
    inside = [x for x in pauses if x[2] >= t0]
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
    # the k-th send against the k-th read (same clock): how long requests waited to be read by the mock
    read_delay = [(rd - st) / 1e6 for rd, st in zip(reads, starts, strict=False)]
    # first token: the mock's plan is read + 80 ms; the arrival against that plan
    firsts = sorted(x.token_times_ns[0] for x in ok)
    first_vs_plan = [(f - rd) / 1e6 - TIMING.ttft_ms for f, rd in zip(firsts, reads, strict=False)]
    delivery = [(f - fs) / 1e6 for f, fs in zip(firsts, first_sent, strict=False)]
    out = {
        "n": a.n, "concurrency": c, "completed": len(ok), "wall_s": wall, "throughput_rps": len(ok) / wall,
        "truth_rps": c / (truth / 1e3), "waves": a.n / c,
        "wall_if_waves_of_e2e_median_s": a.n / c * statistics.median(e2e) / 1e3,
        "ttft_ms": {"median": statistics.median(ttft), "p90": q(ttft, .9), "p99": q(ttft, .99), "max": max(ttft)},
        "e2e_ms": {"median": statistics.median(e2e), "p90": q(e2e, .9), "p99": q(e2e, .99), "max": max(e2e)},
        "last_token_to_end_ms_median": statistics.median(last_tok),
        "gap_end_to_next_send_ms": {"median": q(gaps, .5), "p90": q(gaps, .9), "p99": q(gaps, .99), "max": max(gaps),
                                    "mean": statistics.mean(gaps)} if gaps else None,
        "mock_read_delay_ms": {"median": q(read_delay, .5), "p90": q(read_delay, .9), "p99": q(read_delay, .99),
                               "max": max(read_delay, default=math.nan)},
        "first_token_after_read_plus_ttft_ms": {"median": q(first_vs_plan, .5), "p90": q(first_vs_plan, .9),
                                                "p99": q(first_vs_plan, .99)},
        "first_event_write_to_client_read_ms": {"median": q(delivery, .5), "p90": q(delivery, .9),
                                                 "p99": q(delivery, .99)},
        "first_wave_last_send_after_t0_ms": first_wave_send,
        "last_end_after_last_send_ms": (end - starts[-1]) / 1e6,
        "client_cpu_s": cpu, "client_cores": cpu / wall, "mock_cpu_s": mock_cpu, "mock_cores": mock_cpu / wall,
        "mock_first_event_late_ms": (stats.get("first_event_late") or {}).get("median_ms"),
        "mock_event_late_ms": {k: (stats.get("event_late") or {}).get(k) for k in ("median_ms", "p90_ms", "p99_ms")},
        "client_gc_in_phase": {"collections": len(inside), "total_ms": sum(x for _, x, _ in inside),
                               "max_ms": max((x for _, x, _ in inside), default=0.0),
                               "by_generation": {g: [sum(1 for x in inside if x[0] == g),
                                                     round(sum(x[1] for x in inside if x[0] == g), 1),
                                                     round(max((x[1] for x in inside if x[0] == g), default=0), 1)]
                                                 for g in (0, 1, 2)}},
        "load_avg_before": load0, "load_avg_after": os.getloadavg()[0],
    }
    print(json.dumps(out, indent=1, default=lambda v: round(v, 3)))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
