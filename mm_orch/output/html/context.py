"""Who, what, where and when a report is (model, engine, device, date: every plot's subtitle) and the SLO it ran
against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .format import LE, as_dict, dicts, dig, format_number, num


@dataclass(frozen=True)
class Context:
    """What every plot title carries."""

    model: str
    engine: str
    device: str
    date: str

    @property
    def subtitle(self) -> str:
        return " \u00b7 ".join((self.model, self.engine, self.device, self.date))


def device_label(report: dict) -> str:
    """The device that ran the model: the GPU for CUDA, the CPU model for CPU, 'remote server' for a server."""
    si = as_dict(report.get("system_info"))
    device = str(dig(report, "model_info", "device") or "")
    if device == "remote":
        return "remote server"
    gpu = si.get("gpu")
    if device.startswith("cuda") or (not device and gpu):
        count = int(num(si.get("gpu_count")) or 1)
        return f"{count}x {gpu or 'GPU'}" if count > 1 else str(gpu or "GPU")
    return f"CPU ({si['cpu']})" if si.get("cpu") else (device or "device unknown")


def format_date(timestamp: Any) -> str:
    """'2026-12-07 16:31 UTC' from an ISO 8601 timestamp (the text itself when it does not parse)."""
    if not timestamp:
        return "date unknown"
    try:
        when = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return str(timestamp)
    offset = when.utcoffset()
    return when.strftime("%Y-%m-%d %H:%M") + (" UTC" if offset is not None and not offset.total_seconds() else "")


def context_of(report: dict) -> Context:
    return Context(
        model=str(report.get("model_name") or dig(report, "model_info", "name") or "model unknown"),
        engine=str(report.get("engine") or dig(report, "config", "engine", "name") or "engine unknown"),
        device=device_label(report),
        date=format_date(report.get("timestamp")),
    )


def slo_of(report: dict) -> dict:
    """The run's SLO ({'ttft_ms': 100.0, ...}), from the config's studies or any goodput result; {} when none."""
    candidates = [dig(report, "config", "studies", "slo")]
    candidates += [dig(p, "goodput", "slo") for p in dicts(dig(report, "throughput", "points"))]
    candidates += [dig(p, "goodput", "slo") for p in dicts(dig(report, "saturation", "points"))]
    candidates += [dig(report, "workload", "goodput", "slo"), dig(report, "load", "goodput", "slo")]
    for slo in candidates:
        found = {k: num(v) for k, v in as_dict(slo).items() if num(v) is not None}
        if found:
            return found
    return {}


def slo_text(slo: dict) -> str:
    names = {"ttft_ms": "TTFT", "tpot_ms": "TPOT", "e2e_ms": "E2E"}
    return ", ".join(f"{names.get(k, k)} {LE} {format_number(v)} ms" for k, v in slo.items())
