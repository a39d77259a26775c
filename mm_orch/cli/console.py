"""What the CLI draws: progress on stderr (rich bars on a terminal, one plain line per phase otherwise) and
the end-of-run tables (stdout), all read from the typed report and the metric catalogue."""

from __future__ import annotations

import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mm_orch.report import catalogue
from mm_orch.report.model import Report
from mm_orch.report.validation import ValidationResult


class RichProgress:
    """The benchmark Progress hook drawn with rich; one line per phase."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description:<28}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=False,
                             disable=not enabled)
        self._task = None

    def __enter__(self) -> RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        self._bar.__exit__(*exc)

    def _finish(self) -> None:
        if self._task is not None:
            t = self._bar.tasks[self._task]
            self._bar.update(self._task, total=t.completed or 1, completed=t.completed or 1)

    def phase(self, name: str, total: int | None) -> None:
        self._finish()
        self._task = self._bar.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, n)


class PlainProgress:
    """For logs (stderr is not a terminal): one line per finished phase, what and how long."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._name: str | None = None
        self._t0 = 0.0
        self._steps = 0

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:  # on an error the one-line message says it all
            self._finish()

    def _finish(self) -> None:
        if self._name is not None:
            steps = f", {self._steps} requests" if self._steps else ""
            print(f"mm_orch: {self._name}: {time.perf_counter() - self._t0:.1f} s{steps}", file=self.stream,
                  flush=True)
        self._name = None

    def phase(self, name: str, total: int | None) -> None:
        self._finish()
        self._name, self._t0, self._steps = name, time.perf_counter(), 0

    def advance(self, n: int = 1) -> None:
        self._steps += n


def progress_for(console: Console, enabled: bool) -> Any:
    """Bars on a terminal, plain lines otherwise, nothing with --no-progress."""
    if not enabled:
        return RichProgress(console, enabled=False)
    return RichProgress(console) if console.is_terminal else PlainProgress(console.file)


def summary_table(report: Report) -> Table:
    device = report.model_info.device if report.model_info else "?"
    t = Table(title=f"{report.model_name} on {report.engine} ({device})", show_header=True)
    for c in ("metric", "value", "unit"):
        t.add_column(c, justify="right" if c == "value" else "left")
    from mm_orch.output.headline import summary_slots  # a saturation or search burst is never a headline

    for s in summary_slots(report).values():
        t.add_row(s.label, catalogue.format_value(s.value), s.metric.unit)
    if report.memory is not None:
        for name, fig in (("model load memory", report.memory.model_load), ("peak memory", report.memory.peak)):
            if fig.value_gb is None:
                t.add_row(f"{name}: missing", fig.reason or "", "")
                break
    stats = report.engine_stats
    alpha = stats.get("alpha") or {}
    if alpha.get("count"):
        t.add_row("alpha (mean ± std, tokens)", f"{alpha['mean']:.4f} ± {alpha['std']:.4f} ({alpha['count']:,})", "")
        kl = (alpha.get("divergences") or {}).get("kl_star")
        if kl is not None:
            t.add_row("KL* (mean)", catalogue.format_value(kl), "nats")
    hit = (stats.get("prefix_cache") or {}).get("hit_rate")
    if hit is not None:
        t.add_row("prefix-cache hit rate", f"{hit:.1%}", "")
    return t


def validation_table(validation: ValidationResult) -> Table:
    t = Table(title="target check: " + ("PASSED" if validation.passed else "FAILED"))
    for c in ("metric", "actual", "target", "result"):
        t.add_column(c)
    for c in sorted(validation.checked, key=lambda c: c.passed):
        t.add_row(c.metric, catalogue.format_value(c.actual, c.unit),
                  f"{c.comparison} {catalogue.format_value(c.target, c.unit)}",
                  "[green]ok[/green]" if c.passed else "[red]FAIL[/red]")
    for s in validation.skipped:
        t.add_row(s.metric, "n/a", "", f"skipped: {s.reason}")
    return t
