"""BenchmarkReporter: JSON and CSV reports (with system info), written atomically; validate_targets."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mm_orch.benchmark.latency import LatencyResult
from mm_orch.benchmark.memory import InferenceMemoryResult
from mm_orch.benchmark.sections import assemble_report, latency_section, memory_section, throughput_section
from mm_orch.errors import ConfigError
from mm_orch.gate.targets import validate_targets
from mm_orch.io import MAX_REPORT_BYTES, atomic_write_text, json_loads, read_user_file
from mm_orch.report import catalogue
from mm_orch.report.flat import flatten
from mm_orch.report.model import SCHEMA_VERSION, Report
from mm_orch.report.validation import ValidationResult

__all__ = ["BenchmarkReporter", "Report", "ValidationResult", "flatten", "load_report", "parse_report",
           "validate_targets"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def csv_rows(report: Report) -> list[dict[str, Any]]:
    """One row per model x engine x scenario: 'summary' (every catalogue metric, with its unit in the column
    name, then system info and model info), then each latency scenario's catalogue metrics."""
    base = {"model_name": report.model_name, "engine": report.engine, "timestamp": report.timestamp}
    context = flatten({"system_info": report.system_info.model_dump(mode="json") if report.system_info else None,
                       "model_info": report.model_info.model_dump(mode="json") if report.model_info else None})
    cells = catalogue.slots(report).values()
    summary = {f"{s.key} ({s.metric.unit})": s.value for s in cells if "scenario" not in s.names}
    rows = [base | {"scenario": "summary"} | summary | context]
    for sc in report.latency.scenarios if report.latency else []:
        mine = {f"{s.metric.key.replace('.{scenario}', '')} ({s.metric.unit})": s.value for s in cells
                if s.names.get("scenario") == sc.name}
        rows.append(base | {"scenario": sc.name, "input_length": sc.input_length,
                            "output_length": sc.output_length} | mine)
    return rows


def parse_report(text: str, source: str) -> Report:
    """A report from JSON text: schema 2 through the model, schema 1 converted; else a one-line ConfigError."""
    from pydantic import ValidationError

    from mm_orch.report.muai_keys import convert_v1

    try:
        data = json_loads(text, source)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{source}:{e.lineno}: not a JSON report: {e.msg}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    try:
        if version in ("1.0", 1):
            try:
                return _with_medians(Report.model_validate(convert_v1(data)))
            except (KeyError, TypeError, AttributeError) as e:
                raise ConfigError(f"{source}: a schema 1 report that cannot be converted (missing {e}); "
                                  "re-run the benchmark to write schema 2") from None
        if version != SCHEMA_VERSION:
            raise ConfigError(f"{source}: not an mm_orch report (schema_version {version!r}; this mm_orch reads "
                              f"{SCHEMA_VERSION} and converts 1.0)")
        return Report.model_validate_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        old = " (converted from schema 1)" if version in ("1.0", 1) else ""
        raise ConfigError(f"{source}: not a valid mm_orch report{old}: {'.'.join(map(str, first['loc']))}: "
                          f"{first['msg']}") from None


def _with_medians(report: Report) -> Report:
    """Schema 1 wrote --repeat medians over the flat keys only; put them where schema 2 keeps them."""
    spread = report.repeat.metrics if report.repeat else {}
    for key, slot in catalogue.slots(report).items():
        if key in spread and slot.owner is not None:
            slot.set(spread[key].median)
    return report


def load_report(path: str | Path) -> Report:
    """Read a JSON report back, with a one-line error naming the file when it is not one."""
    p = Path(path)
    return parse_report(read_user_file(p, "report", MAX_REPORT_BYTES), str(p))


def report_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


class BenchmarkReporter:
    def __init__(self, output_dir: str | Path = "data/benchmarks", include_system_info: bool = True,
                 include_model_info: bool = True) -> None:
        self.output_dir = Path(output_dir)
        self.include_system_info = include_system_info
        self.include_model_info = include_model_info

    def _path(self, report: Report, suffix: str) -> Path:
        """<model>_<engine>_<UTC second>.<suffix>, with _2, _3, ... when that name is taken: sessions of one
        model and engine can end within the same second (sweep cells, executors), and none may overwrite
        another's report."""
        stamp = report.timestamp or datetime.now(timezone.utc).isoformat()
        stamp = re.sub(r"[^0-9T]", "", stamp)[:15]
        stem = f"{_slug(report.model_name)}_{_slug(report.engine)}_{stamp}"
        path, n = self.output_dir / f"{stem}.{suffix}", 1
        while path.exists():
            n += 1
            path = self.output_dir / f"{stem}_{n}.{suffix}"
        return path

    def build(self, model_name: str, latency_results: Any = None, memory_results: Any = None,
              throughput_results: Any = None, engine: str = "hf", **extra: Any) -> Report:
        """From result objects: LatencyResult, (LoadMemoryResult, InferenceMemoryResult) or an
        InferenceMemoryResult, [ThroughputResult]; typed sections pass through."""
        if isinstance(latency_results, LatencyResult):
            latency_results = latency_section(latency_results)
        if isinstance(memory_results, tuple):
            memory_results = memory_section(*memory_results)
        elif isinstance(memory_results, InferenceMemoryResult):
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

    def write_json(self, report: Report, path: str | Path | None = None) -> Path:
        return atomic_write_text(path or self._path(report, "json"), report_json(report))

    def write_csv(self, report: Report, path: str | Path | None = None) -> Path:
        import pandas as pd

        frame = pd.DataFrame(csv_rows(report))
        return atomic_write_text(path or self._path(report, "csv"), frame.to_csv(index=False))

    def write(self, report: Report, fmt: str = "json") -> Path:
        if fmt not in ("json", "csv"):
            raise ConfigError(f"unknown report format '{fmt}' (choose from json, csv)")
        return self.write_json(report) if fmt == "json" else self.write_csv(report)

    # The MuAI guide's API
    def generate_json_report(self, model_name: str, latency_results: Any = None, memory_results: Any = None,
                             throughput_results: Any = None, **extra: Any) -> Path:
        return self.write_json(self.build(model_name, latency_results, memory_results, throughput_results,
                                          **extra))

    def generate_csv_report(self, model_name: str, results: Any = None, **extra: Any) -> Path:
        """results: a Report, or a dict with latency/memory/throughput results."""
        if isinstance(results, Report):
            report = results
        else:
            r = results or {}
            report = self.build(model_name, r.get("latency"), r.get("memory"), r.get("throughput"), **extra)
        return self.write_csv(report)
