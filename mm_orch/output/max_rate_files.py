"""The max-rate-at-SLO search's files beside a report: <stem>_max_rate.png (each probe's share of requests meeting
the SLO against its rate, the percentile as the SLO line, the found rate and its interval) and <stem>_max_rate.md
(the answer, then one row per probe)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mm_orch.io import atomic_write_text

if TYPE_CHECKING:
    from mm_orch.output.plot_style import PlotContext
    from mm_orch.report.max_rate import MaxRateAtSloResult


def _share(p, slo: dict) -> float | None:
    met = p.met_all if p.met_all is not None else min(p.met.values(), default=None)
    return None if met is None or not p.n else met / p.n


def max_rate_plot(s: MaxRateAtSloResult, ctx: PlotContext, path: Path) -> Path:
    """Two panels against the probed rate: the share meeting every objective (the percentile dashed: the SLO
    holds above it), and each objective's value at the percentile (its limit dashed); the found rate a vertical
    line, its interval shaded; probes that stopped early (over capacity) as crosses."""
    from mm_orch.output.plot_style import KNEE_COLOR, PALETTE, SLO_COLOR, figure, note, save, style

    probes = sorted(s.probes, key=lambda p: p.rate)
    fig, (a_share, a_value) = figure(2, ctx, f"Max rate at SLO: {s.headline}", extra_bottom=0.15)
    for ax in (a_share, a_value):
        if s.ci_low is not None and s.ci_high is not None:
            ax.axvspan(s.ci_low, s.ci_high, color=PALETTE[2], alpha=0.15, lw=0,
                       label=f"{s.confidence * 100:g} % interval")
        if s.rate is not None:
            ax.axvline(s.rate, color=KNEE_COLOR, lw=1.2, label=f"found: {s.rate:.4g} req/s")
    ok = [p for p in probes if not p.growing]
    a_share.plot([p.rate for p in ok], [100 * (_share(p, s.slo) or 0) for p in ok], "o", color=PALETTE[0],
                 label="probe: requests meeting the SLO")
    over = [p for p in probes if p.growing]
    if over:
        a_share.plot([p.rate for p in over], [100 * (_share(p, s.slo) or 0) for p in over], "x", color=PALETTE[1],
                     ms=8, label="over capacity (stopped early)")
    a_share.axhline(s.percentile, color=SLO_COLOR, ls="--", lw=1.3, label=f"SLO: {s.percentile:g} % must meet it")
    style(a_share, "share meeting every objective", "requested rate (requests/s)", "requests meeting the SLO (%)",
          zero=False)
    a_share.legend(fontsize=7.5, loc="lower left")
    for i, (metric, limit) in enumerate(s.slo.items()):
        pts = [(p.rate, p.values[metric]) for p in ok if metric in p.values]
        a_value.plot([r for r, _ in pts], [v for _, v in pts], "o", color=PALETTE[(i + 3) % len(PALETTE)],
                     label=f"{metric.split('_')[0].upper()} p{s.percentile:g} per probe")
        a_value.axhline(limit, color=SLO_COLOR, ls="--", lw=1.3, label=f"SLO {metric.split('_')[0].upper()} "
                        f"\u2264 {limit:g} ms")
    style(a_value, f"p{s.percentile:g} of each objective", "requested rate (requests/s)",
          "ms (TTFT and E2E from arrival)")
    a_value.legend(fontsize=7.5, loc="upper left")
    note(fig, f"{len(s.probes)} probes, {s.requests:,} requests judged; {s.method}: " + (
        "where a logistic fit of the probes' fail share crosses 1 - percentile" if s.method == "fit" else
        "the bisection's highest passing rate") + f". Stop: {s.stop_reason}.")
    return save(fig, path)


def max_rate_markdown(s: MaxRateAtSloResult, title: str, plot: Path | None) -> str:
    f = (lambda v: "–" if v is None else f"{v:.4g}")  # noqa: E731
    rows = [f"# {title}", "", f"**{s.headline}**", "",
            f"{s.engine} ({s.mode}), {s.output_length} output tokens, max concurrency {s.max_concurrency or 'none'}, "
            f"{s.arrivals}; {len(s.probes)} probes ({s.stopped_early} stopped early), {s.requests:,} requests judged, "
            f"{s.probe_seconds:.0f} s of probes in {s.elapsed_s:.0f} s; each probe ran {1 + s.warmup_fraction:g}x its "
            f"length, the first {s.warmup_fraction:.0%} not counted. Method: {s.method}; stop: {s.stop_reason}.", "",
            "| # | phase | rate req/s | requests | met all | share | verdict (pooled) | achieved req/s | "
            + " | ".join(f"{m} p{s.percentile:g}" for m in s.slo) + " | note |",
            "|---|---|---|---|---|---|---|---|" + "---|" * len(s.slo) + "---|"]
    for i, p in enumerate(s.probes, 1):
        share = _share(p, s.slo)
        rows.append(f"| {i} | {p.phase} | {p.rate:.4g} | {p.n} | {p.met_all} | "
                    f"{'–' if share is None else f'{100 * share:.2f} %'} | {p.verdict} | {f(p.achieved_rps)} | "
                    + " | ".join(f(p.values.get(m)) for m in s.slo) + f" | {p.note or ''} |")
    rows += [""] + [f"- {n}" for n in s.notes]
    if plot is not None:
        rows += ["", f"![max rate at SLO]({plot.name})"]
    return "\n".join(rows) + "\n"


def write_max_rate_files(report, report_path: Path) -> list[Path]:
    """<stem>_max_rate.png and .md beside the report, when it has the section."""
    from mm_orch.output.plot_style import PlotContext

    s = report.max_rate_at_slo
    if s is None or not s.probes:
        return []
    stem = report_path.with_suffix("")
    png = max_rate_plot(s, PlotContext.of(report), Path(f"{stem}_max_rate.png"))
    title = f"Max rate at SLO: {report.model_name} ({report.engine})"
    md = atomic_write_text(Path(f"{stem}_max_rate.md"), max_rate_markdown(s, title, png))
    return [png, md]
