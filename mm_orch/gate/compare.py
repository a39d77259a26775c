"""Side-by-side comparison of two or more reports (--compare A.json B.json ...)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mm_orch.report import catalogue
from mm_orch.report.model import Report


class CompareRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field(description="Concrete catalogue key.")
    unit: str = Field(description="The metric's unit.")
    better: str = Field(description="higher or lower (from the catalogue).")
    values: list[float | None] = Field(description="One value per report; null where not measured.")
    change_pct: list[float | None] = Field(description="Each report after the first, against the first.")


def side_by_side(reports: list[Report]) -> list[CompareRow]:
    """One row per metric found in any report, in first-seen order."""
    cells = [catalogue.slots(r) for r in reports]
    specs = {k: s.metric for c in cells for k, s in c.items()}
    rows = []
    for k, spec in specs.items():
        vals = [c[k].value if k in c else None for c in cells]
        base = vals[0]
        rows.append(CompareRow(metric=k, unit=spec.unit, better=spec.direction, values=vals,
                               change_pct=[(v - base) / base * 100 if v is not None and base else None
                                           for v in vals[1:]]))
    return rows
