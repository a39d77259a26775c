"""The sweep's result: one point per grid cell with its metrics (run by studies/sweep.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SweepMetric(BaseModel):
    """A metric of the sweep's points, described by the metric catalogue (never guessed from its name)."""

    model_config = ConfigDict(extra="forbid")
    label: str
    unit: str
    direction: Literal["higher", "lower"] = Field(description="Which way is better.")


class SweepPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[str, Any] = Field(description="The swept parameters' values in this cell.")
    metrics: dict[str, float | None] = Field(description="Headline metrics of the cell (see SweepResult.metrics).")
    error: str | None = Field(None, description="Why the cell has no results, if it failed.")
    report: str | None = Field(None, description="The cell's full report (schema 2), when one was written.")


class SweepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_name: str
    engine: str = Field(description="The configured engine (a swept engine is in each point's params).")
    parameters: dict[str, list[Any]] = Field(description="Swept keys and their values, in grid order.")
    tests: list[str]
    metrics: dict[str, SweepMetric] = Field(description="Metric key -> label, unit and direction, for every point.")
    points: list[SweepPoint]
    system_info: dict[str, Any] | None = None
    timestamp: str
    incomplete: bool = Field(False, description="True when the sweep was interrupted (Ctrl-C): points holds the "
                             "cells that finished (and the interrupted one, with its partial metrics).")
    missing_cells: list[dict[str, Any]] = Field([], description="Interrupted sweep: the cells that did not run.")
    label: str | None = Field(None, description="The sweep's name (--label).")
