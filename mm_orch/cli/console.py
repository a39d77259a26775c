"""What the CLI draws: progress on stderr (rich bars on a terminal, one plain line per phase otherwise) and
the end-of-run tables (stdout), all read from the typed report and the metric catalogue."""

from __future__ import annotations

import time
from collections import deque
from typing import Any, TextIO

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from mm_orch.benchmark.progress import Forwarding
from mm_orch.report import catalogue
from mm_orch.report.model import Report
from mm_orch.report.validation import ValidationResult


class LiveFigures:
    """What an open-loop phase looks like right now: requests/s, TTFT from arrival and failures over the last
    `window_s` seconds (a phase of a load test, a saturation rate or a max-rate probe)."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._ends: deque[tuple[float, float | None, bool]] = deque()
        self.failed = 0

    def add(self, ttft_ms: float | None, ok: bool, now: float | None = None) -> None:
        self._ends.append((time.perf_counter() if now is None else now, ttft_ms, ok))
        self.failed += not ok

    def line(self, now: float | None = None) -> str:
        now = time.perf_counter() if now is None else now
        while self._ends and self._ends[0][0] < now - self.window_s:
            self._ends.popleft()
        if not self._ends:
            return ""
        span = max(now - self._ends[0][0], 1.0) if len(self._ends) > 1 else self.window_s
        ttfts = [x[1] for x in self._ends if x[1] is not None and x[2]]
        ttft = (f" · TTFT p50 {np.percentile(ttfts, 50):.0f} p99 {np.percentile(ttfts, 99):.0f} ms"
                if ttfts else "")
        return f"{len(self._ends) / span:.1f} req/s{ttft} · {self.failed} failed"


class RichProgress:
    """The benchmark Progress hook drawn with rich: one bar per phase, its ETA when the work is known, and
    for open-loop phases the live figures beside it."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description:<28}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                             TextColumn("{task.fields[live]}"), console=console, transient=False,
                             disable=not enabled)
        self._task = None
        self._live: LiveFigures | None = None
        self._drawn = 0.0

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
        self._task = self._bar.add_task(name, total=total, live="")
        self._live = None

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, n)

    def observe(self, ttft_ms: float | None, ok: bool) -> None:
        if self._task is None:
            return
        self._live = self._live or LiveFigures()
        self._live.add(ttft_ms, ok)
        now = time.perf_counter()
        if now - self._drawn > 0.25:  # a few redraws a second, not one per request
            self._drawn = now
            self._bar.update(self._task, live=self._live.line(now))


class PlainProgress:
    """For logs (stderr is not a terminal): one line per finished phase, what and how long."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._name: str | None = None
        self._t0 = 0.0
        self._steps = 0
        self._failed = 0

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:  # on an error the one-line message says it all
            self._finish()

    def _finish(self) -> None:
        if self._name is not None:
            steps = f", {self._steps} requests" if self._steps else ""
            steps += f", {self._failed} failed" if self._failed else ""
            print(f"mm_orch: {self._name}: {time.perf_counter() - self._t0:.1f} s{steps}", file=self.stream,
                  flush=True)
        self._name = None

    def phase(self, name: str, total: int | None) -> None:
        self._finish()
        self._name, self._t0, self._steps, self._failed = name, time.perf_counter(), 0, 0

    def advance(self, n: int = 1) -> None:
        self._steps += n

    def observe(self, ttft_ms: float | None, ok: bool) -> None:
        self._failed += not ok


class Prefixed(Forwarding):
    """Another Progress whose phase names start with a prefix: a sweep names its cell on every line."""

    def __init__(self, inner: Any, prefix: str) -> None:
        super().__init__(inner)
        self.prefix = prefix

    def phase(self, name: str, total: int | None) -> None:
        self.inner.phase(f"{self.prefix}{name}", total)


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
