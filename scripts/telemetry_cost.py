"""What watching a run costs: the samplers' CPU per second, and their effect on TTFT at concurrency 1 (the mock).

    python3 scripts/telemetry_cost.py [--rounds 6] [--requests 150] [--seconds 20] [--metrics-text FILE]
                                      [--json out.json]

1. CPU per second of sampling, each sampler alone in this process for --seconds:
   - the server-metrics scraper against the mock's /metrics, and against a vLLM-sized /metrics (--metrics-text: a
     recorded vLLM answer, served here by a plain HTTP server), at 1 s (the default) and 0.1 s;
   - the GPU sampler at 20 Hz on the fake NVML of tests/telemetry/fake_nvml.py (pure Python, so it holds the GIL
     longer than NVML's C calls, which release it: a pessimistic stand-in where no GPU is; real NVML is measured on
     the GPU machine, scripts/gpu_telemetry_runs.sh, and reported as gpu_telemetry.sampler_cpu_s_per_s).
2. TTFT at concurrency 1: the open-loop load test (request rate inf, max concurrency 1) through the openai engine
   against the mock server (its own process), with the samplers running in this process and without, the
   conditions interleaved round by round so that drift in the machine's load falls on all of them alike. The
   effect is the difference of mean TTFT from send (on - off), with a 95 % interval from the per-request samples
   (Welch), and the difference of the rounds' medians.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mm_orch.mock.server import MockProcess, MockTiming  # noqa: E402
from mm_orch.telemetry.gpu_telemetry import GpuTelemetrySampler  # noqa: E402
from mm_orch.telemetry.server_metrics import ServerMetricsScraper  # noqa: E402


def serve_text(text: str) -> tuple[ThreadingHTTPServer, str]:
    body = text.encode()

    class H(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/metrics"


def fake_gpu(hz: float = 20.0) -> GpuTelemetrySampler:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.telemetry.fake_nvml import FakeNvml

    t0 = time.perf_counter()
    return GpuTelemetrySampler(hz=hz, nvml=FakeNvml(lambda: time.perf_counter() - t0))


def scraper_cost(url: str, interval: float, seconds: float) -> dict:
    s = ServerMetricsScraper(url, interval)
    t0 = time.perf_counter()
    s.start()
    time.sleep(seconds)
    s.stop()
    wall = time.perf_counter() - t0
    n = len(s.scrapes) + sum(s.failures.values())
    return {"interval_s": interval, "scrapes": n, "failed": sum(s.failures.values()),
            "cpu_s_per_s": s.cpu_ns / 1e9 / wall, "cpu_ms_per_scrape": s.cpu_ns / 1e6 / max(1, n)}


def gpu_cost(seconds: float) -> dict:
    g = fake_gpu()
    g.start()
    time.sleep(seconds)
    g.stop()
    sec = g.summarize()
    return {"hz": g.hz, "samples": sec.samples, "cpu_s_per_s": sec.sampler_cpu_s_per_s,
            "round_ms": sec.sample_ms_mean}


def ttft_runs(mock: MockProcess, metrics_url: str, rounds: int, n: int, only: list[str] | None = None) -> dict:
    from mm_orch.config import LoadSettings
    from mm_orch.engines.openai.engine import OpenAIEngine
    from mm_orch.engines.openai.settings import OpenAIEngineSettings
    from mm_orch.load.dispatch import run_load

    eng = OpenAIEngine("mock", settings=OpenAIEngineSettings(base_url=mock.base_url, served_model="mock",
                                                             api_key_env="", tokenizer="tiny-qwen2"))
    eng.load()
    settings = LoadSettings(request_rate=math.inf, max_concurrency=1, num_requests=n, output_length=8,
                            warmup_requests=2)
    conditions = {
        "off": lambda: [],
        "server metrics, 1 s": lambda: [ServerMetricsScraper(metrics_url, 1.0)],
        "server metrics, 0.1 s": lambda: [ServerMetricsScraper(metrics_url, 0.1)],
        "GPU sampler 20 Hz (fake NVML)": lambda: [fake_gpu(20.0)],
        "both (1 s, 20 Hz)": lambda: [ServerMetricsScraper(metrics_url, 1.0), fake_gpu(20.0)],
    }
    if only:
        conditions = {k: v for k, v in conditions.items() if k == "off" or any(o in k for o in only)}
    ttft: dict[str, list[float]] = {k: [] for k in conditions}
    medians: dict[str, list[float]] = {k: [] for k in conditions}
    try:
        for r in range(rounds):
            order = list(conditions) if r % 2 == 0 else list(reversed(conditions))
            for name in order:
                parts = conditions[name]()
                for p in parts:
                    p.start()
                recs: list = []
                try:
                    run_load(eng, settings, ["hello"], keep=recs, calibration=(None, "telemetry cost"))
                finally:
                    for p in parts:
                        p.stop()
                vals = [(x.record.token_times_ns[0] - x.record.start_ns) / 1e6 for x in recs
                        if x.record.success and x.record.token_times_ns]
                ttft[name] += vals
                medians[name].append(statistics.median(vals))
                print(f"round {r + 1} {name}: mean TTFT {statistics.fmean(vals):.3f} ms", file=sys.stderr)
    finally:
        eng.close()
    base = ttft["off"]
    out = {}
    for name, vals in ttft.items():
        d = statistics.fmean(vals) - statistics.fmean(base)
        se = math.sqrt(statistics.variance(vals) / len(vals) + statistics.variance(base) / len(base))
        out[name] = {"requests": len(vals), "mean_ms": statistics.fmean(vals), "median_ms": statistics.median(vals),
                     "p90_ms": sorted(vals)[int(0.9 * len(vals))],
                     "effect_mean_ms": d, "effect_ci95_ms": [d - 1.96 * se, d + 1.96 * se],
                     "effect_round_medians_ms": statistics.median(medians[name]) - statistics.median(medians["off"])}
    return out


def cpu_costs(out: dict, mock_url: str, a: argparse.Namespace) -> None:
    out["scraper_mock"] = [scraper_cost(mock_url, i, a.seconds) for i in (1.0, 0.1)]
    if a.metrics_text:
        text = Path(a.metrics_text).read_text()
        srv, url = serve_text(text)
        out["scraper_vllm_text"] = {"bytes": len(text), "runs": [scraper_cost(url, i, a.seconds) for i in (1.0, 0.1)]}
        srv.shutdown()
    out["gpu_sampler_fake_nvml"] = gpu_cost(a.seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--requests", type=int, default=150)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--metrics-text", help="a recorded vLLM /metrics answer (tests/telemetry/data/...)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--only", action="append", help="TTFT conditions whose name contains this (repeatable; 'off' "
                    "always runs)")
    ap.add_argument("--skip-cpu", action="store_true", help="only the TTFT part")
    a = ap.parse_args()
    out: dict = {"machine": {"cpus": __import__("os").cpu_count(), "load_before": __import__("os").getloadavg()}}
    with MockProcess(MockTiming(ttft_ms=10, itl_ms=1, tokens=8)) as mock:
        mock_url = f"http://127.0.0.1:{mock.port}/metrics"
        if not a.skip_cpu:
            cpu_costs(out, mock_url, a)
        out["ttft_c1"] = ttft_runs(mock, mock_url, a.rounds, a.requests, a.only)
    out["machine"]["load_after"] = __import__("os").getloadavg()
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
