"""What the CLI draws: a rich progress display and the end-of-run summary tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table


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


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}{unit}"
        return f"{v:.2f}{unit}" if abs(v) >= 1 else f"{v:.3g}{unit}"
    return f"{v}{unit}"


def summary_table(report: dict[str, Any]) -> Table:
    t = Table(title=f"{report['model_name']} on {report['engine']} "
                    f"({(report.get('model_info') or {}).get('device', '?')})", show_header=True)
    t.add_column("metric")
    t.add_column("value", justify="right")
    lat, mem, thr = report.get("latency") or {}, report.get("memory") or {}, report.get("throughput") or {}
    rows = [
        ("TTFT (mean)", lat.get("ttft_ms"), " ms"), ("TPOT (mean)", lat.get("tpot_ms"), " ms"),
        ("E2E latency (mean)", lat.get("e2e_latency_ms"), " ms"),
        ("tokens/s per request", lat.get("tokens_per_second"), ""),
        ("model load memory", mem.get("model_load_gb"), " GiB"), ("inference delta", mem.get("inference_delta_gb"),
                                                                  " GiB"),
        ("peak memory", mem.get("peak_gb"), " GiB"), ("KV cache (measured request)", mem.get("kv_cache_gb"), " GiB"),
        ("single-request tokens/s", thr.get("single_request_tps"), ""),
    ]
    rows += [(k.replace("_", " "), v, "") for k, v in thr.items()
             if (k.startswith("concurrent_") and k.endswith("_rps")) or (k.startswith("batch_") and k.endswith("_tps")
                                                                         and "total" not in k)]
    for name, value, unit in rows:
        section = lat if unit == " ms" or name.startswith("tokens/s") else mem if unit == " GiB" else thr
        if not section:
            continue  # that test was not run
        if value is not None or name.startswith(("TTFT", "peak", "single")):
            t.add_row(name, _fmt(value, unit))
    stats = report.get("engine_stats") or {}
    alpha = stats.get("alpha") or {}
    if alpha.get("count"):
        t.add_row("alpha (mean ± std, tokens)", f"{alpha['mean']:.4f} ± {alpha['std']:.4f} ({alpha['count']:,})")
        kl = (alpha.get("divergences") or {}).get("kl_star")
        if kl is not None:
            t.add_row("KL* (mean, nats)", _fmt(kl))
    hit = (stats.get("prefix_cache") or {}).get("hit_rate")
    if hit is not None:
        t.add_row("prefix-cache hit rate", f"{hit:.1%}")
    return t


def validation_table(validation: dict[str, Any]) -> Table:
    t = Table(title="target check: " + ("PASSED" if validation["passed"] else "FAILED"))
    for c in ("metric", "actual", "target", "result"):
        t.add_column(c)
    for c in sorted(validation["checked"], key=lambda c: c["passed"]):
        t.add_row(c["metric"], _fmt(c["actual"]), f"{c['comparison']} {_fmt(c['target'])}",
                  "[green]ok[/green]" if c["passed"] else "[red]FAIL[/red]")
    for s in validation["skipped"]:
        t.add_row(s["metric"], "n/a", "", f"skipped: {s['reason']}")
    return t
