"""Side-by-side comparison of two or more reports (--compare A.json B.json ...)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from mm_orch.benchmark.baseline import comparable_metrics, direction


class CompareRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    better: str
    values: list[float | None]
    change_pct: list[float | None]  # each report after the first, against the first


def side_by_side(reports: list[dict[str, Any]]) -> list[CompareRow]:
    """One row per metric found in any report, in first-seen order."""
    metrics = [comparable_metrics(r) for r in reports]
    keys = list(dict.fromkeys(k for m in metrics for k in m))
    rows = []
    for k in keys:
        vals = [m.get(k) for m in metrics]
        base = vals[0]
        rows.append(CompareRow(metric=k, better=direction(k) or "", values=vals,
                               change_pct=[(v - base) / base * 100 if v is not None and base else None
                                           for v in vals[1:]]))
    return rows
