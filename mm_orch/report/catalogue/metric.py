"""A metric of the catalogue (key, unit, direction, definition) and a Slot: where one value lives in a report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mm_orch.report.model import Report

Direction = Literal["higher", "lower"]


@dataclass(slots=True)
class Slot:
    """Where one concrete metric value lives in a report."""

    metric: Metric
    key: str
    label: str
    owner: Any  # the pydantic object holding the value; None when that part was not measured
    field: str
    names: dict[str, Any]  # the template's values: {"scenario": "in128_out64"}, {"level": 4}, or {}

    @property
    def value(self) -> float | None:
        v = getattr(self.owner, self.field, None) if self.owner is not None else None
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    def set(self, value: float) -> None:
        setattr(self.owner, self.field, value)


@dataclass(frozen=True, slots=True)
class Metric:
    key: str  # a template where the metric has many instances: {scenario}, {level}
    label: str
    unit: str
    direction: Direction
    definition: str
    computed_by: str  # "module:qualname" of the function that computes it (docs only; a test resolves each)
    slots: Callable[[Report, Metric], Iterator[Slot]]
    section: str  # the report section it belongs to
    summary: bool = False  # shown in the console table and the Markdown summary
    first_run_only: bool = False  # --repeat keeps the first (cold) run's value (memory)

    def slot(self, report: Report, owner: Any, field: str, **names: Any) -> Slot:
        return Slot(self, self.key.format(**names), self.label.format(**names), owner, field, names)


def section_field(section: str, field: str) -> Callable[[Report, Metric], Iterator[Slot]]:
    """Slots reading `field` from report.<section>, when the report has that section."""

    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        owner = getattr(r, section)
        if owner is not None:
            yield metric.slot(r, owner, field)

    return slots
