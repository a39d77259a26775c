"""The CLI's open-loop side: --tests load flags (benchmark.load) and --calibrate.

main.py stays thin: it adds these flags with add_arguments() and merges load_overrides() into the config.
The openai client's own settings (--endpoint, --tokenizer, --base-url) are engine flags: the openai plug-in
declares them (engines/openai_plugin.py, engine_flags.py).
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mm_orch.report.load import LoadResult


def _rate(text: str) -> float | str:
    if text == "sweep":  # saturation: find the maximum, then a curve of rates up to it (studies/saturation.py)
        return text
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}' (requests/s, inf, or sweep)") from None
    if not v > 0 or math.isnan(v):
        raise argparse.ArgumentTypeError(f"must be > 0 (or inf), got {text}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("open-loop load test (--tests load; benchmark.load in the config)")
    g.add_argument("--request-rate", type=_rate, metavar="R", help="load: mean requests/s (inf = all at once; sweep "
                   "= saturation: the maximum from a burst, then --sweep-points rates up to it, the knee marked)")
    g.add_argument("--sweep-points", type=int, metavar="N", help="--request-rate sweep: rates measured (default 6)")
    g.add_argument("--burstiness", type=float, metavar="B", help="load: gamma shape of arrivals (1 = Poisson)")
    g.add_argument("--arrivals", choices=["gamma", "constant"], help="load: gamma (see --burstiness) or constant")
    g.add_argument("--max-concurrency", type=int, metavar="N", help="load: most requests in flight")
    g.add_argument("--num-requests", type=int, metavar="N", help="load: measured requests")
    g.add_argument("--load-duration", type=float, metavar="S", help="load: schedule length limit in seconds")
    g.add_argument("--load-workers", type=int, metavar="N", help="load: client processes (default: auto)")
    g.add_argument("--calibrate", action="store_true", help="measure the client's ceiling against the built-in mock "
                   "server on this machine and cache it for load reports (alone, or before --benchmark)")


def load_overrides(a: argparse.Namespace) -> dict[str, Any]:
    """Flags -> {'benchmark': {'load': ...}} (validated by the config models)."""
    load = {key: getattr(a, flag) for flag, key in (
        ("request_rate", "request_rate"), ("burstiness", "burstiness"), ("arrivals", "arrivals"),
        ("max_concurrency", "max_concurrency"), ("num_requests", "num_requests"),
        ("load_duration", "duration_seconds"), ("load_workers", "workers"), ("sweep_points", "sweep_points"))
        if getattr(a, flag) is not None}
    if load.get("request_rate") == "sweep":
        load["saturation"] = True
        del load["request_rate"]
    if a.load_duration is not None and a.num_requests is None:
        load["num_requests"] = None  # the duration alone bounds the schedule
    return {"benchmark": {"load": load}} if load else {}


def check_saturation(a: argparse.Namespace, tests: list[str]) -> None:
    """--request-rate sweep is a way to run the load test: without it, or with a swept request_rate, exit 2."""
    from mm_orch.errors import ConfigError

    if a.sweep_points is not None and a.request_rate != "sweep":
        raise ConfigError("--sweep-points applies to --request-rate sweep")
    if a.request_rate != "sweep":
        return
    if "load" not in tests:
        raise ConfigError("--request-rate sweep runs the load test: add --tests load")
    if any(s.partition("=")[0].strip() == "request_rate" for s in getattr(a, "sweep", [])):
        raise ConfigError("--request-rate sweep and --sweep request_rate=... both set the rate: choose one")


def run_calibration(console) -> int:
    from rich.table import Table

    from mm_orch.load.calibration import save
    from mm_orch.load.calibration_run import calibrate

    console.print("calibrating the load client against the mock server (about a minute)...")
    cal = calibrate()
    t = Table(title=f"client ceiling on this machine (added TTFT < {cal.threshold_ms:g} ms)")
    for c in ("kind", "level", "added TTFT median ms", "p90 ms", "mock late ms", "achieved req/s", "client cores",
              "load avg"):
        t.add_column(c, justify="left" if c == "kind" else "right")
    for lv in cal.levels:
        t.add_row(lv.kind, f"{lv.level:g}", _f(lv.added_ttft_ms), _f(lv.added_ttft_p90_ms), _f(lv.mock_late_ms),
                  _f(lv.achieved_rps), _f(lv.cores_busy), f"{lv.load_average:.1f}")
    console.print(t)
    console.print(f"max concurrency {cal.max_concurrency}, max Poisson rate {cal.max_rate_rps} req/s; "
                  f"saved to {save(cal)}")
    return 0


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def load_table(load: LoadResult):
    """The CLI's summary of the typed load section (Report.load)."""
    from rich.table import Table

    t = Table(title=f"load: {load.mode}, {load.workers} client process(es)")
    t.add_column("metric")
    for c in ("median", "p90", "p99"):
        t.add_column(c, justify="right")
    m = load.metrics
    for name, d in (("TTFT ms (from send)", m.ttft_ms), ("TPOT ms", m.tpot_ms), ("ITL ms", m.itl_ms),
                    ("E2E ms", m.e2e_latency_ms), ("TTFT ms (from arrival)", load.ttft_from_arrival_ms),
                    ("schedule lag ms", load.schedule_lag_ms), ("client queue ms", load.client_queue_ms)):
        t.add_row(name, *(_f(getattr(d, k)) if d else "n/a" for k in ("median", "p90", "p99")))
    cpu = load.client_cpu
    t.caption = (f"requested {_f(load.requested_rate_rps)} req/s, sent {_f(load.achieved_send_rate_rps)}, "
                 f"completed {_f(load.throughput_rps)}; {m.failed} failed; client CPU "
                 f"{_f(cpu.per_1000_requests_s if cpu else None)} s per 1,000 requests; "
                 f"calibration: {load.calibration_note}")
    return t
