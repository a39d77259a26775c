"""Which phases of a report had failed requests (read by the console, the session and the failure-rate check)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mm_orch.report.model import Report


def failed_phases(report: Report) -> list[dict[str, Any]]:
    """Every phase with failed requests: {phase, failed, completed, error (the first distinct one)}."""
    parts: list[tuple[str, int, int, list[str]]] = []
    if report.latency is not None:
        lat = report.latency
        parts.append(("latency", lat.failed, lat.completed, lat.errors))
        parts += [(f"latency {s.name}", s.failed, s.completed, s.errors) for s in lat.scenarios]
    if report.throughput is not None:
        parts += [(f"throughput {p.mode} {p.level}", p.metrics.failed, p.metrics.completed, p.metrics.errors)
                  for p in report.throughput.points]
    if report.load is not None:
        m = report.load.metrics
        parts.append((f"load ({report.load.mode})", m.failed, m.completed, m.errors))
    return [{"phase": name, "failed": failed, "completed": done, "error": (errors or [None])[0]}
            for name, failed, done, errors in parts if failed]
