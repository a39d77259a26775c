"""mm_orch's load client vs a peer (vllm bench serve) against the mock server of known timing, same run.

    python3 scripts/load_vs_peer.py [--repeats 2] [--out reports/load_client_vs_peer.json]

The mock (mm_orch.mock.server, its own process): TTFT 80 ms, ITL 15 ms, 64 tokens, one token per event,
usage on; it measures how late it wrote each first event, and that median is taken out of each tool's
median TTFT: client-added TTFT = median TTFT - 80 ms - the mock's median first-event lateness.
Each tool runs as a child process; its CPU time is read with RUSAGE_CHILDREN, per 1,000 requests as the
difference between a long and a short run (so start-up and imports cancel out).
Figures: closed loop (rate inf) at c=1 and c=256; Poisson rates rising until added TTFT >= 5 ms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mm_orch.mock.server import MockProcess, MockTiming, expected  # noqa: E402

TIMING = MockTiming(ttft_ms=80.0, itl_ms=15.0, tokens=64)
INPUT_LEN, OUTPUT_LEN = 32, 64
RATES = (25.0, 50.0, 100.0, 150.0, 200.0, 250.0, 300.0, 400.0)


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_mm_orch(base_url: str, rate: float, conc: int | None, n: int, workers: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, __file__, "--one", base_url, str(rate), str(conc or 0), str(n), str(workers), out]
    subprocess.run(cmd, check=True, cwd=ROOT)
    r = json.loads(Path(out).read_text())
    m = r["metrics"]
    return {"ttft_median_ms": m["ttft_ms"]["median"], "tpot_median_ms": m["tpot_ms"]["median"],
            "itl_median_ms": m["itl_ms"]["median"], "ttft_p99_ms": m["ttft_ms"]["p99"],
            "throughput_rps": r["throughput_rps"], "completed": m["completed"], "failed": m["failed"],
            "in_process_cpu_per_1000_s": r["client_cpu"]["per_1000_requests_s"]}


def run_vllm(base_url: str, rate: float, conc: int | None, n: int, tokenizer: str) -> dict:
    d = tempfile.mkdtemp()
    cmd = [sys.executable, str(ROOT / "scripts" / "vllm_bench_serve.py"), "--backend", "openai",
           "--base-url", base_url.removesuffix("/v1"), "--endpoint", "/v1/completions", "--model", "mock",
           "--tokenizer", tokenizer, "--dataset-name", "random", "--random-input-len", str(INPUT_LEN),
           "--random-output-len", str(OUTPUT_LEN), "--num-prompts", str(n), "--request-rate", str(rate),
           "--burstiness", "1.0", "--ignore-eos", "--seed", "0", "--disable-tqdm", "--save-result",
           "--result-dir", d, "--result-filename", "r.json", "--percentile-metrics", "ttft,tpot,itl,e2el"]
    if conc:
        cmd += ["--max-concurrency", str(conc)]
    subprocess.run(cmd, check=True, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, VLLM_LOGGING_LEVEL="ERROR"))
    r = json.loads((Path(d) / "r.json").read_text())
    return {"ttft_median_ms": r["median_ttft_ms"], "tpot_median_ms": r["median_tpot_ms"],
            "itl_median_ms": r["median_itl_ms"], "ttft_p99_ms": r["p99_ttft_ms"],
            "throughput_rps": r["request_throughput"], "completed": r["completed"], "failed": r.get("failed", 0)}


def measure(tool: str, mock: MockProcess, rate: float, conc: int | None, n: int, tokenizer: str, workers: int) -> dict:
    mock.reset()
    load0, cpu0, t0 = os.getloadavg()[0], child_cpu(), time.time()
    if tool == "mm_orch":
        res = run_mm_orch(mock.base_url, rate, conc, n, workers)
    else:
        res = run_vllm(mock.base_url, rate, conc, n, tokenizer)
    late = (mock.stats().get("first_event_late") or {}).get("median_ms") or 0.0
    res |= {"tool": tool, "rate": rate, "concurrency": conc, "n": n, "mock_late_ms": late,
            "added_ttft_ms": res["ttft_median_ms"] - TIMING.ttft_ms - late, "cpu_s": child_cpu() - cpu0,
            "wall_s": time.time() - t0, "load_avg_before": load0, "load_avg_after": os.getloadavg()[0]}
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in res.items()}), flush=True)
    return res


def one_round(mock: MockProcess, tools: list[str], tokenizer: str, workers: int, rates, n_c256: int,
              open_only: bool = False) -> dict:
    out: dict = {"closed": [], "cpu": {}, "open": []}
    for tool in tools:
        if open_only:
            out["open"] += [measure(tool, mock, rate, None, int(rate * 4) + 20, tokenizer, workers) for rate in rates]
            continue
        out["closed"].append(measure(tool, mock, math.inf, 1, 12, tokenizer, 1))
        small = measure(tool, mock, math.inf, 256, 256, tokenizer, workers)
        big = measure(tool, mock, math.inf, 256, n_c256, tokenizer, workers)
        out["closed"].append(big)
        out["cpu"][tool] = (big["cpu_s"] - small["cpu_s"]) / (n_c256 - 256) * 1000
        for rate in rates:
            r = measure(tool, mock, rate, None, int(rate * 4) + 20, tokenizer, workers)
            out["open"].append(r)
            if r["added_ttft_ms"] >= 5 or r["failed"]:
                break
    return out


def one_mm_orch(argv: list[str]) -> None:
    """Child: one mm_orch load run, its LoadResult written as JSON."""
    from mm_orch.config import LoadSettings
    from mm_orch.engines.openai.engine import OpenAIEngine
    from mm_orch.engines.openai.settings import OpenAIEngineSettings
    from mm_orch.load.dispatch import run_load

    base_url, rate, conc, n, workers, out = argv
    e = OpenAIEngine("mock", settings=OpenAIEngineSettings(base_url=base_url, served_model="mock",
                                                           tokenizer="tiny-qwen2", api_key_env=""))
    e.load()
    try:
        s = LoadSettings(request_rate=float(rate), max_concurrency=int(conc) or None, num_requests=int(n),
                         input_length=INPUT_LEN, output_length=OUTPUT_LEN, warmup_requests=2, workers=int(workers))
        r = run_load(e, s, [], calibration=(None, "benchmark script"))
    finally:
        e.close()
    Path(out).write_text(r.model_dump_json())


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def table(doc: dict) -> str:
    """The side-by-side Markdown table of a results file (one column per tool and round)."""
    rounds, tools = doc["rounds"], ["mm_orch", "vllm"]
    cols = [(t, i) for t in tools for i in range(len(rounds))]

    def closed(t, i, c):
        return next((r for r in rounds[i]["closed"] if r["tool"] == t and r["concurrency"] == c), None)

    def best_rate(t, i):
        ok = [r["rate"] for r in rounds[i]["open"] if r["tool"] == t and r["added_ttft_ms"] < 5 and not r["failed"]]
        return max(ok) if ok else None

    rows = [
        ("client-added TTFT, c=1 (ms)", lambda t, i: closed(t, i, 1)["added_ttft_ms"]),
        ("client-added TTFT, c=256 (ms)", lambda t, i: closed(t, i, 256)["added_ttft_ms"]),
        ("TTFT p99, c=256 (ms)", lambda t, i: closed(t, i, 256)["ttft_p99_ms"]),
        (f"achieved req/s, c=256 (truth {doc['c256_truth_rps']:.1f})",
         lambda t, i: closed(t, i, 256)["throughput_rps"]),
        ("TPOT - 15 ms, c=1 (ms)", lambda t, i: closed(t, i, 1)["tpot_median_ms"] - 15),
        ("TPOT - 15 ms, c=256 (ms)", lambda t, i: closed(t, i, 256)["tpot_median_ms"] - 15),
        ("ITL median, c=256 (ms; truth 15)", lambda t, i: closed(t, i, 256)["itl_median_ms"]),
        ("highest Poisson rate with < 5 ms added TTFT (req/s)", best_rate),
        ("client CPU s per 1,000 requests (long - short run, c=256)", lambda t, i: rounds[i]["cpu"][t]),
        ("client CPU s per 1,000 requests, measured phase only (getrusage inside the client), c=256",
         lambda t, i: closed(t, i, 256)["in_process_cpu_per_1000_s"]),
        ("mock's median first-event lateness, c=256 (ms)", lambda t, i: closed(t, i, 256)["mock_late_ms"]),
        ("load average (1 min) before c=256", lambda t, i: closed(t, i, 256)["load_avg_before"]),
    ]
    head = "| figure | " + " | ".join(f"{'mm_orch' if t == 'mm_orch' else 'vllm bench serve'} #{i + 1}"
                                        for t, i in cols) + " |"
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    for name, f in rows:
        vals = []
        for t, i in cols:
            try:
                vals.append(_fmt(f(t, i)))
            except (TypeError, KeyError, StopIteration):
                vals.append("n/a")
        lines.append(f"| {name} | " + " | ".join(vals) + " |")
    lines += ["", "Open-loop sweeps (Poisson; added TTFT ms at each rate, the sweep stops at the first >= 5 ms):", ""]
    for t, i in cols:
        pts = ", ".join(f"{r['rate']:g}: {r['added_ttft_ms']:.1f} (load {r['load_avg_before']:.1f})"
                        for r in rounds[i]["open"] if r["tool"] == t)
        lines.append(f"- {t} #{i + 1}: {pts}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--tools", default="mm_orch,vllm")
    p.add_argument("--workers", type=int, default=1, help="mm_orch client processes")
    p.add_argument("--n-c256", type=int, default=1280)
    p.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES))
    p.add_argument("--out", default=str(ROOT / "reports" / "load_client_vs_peer.json"))
    p.add_argument("--open-only", action="store_true", help="only the Poisson rates, every one of them")
    p.add_argument("--table", metavar="JSON", help="only print the Markdown table of a results file")
    a = p.parse_args()
    if a.table:
        print(table(json.loads(Path(a.table).read_text())))
        return
    from mm_orch.models import ensure_local_model

    tokenizer = str(ensure_local_model("tiny-qwen2"))
    rates = [float(x) for x in a.rates.split(",") if x.strip()]  # "" = closed loop only
    rounds = []
    with MockProcess(TIMING) as mock:
        for i in range(a.repeats):
            print(f"# round {i + 1}", flush=True)
            rounds.append(one_round(mock, a.tools.split(","), tokenizer, a.workers, rates, a.n_c256, a.open_only))
    truth = expected(TIMING, OUTPUT_LEN)
    doc = {"mock": TIMING.model_dump(exclude={"api_key"}), "truth": truth,
           "c256_truth_rps": 256 / (truth["e2e_ms"] / 1e3),
           "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "rounds": rounds}
    Path(a.out).write_text(json.dumps(doc, indent=1))
    print(table(doc))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        one_mm_orch(sys.argv[2:])
    else:
        main()
