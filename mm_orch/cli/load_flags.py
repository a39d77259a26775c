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


MAX_SLO = "max-slo"  # --request-rate max-slo: the highest rate meeting --slo at --slo-percentile


def _rate(text: str) -> float | str:
    if text in ("sweep", MAX_SLO):  # saturation (load/saturation.py), the max-rate search (load/max_rate.py)
        return text
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}' (requests/s, inf, sweep or {MAX_SLO})") from None
    if not v > 0 or math.isnan(v):
        raise argparse.ArgumentTypeError(f"must be > 0 (or inf), got {text}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("open-loop load test (--tests load; benchmark.load in the config)")
    g.add_argument("--request-rate", type=_rate, metavar="R", help="load: mean requests/s (inf = all at once; sweep "
                   "= saturation: the maximum from a burst, then --sweep-points rates up to it, the knee marked; "
                   f"{MAX_SLO} = the highest rate meeting --slo at --slo-percentile, with a confidence interval)")
    g.add_argument("--slo-percentile", type=_percentile, metavar="P", help="the SLO holds when P %% of requests "
                   "meet every --slo objective (p99 TTFT <= X; default 99): the verdict of every load run and what "
                   f"--request-rate {MAX_SLO} searches for")
    g.add_argument("--probe-seconds", type=_positive, metavar="S", help=f"--request-rate {MAX_SLO}: shortest probe "
                   "(default 10; a probe also lasts long enough for its percentile)")
    g.add_argument("--sweep-points", type=int, metavar="N", help="--request-rate sweep: rates measured (default 6)")
    g.add_argument("--burstiness", type=float, metavar="B", help="load: gamma shape of arrivals (1 = Poisson)")
    g.add_argument("--arrivals", choices=["gamma", "constant"], help="load: gamma (see --burstiness) or constant")
    g.add_argument("--max-concurrency", type=int, metavar="N", help="load: most requests in flight")
    g.add_argument("--num-requests", type=int, metavar="N", help="load: measured requests")
    g.add_argument("--load-duration", type=float, metavar="S", help="load: schedule length limit in seconds")
    g.add_argument("--load-workers", type=int, metavar="N", help="load: client processes (default: auto)")
    g.add_argument("--trim-warmup", type=_trim, metavar="Ns|N", help="load: requests due in the first N seconds "
                   "('5s') or the first N requests ('20') are sent but not counted (the steady window)")
    g.add_argument("--trim-cooldown", type=_trim, metavar="Ns|N", help="load: the same for the schedule's end")
    g.add_argument("--trace", metavar="FILE", help="load: replay a trace's arrival times and token lengths "
                   "(Mooncake JSONL, Azure LLM inference CSV or BurstGPT CSV, told by content) with synthetic "
                   "prompts of those lengths (needs a tokenizer: --tokenizer for the openai engine)")
    g.add_argument("--trace-speed", type=_positive, metavar="X", help="--trace: replay X times faster (0.5 = slower)")
    g.add_argument("--trace-limit", type=int, metavar="N", help="--trace: the first N replayable requests only")
    g.add_argument("--save-requests", nargs="?", const=True, metavar="PATH", help="write every open-loop request "
                   "as a JSONL line (due, sent, first token, ITL, end, tokens and their source, success, error): "
                   "beside the report as <stem>_requests.jsonl, or to PATH")
    g.add_argument("--label", metavar="NAME", help="name this run: the report records it, and --compare and the "
                   "sweep name their columns by it")
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
    elif load.get("request_rate") == MAX_SLO:
        load["max_rate_at_slo"] = True
        del load["request_rate"]
    if a.load_duration is not None and a.num_requests is None:
        load["num_requests"] = None  # the duration alone bounds the schedule
    if a.slo_percentile is not None:
        load["slo_percentile"] = a.slo_percentile
    if a.probe_seconds is not None:
        load["slo_search"] = {"min_probe_seconds": a.probe_seconds}
    steady = {}
    for flag, edge in ((a.trim_warmup, "start"), (a.trim_cooldown, "end")):
        if flag is not None:
            steady[f"{edge}_{flag[0]}"] = flag[1]
    if steady:
        load["steady"] = steady
    if a.trace is not None:
        load["trace"] = {"path": a.trace, **({"speed": a.trace_speed} if a.trace_speed is not None else {}),
                         **({"limit": a.trace_limit} if a.trace_limit is not None else {})}
    report = {k: v for k, v in (("save_requests", a.save_requests), ("label", a.label)) if v is not None}
    out: dict[str, Any] = {"load": load} if load else {}
    if report:
        out["report"] = report
    return {"benchmark": out} if out else {}


def check_load_flags(a: argparse.Namespace, tests: list[str]) -> None:
    """Flags of the open-loop test that would be ignored are refused (exit 2), each named: --request-rate sweep or
    max-slo without --tests load, a flag of one mode given in another, --trace with the flags it replaces."""
    from mm_orch.errors import ConfigError

    if a.sweep_points is not None and a.request_rate != "sweep":
        raise ConfigError("--sweep-points applies to --request-rate sweep")
    if a.probe_seconds is not None and a.request_rate != MAX_SLO:
        raise ConfigError(f"--probe-seconds applies to --request-rate {MAX_SLO}")
    if a.slo_percentile is not None and not a.slo:
        raise ConfigError("--slo-percentile applies to an SLO: add --slo ttft_ms=... (or tpot_ms, e2e_ms)")
    if a.trace is None:
        for flag, value in (("--trace-speed", a.trace_speed), ("--trace-limit", a.trace_limit)):
            if value is not None:
                raise ConfigError(f"{flag} applies to --trace FILE")
    else:
        replaced = [f for f, v in (("--request-rate", a.request_rate), ("--num-requests", a.num_requests),
                                   ("--load-duration", a.load_duration), ("--burstiness", a.burstiness),
                                   ("--arrivals", a.arrivals)) if v is not None]
        if replaced:
            raise ConfigError(f"--trace sets the arrival times and the number of requests: not with {replaced[0]} "
                              "(use --trace-speed and --trace-limit)")
    uses_load = [f for f, on in (("--trace", a.trace), ("--save-requests", a.save_requests),
                                 ("--trim-warmup", a.trim_warmup), ("--trim-cooldown", a.trim_cooldown)) if on]
    if a.request_rate in ("sweep", MAX_SLO):
        uses_load.insert(0, f"--request-rate {a.request_rate}")
    if uses_load and "load" not in tests:
        raise ConfigError(f"{uses_load[0]} is the open-loop load test's: add --tests load")
    if a.request_rate in ("sweep", MAX_SLO) and any(
            s.partition("=")[0].strip() == "request_rate" for s in getattr(a, "sweep", [])):
        raise ConfigError(f"--request-rate {a.request_rate} and --sweep request_rate=... both set the rate: choose one")
    if a.save_requests and getattr(a, "executor", "local") == "ray":
        raise ConfigError("--save-requests keeps the requests in this process: not with --executor ray (the cells "
                          "run on the cluster's nodes)")
    if isinstance(a.save_requests, str) and getattr(a, "sweep", None):
        raise ConfigError("--save-requests PATH names one file; a sweep writes one per cell, beside each cell's "
                          "report: give --save-requests without a path")


check_saturation = check_load_flags  # its name before issue 23


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


def _percentile(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}'") from None
    if not 0 < v < 100:
        raise argparse.ArgumentTypeError(f"a percentile between 0 and 100 (exclusive), got {text}")
    return v


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}'") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


def _trim(text: str) -> tuple[str, float | int]:
    """'5s' -> ('seconds', 5.0); '20' -> ('requests', 20)."""
    t = text.strip().lower()
    try:
        if t.endswith("s"):
            v = float(t[:-1])
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError
            return "seconds", v
        n = int(t)
        if n < 0:
            raise ValueError
        return "requests", n
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': seconds ('5s') or a number of requests ('20'), >= 0") from None


def load_table(load: LoadResult):
    """The CLI's summary of the typed load section (Report.load): what users got (TTFT and E2E from arrival)
    first, then server-side and client-side figures; the caption leads with completed req/s and output tok/s,
    and gives the rate requested beside the rate the schedule offered (drawn) and sent."""
    from rich.table import Table

    t = Table(title=f"load: {load.mode}, {load.workers} client process(es)")
    t.add_column("metric")
    for c in ("median", "p90", "p99"):
        t.add_column(c, justify="right")
    m = load.metrics
    for name, d in (("TTFT ms (from arrival)", load.ttft_from_arrival_ms),
                    ("E2E ms (from arrival)", load.e2e_from_arrival_ms), ("TTFT ms (from send)", m.ttft_ms),
                    ("TPOT ms", m.tpot_ms), ("ITL ms", m.itl_ms), ("E2E ms (from send)", m.e2e_latency_ms),
                    ("schedule lag ms", load.schedule_lag_ms), ("client queue ms", load.client_queue_ms)):
        t.add_row(name, *(_f(getattr(d, k)) if d else "n/a" for k in ("median", "p90", "p99")))
    cpu = load.client_cpu
    asked = "inf" if load.requested_rate_rps is None else _f(load.requested_rate_rps)
    offered = f"trace {load.trace.speed:g}x" if load.trace is not None else f"requested {asked} req/s"
    t.caption = (f"completed {_f(load.throughput_rps)} req/s, {_f(m.output_tokens_per_second)} output tok/s; "
                 f"{offered}, drawn schedule {_f(load.schedule_rate_rps)}, sent {_f(load.achieved_send_rate_rps)}; "
                 f"{m.failed} failed; client CPU {_f(cpu.per_1000_requests_s if cpu else None)} s per 1,000 "
                 f"requests; calibration: {load.calibration_note}")
    return t
