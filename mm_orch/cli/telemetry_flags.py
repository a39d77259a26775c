"""The CLI's telemetry flags (benchmark.telemetry): server metrics and GPU telemetry beside the client's figures."""

from __future__ import annotations

import argparse
from typing import Any


def _hz(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}' (samples per second, 1-100)") from None
    if not 1 <= v <= 100:
        raise argparse.ArgumentTypeError(f"must be 1-100 samples per second, got {text}")
    return v


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"must be an http(s):// URL, got '{text}'")
    return text


def _interval(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}' (seconds)") from None
    if not 0.05 <= v <= 3600:
        raise argparse.ArgumentTypeError(f"must be 0.05-3600 s, got {text}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("telemetry (benchmark.telemetry): the server's metrics and the GPUs, on the run's clock")
    sm = g.add_mutually_exclusive_group()
    sm.add_argument("--server-metrics", nargs="?", const=True, type=_url, metavar="URL",
                    help="scrape the server's Prometheus /metrics through the run (default URL: the openai "
                    "engine's base URL's /metrics); on by default for the openai engine when that endpoint answers")
    sm.add_argument("--no-server-metrics", action="store_true", help="never scrape the server's /metrics")
    g.add_argument("--server-metrics-interval", type=_interval, metavar="S",
                   help="seconds between scrapes (default 1; every phase boundary gets a scrape too)")
    g.add_argument("--server-metrics-series", action="append", metavar="NAME",
                   help="another Prometheus series to keep beside the known vLLM / SGLang / TGI ones (repeatable)")
    gt = g.add_mutually_exclusive_group()
    gt.add_argument("--gpu-telemetry", nargs="?", const=True, type=_hz, metavar="HZ",
                    help="sample the GPUs through NVML (power, utilization, memory, SM clock, temperature, energy; "
                    "default 20 Hz); on by default when the engine runs on CUDA")
    gt.add_argument("--no-gpu-telemetry", action="store_true", help="never sample the GPUs (nor the engine's "
                    "scheduler)")


def overrides(a: argparse.Namespace) -> dict[str, Any]:
    """Flags -> {'benchmark': {'telemetry': ...}} (validated by settings/telemetry.py)."""
    a = argparse.Namespace(**{k: getattr(a, k, None) for k in (
        "server_metrics", "no_server_metrics", "server_metrics_interval", "server_metrics_series", "gpu_telemetry",
        "no_gpu_telemetry")})  # a namespace built elsewhere (jobs, tests) may lack these flags
    t: dict[str, Any] = {}
    if a.no_server_metrics:
        t["server_metrics"] = False
    elif a.server_metrics is not None:
        t["server_metrics"] = True
        if a.server_metrics is not True:
            t["server_metrics_url"] = a.server_metrics
    if a.server_metrics_interval is not None:
        t["server_metrics_interval_s"] = a.server_metrics_interval
    if a.server_metrics_series:
        t["server_metrics_series"] = list(a.server_metrics_series)
    if a.no_gpu_telemetry:
        t["gpu_telemetry"] = False
    elif a.gpu_telemetry is not None:
        t["gpu_telemetry"] = True
        if a.gpu_telemetry is not True:
            t["gpu_telemetry_hz"] = a.gpu_telemetry
    return {"benchmark": {"telemetry": t}} if t else {}
