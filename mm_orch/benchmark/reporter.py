"""BenchmarkReporter: JSON and CSV reports (with system info), written atomically; validate_targets."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mm_orch.benchmark.latency import LatencyResult
from mm_orch.benchmark.report import (
    ReportSchema,
    assemble_report,
    latency_section,
    memory_section,
    throughput_section,
)
from mm_orch.benchmark.targets import ValidationResult, validate_targets
from mm_orch.errors import ConfigError
from mm_orch.io import atomic_write_text, read_user_file

__all__ = ["BenchmarkReporter", "ValidationResult", "flatten", "load_report", "validate_targets"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> dot-keys; lists are kept as JSON strings so every row has scalar cells."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out |= flatten(v, f"{prefix}{k}.")
    elif isinstance(data, list):
        out[prefix[:-1]] = json.dumps(data)
    else:
        out[prefix[:-1]] = data
    return out


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model x engine x scenario: 'summary' first, then each latency scenario."""
    base = {k: report.get(k) for k in ("model_name", "engine", "timestamp")}
    summary = {k: v for k, v in report.items() if k not in ("model_name", "engine", "timestamp")}
    summary = json.loads(json.dumps(summary, default=str))
    scenarios = []
    if summary.get("latency"):
        scenarios = summary["latency"].pop("scenarios", [])
    if summary.get("throughput"):
        summary["throughput"].pop("details", None)
    rows = [base | {"scenario": "summary"} | flatten(summary)]
    for s in scenarios:
        rows.append(base | {"scenario": s["name"]} | flatten({"latency": s}))
    return rows


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a JSON report back, with a one-line error naming the file when it is not one."""
    p = Path(path)
    text = read_user_file(p, "report")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{p}:{e.lineno}: not a JSON report: {e.msg}") from None
    from pydantic import ValidationError

    try:
        ReportSchema.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise ConfigError(f"{p}: not an mm_orch report: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return data


class BenchmarkReporter:
    def __init__(self, output_dir: str | Path = "data/benchmarks", include_system_info: bool = True,
                 include_model_info: bool = True) -> None:
        self.output_dir = Path(output_dir)
        self.include_system_info = include_system_info
        self.include_model_info = include_model_info

    def _path(self, report: dict[str, Any], suffix: str) -> Path:
        stamp = report.get("timestamp") or datetime.now(timezone.utc).isoformat()
        stamp = re.sub(r"[^0-9T]", "", stamp)[:15]
        return self.output_dir / f"{_slug(report['model_name'])}_{_slug(report['engine'])}_{stamp}.{suffix}"

    def build(self, model_name: str, latency_results: Any = None, memory_results: Any = None,
              throughput_results: Any = None, engine: str = "hf", **extra: Any) -> dict[str, Any]:
        """Accept result objects (LatencyResult, (load, inference), [ThroughputResult]) or ready sections."""
        if isinstance(latency_results, LatencyResult):
            latency_results = latency_section(latency_results)
        if isinstance(memory_results, tuple):
            memory_results = memory_section(*memory_results)
        elif memory_results is not None and not isinstance(memory_results, dict):
            memory_results = memory_section(None, memory_results)
        if isinstance(throughput_results, list):
            throughput_results = throughput_section(throughput_results)
        if self.include_system_info and extra.get("system_info") is None:
            from mm_orch.monitor.system_info import collect_system_info

            extra["system_info"] = collect_system_info()
        if not self.include_system_info:
            extra["system_info"] = None
        return assemble_report(model_name, engine, latency=latency_results, memory=memory_results,
                               throughput=throughput_results, **extra)

    def write_json(self, report: dict[str, Any], path: str | Path | None = None) -> Path:
        return atomic_write_text(path or self._path(report, "json"),
                                 json.dumps(report, indent=2, default=str) + "\n")

    def write_csv(self, report: dict[str, Any], path: str | Path | None = None) -> Path:
        import pandas as pd

        frame = pd.DataFrame(csv_rows(report))
        return atomic_write_text(path or self._path(report, "csv"), frame.to_csv(index=False))

    def write(self, report: dict[str, Any], fmt: str = "json") -> Path:
        if fmt not in ("json", "csv"):
            raise ConfigError(f"unknown report format '{fmt}' (choose from json, csv)")
        return self.write_json(report) if fmt == "json" else self.write_csv(report)

    # The MuAI guide's API
    def generate_json_report(self, model_name: str, latency_results: Any = None, memory_results: Any = None,
                             throughput_results: Any = None, **extra: Any) -> Path:
        return self.write_json(self.build(model_name, latency_results, memory_results, throughput_results,
                                          **extra))

    def generate_csv_report(self, model_name: str, results: Any = None, **extra: Any) -> Path:
        """results: a full report dict, or a dict with latency/memory/throughput results."""
        if isinstance(results, dict) and "schema_version" in results:
            report = results
        else:
            r = results or {}
            report = self.build(model_name, r.get("latency"), r.get("memory"), r.get("throughput"), **extra)
        return self.write_csv(report)
